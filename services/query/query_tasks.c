/* The recalculation task routes: POST /tasks/recalculate, GET
 * /tasks/{task_id} and GET /tasks (the latest, newest first).  A task is a row of recalc_runs
 * (deploy/sql/003_aggregator.sql): POST records it as queued, then publishes
 * the command on control/recalculate; aggregators start queued runs from the
 * table, so the task runs even if the publication is lost, and the request
 * id keeps the MQTT copy from running it twice. */
#include "query_tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/json.h"
#include "ds/mqtt.h"
#include "ds/recalc.h"
#include "ds/recalc_status.h"
#include "query_cfg.h"
#include "query_db.h"
#include "query_params.h"

#define PUBLISH_TIMEOUT_MS 5000
#define TASKS_LIST_DEFAULT 20
#define TASKS_LIST_MAX 100

int query_tasks_get(struct query_http_req *req)
{
  const char *id = query_http_path_param(req, "task_id");
  if (id == NULL || !ds_recalc_request_id_valid(id, strlen(id)))
    return query_http_error(req, 404, "not_found", "unknown task");
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  const char *vals[1] = {id};
  PGresult *r = query_db_exec(req, db, "query_tasks_get", DS_RECALC_STATUS_GET_SQL, 1, vals, 0);
  if (r == NULL)
    return DS_ENOMEM;
  int rc;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = query_db_fail(req, db, r);
  } else if (PQntuples(r) == 0) {
    rc = query_http_error(req, 404, "not_found", "unknown task");
  } else {
    /* The same text as the status events (ds/recalc_status.h). */
    struct ds_recalc_status st;
    ds_recalc_status_from_row(r, 0, &st);
    rc = ds_recalc_status_json(req->out, &st);
    if (rc == DS_OK)
      rc = ds_buf_append_str(req->out, "\n");
  }
  PQclear(r);
  return rc;
}

int query_tasks_list(struct query_http_req *req)
{
  long long limit;
  char err[DS_ERRLEN];
  if (query_params_limit(req, TASKS_LIST_DEFAULT, TASKS_LIST_MAX, &limit, err) != DS_OK)
    return query_http_error(req, 400, "bad_request", err);
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  char lim[24];
  snprintf(lim, sizeof lim, "%lld", limit);
  const char *vals[1] = {lim};
  /* seq is the order runs were recorded in (unique, indexed). */
  PGresult *r = query_db_exec(req, db, "query_tasks_list",
                              "SELECT " DS_RECALC_STATUS_COLS
                              " FROM recalc_runs ORDER BY seq DESC LIMIT $1::int8",
                              1, vals, 0);
  if (r == NULL)
    return DS_ENOMEM;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    int rc = query_db_fail(req, db, r);
    PQclear(r);
    return rc;
  }
  /* {"tasks": [...]}, each task as GET /tasks/{task_id} prints it. */
  int rc = ds_buf_append_str(req->out, "{\"tasks\": [");
  for (int i = 0; rc == DS_OK && i < PQntuples(r); i++) {
    struct ds_recalc_status st;
    ds_recalc_status_from_row(r, i, &st);
    if (i > 0)
      rc = ds_buf_append_str(req->out, ", ");
    if (rc == DS_OK)
      rc = ds_recalc_status_json(req->out, &st);
  }
  if (rc == DS_OK)
    rc = ds_buf_append_str(req->out, "]}\n");
  PQclear(r);
  return rc;
}

/* The command of a POST body: the same fields as on MQTT, parsed by the
 * aggregator's own codec, so a bad body is a 400 here (with the reason the
 * aggregator would record) rather than a failed task.  DS_ERANGE for a
 * body over DS_RECALC_CMD_PAYLOAD_MAX bytes, DS_EINVAL with detail for a
 * bad one. */
static int read_body(const struct query_http_req *req, struct ds_recalc_cmd *c,
                     char detail[DS_ERRLEN])
{
  if (req->body != NULL && req->body_len > DS_RECALC_CMD_PAYLOAD_MAX &&
      !ds_json_is_blank(req->body, req->body_len))
    return DS_ERANGE;
  return ds_recalc_cmd_parse(req->body, req->body_len, c, detail);
}

/* Records the task (queued) unless its request id exists; state gets the
 * new or existing task's state.  Answers and returns false on failure. */
static bool record(struct query_http_req *req, PGconn *db, const char *rid, const char *cmd,
                   char state[DS_RECALC_STATE_MAX], int *rc)
{
  const char *vals[5] = {rid, cmd, "queued", NULL, "http"};
  PGresult *r =
      query_db_exec(req, db, "query_tasks_record", DS_RECALC_STATUS_RECORD_SQL, 5, vals, 0);
  if (r == NULL) {
    *rc = DS_ENOMEM;
    return false;
  }
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    *rc = query_db_fail(req, db, r);
    PQclear(r);
    return false;
  }
  /* No row: the existing run was inserted concurrently and is not visible
   * yet; it is queued. */
  struct ds_recalc_status st = {.state = "queued"};
  if (PQntuples(r) > 0)
    ds_recalc_status_from_row(r, 0, &st);
  memcpy(state, st.state, DS_RECALC_STATE_MAX);
  PQclear(r);
  return true;
}

int query_tasks_recalculate(struct query_http_req *req)
{
  struct ds_buf cmd, payload;
  ds_buf_init(&cmd, 2 * DS_RECALC_CMD_PAYLOAD_MAX);
  ds_buf_init(&payload, 2 * DS_RECALC_CMD_PAYLOAD_MAX + 256);
  char rid[DS_RECALC_REQUEST_ID_MAX + 1], detail[DS_ERRLEN] = "", err[DS_ERRLEN] = "";
  char state[DS_RECALC_STATE_MAX];
  struct ds_recalc_cmd c;
  int rc = read_body(req, &c, detail);
  if (rc == DS_ERANGE) {
    rc = query_http_error(req, 413, "too_large", "the body is larger than 4096 bytes");
    goto out;
  }
  if (rc == DS_EINVAL) {
    rc = query_http_error(req, 400, "bad_request", detail);
    goto out;
  }
  if (rc != DS_OK || (rc = ds_recalc_cmd_to_json(&cmd, &c)) != DS_OK)
    goto out;
  if (c.has_request_id)
    memcpy(rid, c.request_id, sizeof rid);
  else if ((rc = ds_recalc_request_id_new(rid)) != DS_OK) {
    rc = query_http_error(req, 500, "internal", "cannot read /dev/urandom");
    goto out;
  }
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    goto out;
  /* Recorded first: a task exists (GET /tasks/{id} finds it) as soon as the
   * answer is out, and runs even if the publication below is lost. */
  if (!record(req, db, rid, cmd.data, state, &rc))
    goto out;
  if ((rc = ds_recalc_cmd_payload(&payload, &c, rid)) != DS_OK)
    goto out;
  if (req->mqtt != NULL && ds_mqtt_is_connected(req->mqtt)) {
    if (ds_mqtt_publish(req->mqtt, DS_RECALC_TOPIC, payload.data, payload.len, 1, false,
                        PUBLISH_TIMEOUT_MS, err) != DS_OK) {
      /* Not an error for the client: aggregators also start queued runs
       * from the table. */
    }
  }
  req->status = 202;
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key_str(&w, "task_id", rid);
  ds_jsonw_key_str(&w, "status", state);
  ds_jsonw_object_end(&w);
  rc = query_http_json_end(req, &w);
out:
  ds_buf_cleanup(&cmd);
  ds_buf_cleanup(&payload);
  return rc;
}
