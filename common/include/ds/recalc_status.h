/* The recalculation run record and its status event: the other half of the
 * recalculation protocol (ds/recalc.h has the topics and the commands).
 *
 * A run is one row of recalc_runs (deploy/sql/003_aggregator.sql), keyed by
 * request_id.  Whoever receives a command (the aggregator from MQTT, the
 * query service from POST /tasks/recalculate) records it here; the
 * aggregator moves it from queued to running to done or failed.  Its status
 * -- request id, state, devices computed, elapsed time, error -- is read by
 * the same columns everywhere (DS_RECALC_STATUS_COLS) and printed by one
 * function (ds_recalc_status_json): the payload of every event on
 * control/recalculate/status and the body of GET /tasks/{task_id}. */
#ifndef DS_RECALC_STATUS_H
#define DS_RECALC_STATUS_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "ds/buf.h"
#include "ds/err.h"
#include "ds/recalc.h"

#define DS_RECALC_STATE_MAX 16

/* What a status event carries. */
struct ds_recalc_status {
  char request_id[DS_RECALC_REQUEST_ID_MAX + 1];
  char state[DS_RECALC_STATE_MAX]; /* queued, running, done, failed */
  long long devices;               /* devices computed so far */
  long long elapsed_ms;            /* since the run started; live while running */
  char error[DS_ERRLEN];           /* why it failed; "" otherwise */
};

/* The select list of a run's status, in the order ds_recalc_status_from_row
 * reads it, for any query on recalc_runs.  Not in RETURNING clauses: Citus
 * refuses clock_timestamp() there (recalc_runs is a reference table); a
 * write returns DS_RECALC_STATUS_RAW in a WITH and selects these from it. */
#define DS_RECALC_STATUS_COLS                                                                      \
  "request_id, state, devices_done, "                                                              \
  "CASE WHEN state = 'running' AND started_at IS NOT NULL "                                        \
  "THEN (extract(epoch FROM clock_timestamp() - started_at) * 1000)::bigint "                      \
  "ELSE coalesce(elapsed_ms, 0) END, coalesce(error, '')"

/* The columns DS_RECALC_STATUS_COLS is computed from. */
#define DS_RECALC_STATUS_RAW "request_id, state, devices_done, started_at, elapsed_ms, error"

/* The status of one run: $1 request_id.  No row: no such run. */
#define DS_RECALC_STATUS_GET_SQL                                                                   \
  "SELECT " DS_RECALC_STATUS_COLS " FROM recalc_runs WHERE request_id = $1"

/* Records a run unless its request id exists: $1 request_id, $2 command
 * (what was asked, JSON text), $3 state ('queued', or 'failed' for a
 * malformed command), $4 error (NULL unless failed), $5 source (who
 * recorded it).  Returns one row: the status columns of the new run, or of
 * the existing one, then a boolean "inserted".  No row only when the
 * existing run was inserted concurrently and is not yet visible. */
#define DS_RECALC_STATUS_RECORD_SQL                                                                \
  "WITH ins AS (INSERT INTO recalc_runs (request_id, command, state, error, source,"               \
  "               started_at, finished_at, elapsed_ms)"                                            \
  "             VALUES ($1, $2, $3, $4, $5,"                                                       \
  "                     CASE WHEN $3 = 'failed' THEN now() END,"                                   \
  "                     CASE WHEN $3 = 'failed' THEN now() END,"                                   \
  "                     CASE WHEN $3 = 'failed' THEN 0 END)"                                       \
  "             ON CONFLICT (request_id) DO NOTHING"                                               \
  "             RETURNING " DS_RECALC_STATUS_RAW ")"                                               \
  " SELECT " DS_RECALC_STATUS_COLS ", true FROM ins UNION ALL"                                     \
  " SELECT " DS_RECALC_STATUS_COLS ", false FROM recalc_runs"                                      \
  "  WHERE request_id = $1 AND NOT EXISTS (SELECT 1 FROM ins)"

/* Fills *st from row of r (borrowed), whose first five columns are
 * DS_RECALC_STATUS_COLS.  Values too long for st are truncated. */
void ds_recalc_status_from_row(const PGresult *r, int row, struct ds_recalc_status *st);

/* The status of run request_id (borrowed): DS_OK and *st, DS_ENOTFOUND, or
 * DS_EDB with detail in err.  Runs DS_RECALC_STATUS_GET_SQL. */
DS_MUSTCHECK int ds_recalc_status_get(PGconn *conn, const char *request_id,
                                      struct ds_recalc_status *st, char err[DS_ERRLEN]);

/* Records a run (DS_RECALC_STATUS_RECORD_SQL): queued when error is NULL,
 * else failed with that reason.  command is the JSON of what was asked,
 * source who records it; all borrowed.  *inserted tells whether this call
 * created it; *st is the new or the existing run's status (state "queued"
 * when the existing run is not visible yet).  DS_OK or DS_EDB. */
DS_MUSTCHECK int ds_recalc_status_record(PGconn *conn, const char *request_id, const char *command,
                                         const char *error, const char *source, bool *inserted,
                                         struct ds_recalc_status *st, char err[DS_ERRLEN]);

/* Appends the status event of st (borrowed) to b, written with ds_jsonw:
 *   {"request_id": "r-1", "state": "failed", "devices": 0, "elapsed_ms": 0,
 *    "error": "unknown device \"x\""}
 * error appears only when the state is "failed".  DS_OK or ds_buf's error. */
DS_MUSTCHECK int ds_recalc_status_json(struct ds_buf *b, const struct ds_recalc_status *st);

#endif
