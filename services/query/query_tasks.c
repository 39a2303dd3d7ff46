/* The aggregator issue's routes: the latest recalculation snapshot of a
 * device, and recalculation tasks.  A task is a row of recalc_runs
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

#define PUBLISH_TIMEOUT_MS 5000

static double num(PGresult *r, int col)
{
  return strtod(PQgetvalue(r, 0, col), NULL);
}

static uint64_t count(PGresult *r, int col)
{
  return strtoull(PQgetvalue(r, 0, col), NULL, 10);
}

int qt_device_stats(struct q_req *req)
{
  const char *id = q_path_param(req, "id");
  if (id == NULL || !ds_device_id_valid(id, strlen(id)))
    return q_error(req, 400, "bad_device_id", "a device id is 1-64 of A-Z a-z 0-9 _ . -");
  PGconn *db = q_db(req);
  if (db == NULL)
    return DS_OK;
  const char *vals[1] = {id};
  PGresult *r = q_db_exec(
      req, db, "qt_device_stats",
      "SELECT (extract(epoch FROM s.computed_at) * 1000000)::bigint, s.sample_count,"
      " s.x_count, s.x_min, s.x_max, s.x_sum, s.x_median,"
      " s.y_count, s.y_min, s.y_max, s.y_sum, s.y_median,"
      " s.z_count, s.z_min, s.z_max, s.z_sum, s.z_median"
      " FROM devices d LEFT JOIN device_snapshots s ON s.device_id = d.id WHERE d.name = $1",
      1, vals, 0);
  if (r == NULL)
    return DS_ENOMEM;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    int rc = q_db_fail(req, db, r);
    PQclear(r);
    return rc;
  }
  if (PQntuples(r) == 0) {
    PQclear(r);
    return q_error(req, 404, "not_found", "unknown device");
  }
  if (PQgetisnull(r, 0, 0)) {
    PQclear(r);
    return q_error(req, 404, "not_found", "no recalculation snapshot for this device yet");
  }
  int64_t computed_at = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  struct ds_stats s = {.count = count(r, 1)};
  struct ds_axis_stats *ax[3] = {&s.x, &s.y, &s.z};
  for (int a = 0; a < 3; a++) {
    int c = 2 + a * 5;
    *ax[a] = (struct ds_axis_stats){count(r, c), num(r, c + 1), num(r, c + 2), num(r, c + 3),
                                    num(r, c + 4)};
  }
  PQclear(r);
  /* The statistics object, with computed_at added before its closing brace. */
  int rc = ds_stats_to_json(req->out, "device_id", id, DS_TIME_NONE, DS_TIME_NONE, &s);
  if (rc != DS_OK)
    return rc;
  while (req->out->len > 0 && req->out->data[req->out->len - 1] != '}')
    req->out->len--;
  if (req->out->len == 0)
    return DS_EINVAL;
  req->out->len--;
  char ts[DS_TIME_STRLEN];
  rc = ds_buf_appendf(req->out, ", \"computed_at\": \"%s\"}\n", ds_time_format(computed_at, ts));
  req->status = 200;
  return rc;
}

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

int qt_task_get(struct q_req *req)
{
  const char *id = q_path_param(req, "task_id");
  if (id == NULL || !ds_recalc_request_id_valid(id, strlen(id)))
    return q_error(req, 404, "not_found", "unknown task");
  PGconn *db = q_db(req);
  if (db == NULL)
    return DS_OK;
  const char *vals[1] = {id};
  PGresult *r =
      q_db_exec(req, db, "qt_task_get",
                "SELECT " TASK_COLS " FROM recalc_runs WHERE request_id = $1", 1, vals, 0);
  if (r == NULL)
    return DS_ENOMEM;
  int rc;
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    rc = q_db_fail(req, db, r);
  else if (PQntuples(r) == 0)
    rc = q_error(req, 404, "not_found", "unknown task");
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
static int read_body(const struct q_req *req, struct ds_buf *cmd,
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

int qt_recalculate(struct q_req *req)
{
  struct ds_buf cmd, payload;
  ds_buf_init(&cmd, 2 * DS_RECALC_CMD_PAYLOAD_MAX);
  ds_buf_init(&payload, 2 * DS_RECALC_CMD_PAYLOAD_MAX + 256);
  char rid[DS_RECALC_REQUEST_ID_MAX + 1], detail[DS_ERRLEN] = "", err[DS_ERRLEN] = "";
  PGresult *r = NULL;
  int rc = read_body(req, &cmd, rid, detail);
  if (rc == DS_ERANGE) {
    rc = q_error(req, 413, "too_large", "the body is larger than 4096 bytes");
    goto out;
  }
  if (rc == DS_EINVAL) {
    rc = q_error(req, 400, "bad_request", detail);
    goto out;
  }
  if (rc != DS_OK)
    goto out;
  if (rid[0] == '\0' && (rc = ds_recalc_request_id_new(rid)) != DS_OK) {
    rc = q_error(req, 500, "internal", "cannot read /dev/urandom");
    goto out;
  }
  PGconn *db = q_db(req);
  if (db == NULL)
    goto out;
  /* Recorded first: a task exists (GET /tasks/{id} finds it) as soon as the
   * answer is out, and runs even if the publication below is lost. */
  const char *vals[2] = {rid, cmd.data};
  r = q_db_exec(req, db, "qt_task_record",
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
    rc = q_db_fail(req, db, r);
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
