/* The run queue (see agg_runs.h and deploy/sql/003_aggregator.sql):
 * starting the oldest queued run (planning its work), finding the active
 * one, progress, finishing, schedule slots, and the NOTIFY that wakes idle
 * workers. */
#include "agg_runs.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "ds/db.h"

/* Channel notified when a run starts. */
#define NOTIFY_CHANNEL "devicestats_recalc"
/* Serialises run starts across aggregators (pg_advisory_xact_lock key). */
#define START_LOCK_KEY "4242001"

static void copy_str(char *dst, size_t cap, const char *src)
{
  snprintf(dst, cap, "%s", src ? src : "");
}

static int fail_rollback(PGconn *c)
{
  ds_db_rollback(c);
  return DS_EDB;
}

/* Marks a running run without pending work done (failed when a work row
 * failed, with up to five reasons).  $1 run.  For Citus (recalc_runs a
 * reference table, recalc_work distributed), the run's statements name the
 * run by $1 rather than correlate with r, and use statement_timestamp():
 * Citus refuses correlated subqueries next to a reference table and
 * volatile functions such as clock_timestamp() in writes. */
static const char finish_sql[] =
    "WITH m AS (UPDATE recalc_runs r SET"
    "  state = CASE WHEN EXISTS (SELECT 1 FROM recalc_work w WHERE w.request_id = $1"
    "                            AND w.state = 'failed') THEN 'failed' ELSE 'done' END,"
    "  error = (SELECT string_agg(CASE w.kind WHEN 'd' THEN 'device ' ELSE 'user ' END"
    "                             || coalesce(d.name, w.key::text) || ': ' || w.error, '; ')"
    "             FROM (SELECT * FROM recalc_work w WHERE w.request_id = $1"
    "                    AND w.state = 'failed' ORDER BY kind, key LIMIT 5) w"
    "             LEFT JOIN devices d ON w.kind = 'd' AND d.id = w.key),"
    "  finished_at = statement_timestamp(),"
    "  elapsed_ms = (extract(epoch FROM statement_timestamp() - r.started_at) * 1000)::bigint"
    " WHERE r.request_id = $1 AND r.state = 'running'"
    "   AND NOT EXISTS (SELECT 1 FROM recalc_work w WHERE w.request_id = $1"
    "                   AND w.state = 'pending')"
    " RETURNING " DS_RECALC_STATUS_RAW ") SELECT " DS_RECALC_STATUS_COLS " FROM m";

/* The devices of the scope that need computing: every one with samples when
 * full, else those without a snapshot or whose sample count changed.
 * $1 run, $2 device key or NULL, $3 user key or NULL, $4 full.
 *
 * cnt reads both sample tables in one statement, so that a concurrent
 * compaction (rows moving from samples_recent into a chunk) cannot make a
 * device's count look smaller or larger.  On Citus a statement is one
 * snapshot per shard only when the shard's part runs as one task: cnt is
 * MATERIALIZED (planned alone, the UNION ALL grouped by the distribution
 * column goes down to the shards whole; inlined into the INSERT, Citus read
 * the two tables in separate steps and a run missed devices being
 * compacted), and carries the scope itself. */
#define PLAN_SCOPE                                                                                 \
  " WHERE ($2::int IS NULL OR device_id = $2::int) AND ($3::int IS NULL OR device_id IN"           \
  " (SELECT id FROM devices WHERE user_id = $3::int))"
static const char plan_devices_sql[] =
    "WITH cnt AS MATERIALIZED ("
    "  SELECT device_id, sum(n)::bigint AS cnt FROM ("
    "    SELECT device_id, sum(n)::bigint AS n FROM sample_chunks" PLAN_SCOPE " GROUP BY device_id"
    "    UNION ALL SELECT device_id, count(*) FROM samples_recent" PLAN_SCOPE
    "     GROUP BY device_id) q"
    "   GROUP BY device_id),"
    " cur AS ("
    "  SELECT d.id, cnt.cnt FROM devices d JOIN cnt ON cnt.device_id = d.id"
    "   WHERE ($2::int IS NULL OR d.id = $2::int) AND ($3::int IS NULL OR d.user_id = $3::int))"
    " INSERT INTO recalc_work (request_id, kind, key)"
    " SELECT $1, 'd', cur.id FROM cur LEFT JOIN device_snapshots s ON s.device_id = cur.id"
    "  WHERE cur.cnt > 0 AND ($4::bool OR s.device_id IS NULL OR s.sample_count <> cur.cnt)";

/* The users concerned (those of the devices in scope) whose snapshot is
 * missing or stale: other sample count, or other set of devices. */
static const char plan_users_sql[] =
    "WITH cnt AS MATERIALIZED ("
    "  SELECT device_id, sum(n)::bigint AS cnt FROM ("
    "    SELECT device_id, sum(n)::bigint AS n FROM sample_chunks"
    "     WHERE device_id IN (SELECT id FROM devices WHERE user_id IS NOT NULL) GROUP BY device_id"
    "    UNION ALL SELECT device_id, count(*) FROM samples_recent"
    "     WHERE device_id IN (SELECT id FROM devices WHERE user_id IS NOT NULL) GROUP BY "
    "device_id) q"
    "   GROUP BY device_id),"
    " cur AS ("
    "  SELECT u.id, coalesce(array_agg(d.id ORDER BY d.id) FILTER (WHERE d.id IS NOT NULL),"
    "                        '{}') AS ids,"
    "         coalesce(sum(cnt.cnt), 0) AS cnt"
    "    FROM users u LEFT JOIN devices d ON d.user_id = u.id"
    "         LEFT JOIN cnt ON cnt.device_id = d.id"
    "   WHERE ($2::int IS NULL OR u.id = (SELECT user_id FROM devices WHERE id = $2::int))"
    "     AND ($3::int IS NULL OR u.id = $3::int)"
    "   GROUP BY u.id)"
    " INSERT INTO recalc_work (request_id, kind, key)"
    " SELECT $1, 'u', cur.id FROM cur LEFT JOIN user_snapshots s ON s.user_id = cur.id"
    "  WHERE (cur.cnt > 0 OR s.user_id IS NOT NULL)"
    "    AND ($4::bool OR s.user_id IS NULL OR s.sample_count <> cur.cnt"
    "         OR s.device_ids <> cur.ids)";

/* Runs a one-row status query; *got tells whether it returned the row, *st
 * is then filled. */
static int status_query(PGconn *c, const char *sql, int n, const char *const *p, bool *got,
                        struct ds_recalc_status *st, char err[DS_ERRLEN])
{
  PGresult *r = NULL;
  if (ds_db_exec(c, sql, n, p, &r, err) != DS_OK)
    return DS_EDB;
  *got = PQntuples(r) == 1;
  if (*got)
    ds_recalc_status_from_row(r, 0, st);
  PQclear(r);
  return DS_OK;
}

/* The scope of cmd as keys (dev, user: decimal text, "" when not limited).
 * DS_ENOTFOUND with the reason in why for an unknown device or user. */
static int resolve(PGconn *c, const struct ds_recalc_cmd *cmd, char dev[16], char user[16],
                   char why[DS_ERRLEN], char err[DS_ERRLEN])
{
  dev[0] = user[0] = '\0';
  PGresult *r = NULL;
  if (cmd->scope == DS_RECALC_SCOPE_DEVICE) {
    const char *p[1] = {cmd->device_id};
    if (ds_db_exec(c, "SELECT id FROM devices WHERE name = $1", 1, p, &r, err) != DS_OK)
      return DS_EDB;
    if (PQntuples(r) == 1)
      copy_str(dev, 16, PQgetvalue(r, 0, 0));
    else
      snprintf(why, DS_ERRLEN, "unknown device \"%s\"", cmd->device_id);
  } else if (cmd->scope == DS_RECALC_SCOPE_USER) {
    snprintf(user, 16, "%" PRId32, cmd->user_id);
    const char *p[1] = {user};
    if (ds_db_exec(c, "SELECT 1 FROM users WHERE id = $1::int", 1, p, &r, err) != DS_OK)
      return DS_EDB;
    if (PQntuples(r) != 1)
      snprintf(why, DS_ERRLEN, "unknown user %" PRId32, cmd->user_id);
  } else {
    return DS_OK;
  }
  bool found = PQntuples(r) == 1;
  PQclear(r);
  return found ? DS_OK : DS_ENOTFOUND;
}

/* Inside the start transaction: the oldest queued run, unless a run is
 * running already.  *got tells; rid and *cmd (with its parse result in
 * *prc, the reason in why) are then filled. */
static int pick_queued(PGconn *c, bool *got, char rid[DS_RECALC_REQUEST_ID_MAX + 1],
                       struct ds_recalc_cmd *cmd, int *prc, char why[DS_ERRLEN],
                       char err[DS_ERRLEN])
{
  PGresult *r = NULL;
  if (ds_db_exec(c,
                 "SELECT request_id, command, state FROM recalc_runs"
                 " WHERE state IN ('queued', 'running') ORDER BY state DESC, seq LIMIT 1",
                 0, NULL, &r, err) != DS_OK)
    return DS_EDB;
  /* 'running' sorts after 'queued' descending: a running run comes first. */
  *got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 2), "queued") == 0;
  if (*got) {
    copy_str(rid, DS_RECALC_REQUEST_ID_MAX + 1, PQgetvalue(r, 0, 0));
    const char *text = PQgetvalue(r, 0, 1);
    *prc = ds_recalc_cmd_parse(text, strlen(text), cmd, why);
  }
  PQclear(r);
  return DS_OK;
}

/* Marks run rid failed at once with reason why. */
static int fail_run(PGconn *c, const char *rid, const char *why, struct ds_recalc_status *st,
                    char err[DS_ERRLEN])
{
  const char *p[2] = {rid, why};
  bool got = false;
  return status_query(c,
                      "WITH m AS (UPDATE recalc_runs SET state = 'failed', error = $2,"
                      " started_at = now(), finished_at = now(), elapsed_ms = 0"
                      " WHERE request_id = $1 RETURNING " DS_RECALC_STATUS_RAW ")"
                      " SELECT " DS_RECALC_STATUS_COLS " FROM m",
                      2, p, &got, st, err);
}

/* Plans run rid (its work rows for the scope dev/user of cmd), marks it
 * running and wakes the workers; a run with nothing to compute is finished
 * in the same breath (*st then says done). */
static int plan_run(PGconn *c, const char *rid, const struct ds_recalc_cmd *cmd, const char *dev,
                    const char *user, const char *me, struct ds_recalc_status *st,
                    char err[DS_ERRLEN])
{
  /* The run's clock starts with its planning. */
  const char *sp[1] = {rid};
  if (ds_db_exec(c,
                 "UPDATE recalc_runs SET started_at = statement_timestamp() WHERE request_id = $1",
                 1, sp, NULL, err) != DS_OK)
    return DS_EDB;
  const char *full = cmd->full ? "true" : "false";
  const char *pp[4] = {rid, dev[0] ? dev : NULL, user[0] ? user : NULL, full};
  if (ds_db_exec(c, plan_devices_sql, 4, pp, NULL, err) != DS_OK ||
      ds_db_exec(c, plan_users_sql, 4, pp, NULL, err) != DS_OK)
    return DS_EDB;
  const char *up[3] = {rid, me, full};
  bool got = false;
  if (status_query(c,
                   "WITH m AS (UPDATE recalc_runs SET state = 'running',"
                   " progress_at = statement_timestamp(), started_by = $2, full_run = $3::bool,"
                   " devices_total = (SELECT count(*) FROM recalc_work"
                   "                   WHERE request_id = $1 AND kind = 'd')"
                   " WHERE request_id = $1 RETURNING " DS_RECALC_STATUS_RAW ")"
                   " SELECT " DS_RECALC_STATUS_COLS " FROM m",
                   3, up, &got, st, err) != DS_OK)
    return DS_EDB;
  if (ds_db_exec(c, "NOTIFY " NOTIFY_CHANNEL, 0, NULL, NULL, err) != DS_OK)
    return DS_EDB;
  /* Nothing to compute (nothing changed): finish now.  When there is work,
   * finish_sql matches no row and *st stays "running". */
  struct ds_recalc_status fin;
  if (status_query(c, finish_sql, 1, sp, &got, &fin, err) != DS_OK)
    return DS_EDB;
  if (got)
    *st = fin;
  return DS_OK;
}

int agg_runs_start_next(PGconn *c, const char *me, agg_runs_start_fn on_change, void *ctx,
                        bool *got, struct ds_recalc_status *st, char err[DS_ERRLEN])
{
  *got = false;
  if (ds_db_exec(c, "BEGIN", 0, NULL, NULL, err) != DS_OK)
    return DS_EDB;
  if (ds_db_exec(c, "SELECT pg_advisory_xact_lock(" START_LOCK_KEY ")", 0, NULL, NULL, err) !=
      DS_OK)
    return fail_rollback(c);
  char rid[DS_RECALC_REQUEST_ID_MAX + 1], why[DS_ERRLEN] = "";
  struct ds_recalc_cmd cmd;
  int prc = DS_OK;
  bool pending = false;
  if (pick_queued(c, &pending, rid, &cmd, &prc, why, err) != DS_OK)
    return fail_rollback(c);
  if (!pending)
    return ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) == DS_OK ? DS_OK : fail_rollback(c);
  char dev[16], user[16];
  if (prc == DS_OK && (prc = resolve(c, &cmd, dev, user, why, err)) == DS_EDB)
    return fail_rollback(c);
  int rc = prc == DS_OK ? plan_run(c, rid, &cmd, dev, user, me, st, err)
                        : fail_run(c, rid, why, st, err);
  if (rc != DS_OK || ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) != DS_OK)
    return fail_rollback(c);
  *got = true;
  /* After the commit: the main thread alone publishes, so this "running"
   * goes out before any "done" a worker hands it later. */
  if (on_change != NULL)
    on_change(st, ctx);
  return DS_OK;
}

int agg_runs_active(PGconn *c, bool *got, char rid[DS_RECALC_REQUEST_ID_MAX + 1],
                    char err[DS_ERRLEN])
{
  PGresult *r = NULL;
  if (ds_db_exec(c,
                 "SELECT r.request_id FROM recalc_runs r WHERE r.state = 'running'"
                 " AND r.request_id IN (SELECT DISTINCT request_id FROM recalc_work"
                 "                      WHERE state = 'pending') ORDER BY r.seq LIMIT 1",
                 0, NULL, &r, err) != DS_OK)
    return DS_EDB;
  *got = PQntuples(r) == 1;
  if (*got)
    copy_str(rid, DS_RECALC_REQUEST_ID_MAX + 1, PQgetvalue(r, 0, 0));
  PQclear(r);
  return DS_OK;
}

int agg_runs_finish(PGconn *c, const char *rid, bool *got, struct ds_recalc_status *st,
                    char err[DS_ERRLEN])
{
  /* Synchronous whatever the session says (workers commit asynchronously):
   * its WAL flush covers the run's earlier commits too. */
  const char *p[1] = {rid};
  *got = false;
  if (ds_db_exec(c, "BEGIN", 0, NULL, NULL, err) != DS_OK ||
      ds_db_exec(c, "SET LOCAL synchronous_commit = on", 0, NULL, NULL, err) != DS_OK ||
      status_query(c, finish_sql, 1, p, got, st, err) != DS_OK ||
      ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) != DS_OK) {
    *got = false;
    return fail_rollback(c);
  }
  return DS_OK;
}

int agg_runs_finish_orphan(PGconn *c, bool *got, struct ds_recalc_status *st, char err[DS_ERRLEN])
{
  *got = false;
  PGresult *r = NULL;
  if (ds_db_exec(c,
                 "SELECT r.request_id FROM recalc_runs r WHERE r.state = 'running'"
                 " AND r.request_id NOT IN (SELECT DISTINCT request_id FROM recalc_work"
                 "                          WHERE state = 'pending') ORDER BY r.seq LIMIT 1",
                 0, NULL, &r, err) != DS_OK)
    return DS_EDB;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return DS_OK;
  }
  char rid[DS_RECALC_REQUEST_ID_MAX + 1];
  copy_str(rid, sizeof rid, PQgetvalue(r, 0, 0));
  PQclear(r);
  return agg_runs_finish(c, rid, got, st, err);
}

int agg_runs_progress(PGconn *c, const char *rid, bool *got, struct ds_recalc_status *st,
                      char err[DS_ERRLEN])
{
  const char *p[1] = {rid};
  return status_query(
      c,
      "WITH m AS (UPDATE recalc_runs SET progress_at = statement_timestamp()"
      " WHERE request_id = $1 AND state = 'running'"
      "   AND (progress_at IS NULL OR progress_at < statement_timestamp() - interval '1 s')"
      " RETURNING " DS_RECALC_STATUS_RAW ") SELECT " DS_RECALC_STATUS_COLS " FROM m",
      1, p, got, st, err);
}

int agg_runs_schedule(PGconn *c, long long slot, bool *inserted, struct ds_recalc_status *st,
                      char err[DS_ERRLEN])
{
  char rid[64];
  snprintf(rid, sizeof rid, "schedule-%lld", slot);
  return ds_recalc_status_record(c, rid, "{}", NULL, "schedule", inserted, st, err);
}

int agg_runs_listen(PGconn *c, char err[DS_ERRLEN])
{
  return ds_db_exec(c, "LISTEN " NOTIFY_CHANNEL, 0, NULL, NULL, err);
}

static void drain_notifies(PGconn *c)
{
  PGnotify *n;
  while ((n = PQnotifies(c)) != NULL)
    PQfreemem(n);
}

int agg_runs_wait(PGconn *c, int timeout_ms, char err[DS_ERRLEN])
{
  if (PQconsumeInput(c) == 0)
    goto broken;
  PGnotify *n = PQnotifies(c);
  if (n != NULL) {
    /* Drain them all: one wake-up is enough. */
    PQfreemem(n);
    drain_notifies(c);
    return DS_OK;
  }
  struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
  if (pfd.fd < 0)
    goto broken;
  int pr = poll(&pfd, 1, timeout_ms);
  if (pr < 0 && errno != EINTR) {
    snprintf(err, DS_ERRLEN, "poll: %s", strerror(errno));
    return DS_EIO;
  }
  if (pr > 0) {
    if (PQconsumeInput(c) == 0)
      goto broken;
    drain_notifies(c);
  }
  return DS_OK;
broken:
  ds_db_errmsg(c, NULL, err);
  return DS_EDB;
}
