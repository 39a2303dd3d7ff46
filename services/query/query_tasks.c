/* The recalculation task routes: POST /tasks/recalculate and GET
 * /tasks/{task_id}.  A task is a row of recalc_runs
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
#include "ds/sample.h"
#include "ds/stats.h"
#include "ds/time.h"
#include "query_cfg.h"
#include "query_db.h"

#define PUBLISH_TIMEOUT_MS 5000

/* Appends a task's state (the status event's shape) from a result row of
 * request_id, state, devices, elapsed_ms, error. */
static int task_json(struct ds_buf *b, PGresult *r)
{
  const char *rid = PQgetvalue(r, 0, 0), *state = PQgetvalue(r, 0, 1);
  int rc = ds_buf_append_str(b, "{\"request_id\": ");
  if (rc == DS_OK)
    rc = ds_buf_append_json_str(b, rid, strlen(rid));
  if (rc == DS_OK)
    rc = ds_buf_append_str(b, ", \"state\": ");
  if (rc == DS_OK)
    rc = ds_buf_append_json_str(b, state, strlen(state));
  if (rc == DS_OK)
    rc = ds_buf_appendf(b, ", \"devices\": %lld, \"elapsed_ms\": %lld",
                        strtoll(PQgetvalue(r, 0, 2), NULL, 10),
                        strtoll(PQgetvalue(r, 0, 3), NULL, 10));
  if (rc == DS_OK && strcmp(state, "failed") == 0) {
    const char *e = PQgetvalue(r, 0, 4);
    rc = ds_buf_append_str(b, ", \"error\": ");
    if (rc == DS_OK)
      rc = ds_buf_append_json_str(b, e, strlen(e));
  }
  return rc == DS_OK ? ds_buf_append_str(b, "}\n") : rc;
}

#define TASK_COLS                                                                                  \
  "request_id, state, devices_done, "                                                              \
  "CASE WHEN state = 'running' AND started_at IS NOT NULL "                                        \
  "THEN (extract(epoch FROM clock_timestamp() - started_at) * 1000)::bigint "                      \
  "ELSE coalesce(elapsed_ms, 0) END, coalesce(error, '')"

int query_tasks_get(struct query_req *req)
{
  const char *id = query_http_path_param(req, "task_id");
  if (id == NULL || !ds_recalc_request_id_valid(id, strlen(id)))
    return query_http_error(req, 404, "not_found", "unknown task");
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  const char *vals[1] = {id};
  PGresult *r =
      query_db_exec(req, db, "query_tasks_get",
                    "SELECT " TASK_COLS " FROM recalc_runs WHERE request_id = $1", 1, vals, 0);
  if (r == NULL)
    return DS_ENOMEM;
  int rc;
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    rc = query_db_fail(req, db, r);
  else if (PQntuples(r) == 0)
    rc = query_http_error(req, 404, "not_found", "unknown task");
  else
    rc = task_json(req->out, r);
  PQclear(r);
  return rc;
}

/* The command of a POST body: the same fields as on MQTT, parsed by the
 * aggregator's own codec, so a bad body is a 400 here (with the reason the
 * aggregator would record) rather than a failed task.  Appends the canonical
 * command (without request_id) to cmd and copies the request id, if given,
 * to rid (else ""). DS_ERANGE for a body over DS_RECALC_CMD_PAYLOAD_MAX
 * bytes, DS_EINVAL with detail for a bad one. */
static int read_body(const struct query_req *req, struct ds_buf *cmd,
                     char rid[DS_RECALC_REQUEST_ID_MAX + 1], char detail[DS_ERRLEN])
{
  rid[0] = '\0';
  if (req->body != NULL && req->body_len > DS_RECALC_CMD_PAYLOAD_MAX &&
      !ds_json_is_blank(req->body, req->body_len))
    return DS_ERANGE;
  struct ds_recalc_cmd c;
  int rc = ds_recalc_cmd_parse(req->body, req->body_len, &c, detail);
  if (rc != DS_OK)
    return rc;
  if (c.has_request_id)
    memcpy(rid, c.request_id, sizeof c.request_id);
  return ds_recalc_cmd_to_json(cmd, &c);
}

/* The MQTT payload: the canonical command plus the request id. */
static int mqtt_payload(struct ds_buf *p, const struct ds_buf *cmd, const char *rid)
{
  int rc = ds_buf_append(p, cmd->data, cmd->len - 1); /* without the closing brace */
  if (rc == DS_OK)
    rc = ds_buf_append_str(p, cmd->len > 2 ? ",\"request_id\":" : "\"request_id\":");
  if (rc == DS_OK)
    rc = ds_buf_append_json_str(p, rid, strlen(rid));
  return rc == DS_OK ? ds_buf_append_str(p, "}") : rc;
}

int query_tasks_recalculate(struct query_req *req)
{
  struct ds_buf cmd, payload;
  ds_buf_init(&cmd, 2 * DS_RECALC_CMD_PAYLOAD_MAX);
  ds_buf_init(&payload, 2 * DS_RECALC_CMD_PAYLOAD_MAX + 256);
  char rid[DS_RECALC_REQUEST_ID_MAX + 1], detail[DS_ERRLEN] = "", err[DS_ERRLEN] = "";
  PGresult *r = NULL;
  int rc = read_body(req, &cmd, rid, detail);
  if (rc == DS_ERANGE) {
    rc = query_http_error(req, 413, "too_large", "the body is larger than 4096 bytes");
    goto out;
  }
  if (rc == DS_EINVAL) {
    rc = query_http_error(req, 400, "bad_request", detail);
    goto out;
  }
  if (rc != DS_OK)
    goto out;
  if (rid[0] == '\0' && (rc = ds_recalc_request_id_new(rid)) != DS_OK) {
    rc = query_http_error(req, 500, "internal", "cannot read /dev/urandom");
    goto out;
  }
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    goto out;
  /* Recorded first: a task exists (GET /tasks/{id} finds it) as soon as the
   * answer is out, and runs even if the publication below is lost. */
  const char *vals[2] = {rid, cmd.data};
  r = query_db_exec(req, db, "qt_task_record",
                    "WITH ins AS (INSERT INTO recalc_runs (request_id, command, state, source)"
                    " VALUES ($1, $2, 'queued', 'http') ON CONFLICT (request_id) DO NOTHING"
                    " RETURNING state)"
                    " SELECT state FROM ins UNION ALL"
                    " SELECT state FROM recalc_runs WHERE request_id = $1 AND NOT EXISTS"
                    " (SELECT 1 FROM ins)",
                    2, vals, 0);
  if (r == NULL) {
    rc = DS_ENOMEM;
    goto out;
  }
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    rc = query_db_fail(req, db, r);
    goto out;
  }
  char state[16];
  snprintf(state, sizeof state, "%s", PQgetvalue(r, 0, 0));
  if ((rc = mqtt_payload(&payload, &cmd, rid)) != DS_OK)
    goto out;
  if (req->mqtt != NULL && ds_mqtt_is_connected(req->mqtt)) {
    if (ds_mqtt_publish(req->mqtt, "control/recalculate", payload.data, payload.len, 1, false,
                        PUBLISH_TIMEOUT_MS, err) != DS_OK) {
      /* Not an error for the client: aggregators also start queued runs
       * from the table. */
    }
  }
  req->status = 202;
  rc = ds_buf_append_str(req->out, "{\"task_id\": ");
  if (rc == DS_OK)
    rc = ds_buf_append_json_str(req->out, rid, strlen(rid));
  if (rc == DS_OK)
    rc = ds_buf_append_str(req->out, ", \"status\": ");
  if (rc == DS_OK)
    rc = ds_buf_append_json_str(req->out, state, strlen(state));
  if (rc == DS_OK)
    rc = ds_buf_append_str(req->out, "}\n");
out:
  PQclear(r);
  ds_buf_cleanup(&cmd);
  ds_buf_cleanup(&payload);
  return rc;
}
