/* The aggregator's SQL (see agg_db.h and deploy/sql/003_aggregator.sql).
 * Every value goes in as a parameter; doubles are sent in their shortest
 * round-trip text form, so snapshots hold exactly what was computed. */
#include "agg_db.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg_snap.h"
#include "ds/buf.h"
#include "ds/db.h"

/* Channel notified when a run starts. */
#define NOTIFY_CHANNEL "devicestats_recalc"
/* Serialises run starts across aggregators (pg_advisory_xact_lock key). */
#define START_LOCK_KEY "4242001"
/* First half of the per-device compaction lock (the device key is the
 * second). */
#define DEVICE_LOCK_KEY "4242002"

static void copy_str(char *dst, size_t cap, const char *src)
{
  snprintf(dst, cap, "%s", src ? src : "");
}

/* ds_db_exec's result when its status is ok (caller PQclear), else NULL
 * with err filled. */
static PGresult *run(PGconn *c, const char *sql, int n, const char *const *params,
                     char err[DS_ERRLEN])
{
  PGresult *r = NULL;
  return ds_db_exec(c, sql, n, params, &r, err) == DS_OK ? r : NULL;
}

static int run_cmd(PGconn *c, const char *sql, int n, const char *const *params,
                   char err[DS_ERRLEN])
{
  return ds_db_exec(c, sql, n, params, NULL, err);
}

void agg_db_rollback(PGconn *c)
{
  if (PQtransactionStatus(c) != PQTRANS_IDLE && PQtransactionStatus(c) != PQTRANS_UNKNOWN) {
    PGresult *r = PQexec(c, "ROLLBACK");
    PQclear(r);
  }
}

static int fail_rollback(PGconn *c)
{
  agg_db_rollback(c);
  return DS_EDB;
}

static const char finish_sql[] =
    "UPDATE recalc_runs r SET"
    "  state = CASE WHEN EXISTS (SELECT 1 FROM recalc_work w WHERE w.request_id = r.request_id"
    "                            AND w.state = 'failed') THEN 'failed' ELSE 'done' END,"
    "  error = (SELECT string_agg(CASE w.kind WHEN 'd' THEN 'device ' ELSE 'user ' END"
    "                             || coalesce(d.name, w.key::text) || ': ' || w.error, '; ')"
    "             FROM (SELECT * FROM recalc_work w WHERE w.request_id = r.request_id"
    "                    AND w.state = 'failed' ORDER BY kind, key LIMIT 5) w"
    "             LEFT JOIN devices d ON w.kind = 'd' AND d.id = w.key),"
    "  finished_at = clock_timestamp(),"
    "  elapsed_ms = (extract(epoch FROM clock_timestamp() - r.started_at) * 1000)::bigint"
    " WHERE r.request_id = $1 AND r.state = 'running'"
    "   AND NOT EXISTS (SELECT 1 FROM recalc_work w WHERE w.request_id = r.request_id"
    "                   AND w.state = 'pending')"
    " RETURNING " DS_RECALC_STATUS_COLS;

/* The devices of the scope that need computing: every one with samples when
 * full, else those without a snapshot or whose sample count changed.
 * $1 run, $2 device key or NULL, $3 user key or NULL, $4 full. */
static const char plan_devices_sql[] =
    "WITH cnt AS ("
    "  SELECT device_id, sum(n)::bigint AS cnt FROM ("
    "    SELECT device_id, sum(n)::bigint AS n FROM sample_chunks GROUP BY device_id"
    "    UNION ALL SELECT device_id, count(*) FROM samples_recent GROUP BY device_id) q"
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
    "WITH cnt AS ("
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

/* Resolves the scope of cmd to keys; DS_ENOTFOUND with the reason in why. */
static int resolve(PGconn *c, const struct ds_recalc_cmd *cmd, char dev[16], char user[16],
                   char why[DS_ERRLEN], char err[DS_ERRLEN])
{
  dev[0] = user[0] = '\0';
  if (cmd->scope == DS_RECALC_SCOPE_DEVICE) {
    const char *p[1] = {cmd->device_id};
    PGresult *r = run(c, "SELECT id FROM devices WHERE name = $1", 1, p, err);
    if (r == NULL)
      return DS_EDB;
    int found = PQntuples(r) == 1;
    if (found)
      copy_str(dev, 16, PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!found) {
      snprintf(why, DS_ERRLEN, "unknown device \"%s\"", cmd->device_id);
      return DS_ENOTFOUND;
    }
  } else if (cmd->scope == DS_RECALC_SCOPE_USER) {
    snprintf(user, 16, "%" PRId32, cmd->user_id);
    const char *p[1] = {user};
    PGresult *r = run(c, "SELECT 1 FROM users WHERE id = $1::int", 1, p, err);
    if (r == NULL)
      return DS_EDB;
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
      snprintf(why, DS_ERRLEN, "unknown user %" PRId32, cmd->user_id);
      return DS_ENOTFOUND;
    }
  }
  return DS_OK;
}

int agg_db_start_next(PGconn *c, const char *me, agg_db_start_fn on_change, void *ctx, bool *got,
                      struct ds_recalc_status *st, char err[DS_ERRLEN])
{
  *got = false;
  if (run_cmd(c, "BEGIN", 0, NULL, err) != DS_OK)
    return DS_EDB;
  if (run_cmd(c, "SELECT pg_advisory_xact_lock(" START_LOCK_KEY ")", 0, NULL, err) != DS_OK)
    return fail_rollback(c);
  PGresult *r = run(c,
                    "SELECT request_id, command, state FROM recalc_runs"
                    " WHERE state IN ('queued', 'running') ORDER BY state DESC, seq LIMIT 1",
                    0, NULL, err);
  if (r == NULL)
    return fail_rollback(c);
  /* 'running' sorts after 'queued' descending: a running run comes first. */
  if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 2), "running") == 0) {
    PQclear(r);
    return run_cmd(c, "COMMIT", 0, NULL, err) == DS_OK ? DS_OK : fail_rollback(c);
  }
  char rid[DS_RECALC_REQUEST_ID_MAX + 1];
  copy_str(rid, sizeof rid, PQgetvalue(r, 0, 0));
  struct ds_recalc_cmd cmd;
  char why[DS_ERRLEN] = "";
  const char *cmd_text = PQgetvalue(r, 0, 1);
  int prc = ds_recalc_cmd_parse(cmd_text, strlen(cmd_text), &cmd, why);
  PQclear(r);
  char dev[16], user[16];
  if (prc == DS_OK) {
    prc = resolve(c, &cmd, dev, user, why, err);
    if (prc == DS_EDB)
      return fail_rollback(c);
  }
  if (prc != DS_OK) {
    const char *fp[2] = {rid, why};
    r = run(c,
            "UPDATE recalc_runs SET state = 'failed', error = $2, started_at = now(),"
            " finished_at = now(), elapsed_ms = 0 WHERE request_id = $1 "
            "RETURNING " DS_RECALC_STATUS_COLS,
            2, fp, err);
  } else {
    /* The run's clock starts with its planning. */
    const char *sp[1] = {rid};
    if (run_cmd(c, "UPDATE recalc_runs SET started_at = clock_timestamp() WHERE request_id = $1", 1,
                sp, err) != DS_OK)
      return fail_rollback(c);
    const char *pp[4] = {rid, dev[0] ? dev : NULL, user[0] ? user : NULL,
                         cmd.full ? "true" : "false"};
    if (run_cmd(c, plan_devices_sql, 4, pp, err) != DS_OK ||
        run_cmd(c, plan_users_sql, 4, pp, err) != DS_OK)
      return fail_rollback(c);
    const char *up[3] = {rid, me, cmd.full ? "true" : "false"};
    r = run(c,
            "UPDATE recalc_runs SET state = 'running',"
            " progress_at = clock_timestamp(), started_by = $2, full_run = $3::bool,"
            " devices_total = (SELECT count(*) FROM recalc_work"
            "                   WHERE request_id = $1 AND kind = 'd')"
            " WHERE request_id = $1 RETURNING " DS_RECALC_STATUS_COLS,
            3, up, err);
    if (r != NULL && run_cmd(c, "NOTIFY " NOTIFY_CHANNEL, 0, NULL, err) != DS_OK) {
      PQclear(r);
      r = NULL;
    }
    /* Nothing to compute (nothing changed): finished in the same breath. */
    if (r != NULL) {
      PGresult *f = run(c, finish_sql, 1, sp, err);
      if (f == NULL) {
        PQclear(r);
        return fail_rollback(c);
      }
      if (PQntuples(f) == 1) {
        PQclear(r);
        r = f;
      } else {
        PQclear(f);
      }
    }
  }
  if (r == NULL)
    return fail_rollback(c);
  if (PQntuples(r) == 1)
    ds_recalc_status_from_row(r, 0, st);
  PQclear(r);
  if (run_cmd(c, "COMMIT", 0, NULL, err) != DS_OK)
    return fail_rollback(c);
  *got = true;
  /* After the commit: the main thread alone publishes, so this "running"
   * goes out before any "done" a worker hands it later. */
  if (on_change != NULL)
    on_change(st, ctx);
  return DS_OK;
}

int agg_db_active_run(PGconn *c, bool *got, char rid[DS_RECALC_REQUEST_ID_MAX + 1],
                      char err[DS_ERRLEN])
{
  PGresult *r = run(c,
                    "SELECT r.request_id FROM recalc_runs r WHERE r.state = 'running'"
                    " AND EXISTS (SELECT 1 FROM recalc_work w WHERE w.request_id = r.request_id"
                    "             AND w.state = 'pending') ORDER BY r.seq LIMIT 1",
                    0, NULL, err);
  if (r == NULL)
    return DS_EDB;
  *got = PQntuples(r) == 1;
  if (*got)
    copy_str(rid, DS_RECALC_REQUEST_ID_MAX + 1, PQgetvalue(r, 0, 0));
  PQclear(r);
  return DS_OK;
}

int agg_db_claim(PGconn *c, const char *rid, bool *got, char *kind, int32_t *key,
                 char err[DS_ERRLEN])
{
  *got = false;
  if (run_cmd(c, "BEGIN", 0, NULL, err) != DS_OK)
    return fail_rollback(c);
  const char *p[1] = {rid};
  PGresult *r = run(c,
                    "SELECT kind, key FROM recalc_work WHERE request_id = $1 AND state = 'pending'"
                    " ORDER BY kind, key LIMIT 1 FOR UPDATE SKIP LOCKED",
                    1, p, err);
  if (r == NULL)
    return fail_rollback(c);
  if (PQntuples(r) == 0) {
    PQclear(r);
    return run_cmd(c, "COMMIT", 0, NULL, err) == DS_OK ? DS_OK : fail_rollback(c);
  }
  *kind = PQgetvalue(r, 0, 0)[0];
  *key = (int32_t)strtol(PQgetvalue(r, 0, 1), NULL, 10);
  PQclear(r);
  *got = true;
  return DS_OK;
}

/* Takes over r (a one-column result of device keys) into a new array
 * (*keys, freed by the caller) of *n keys. */
static int key_column(PGresult *r, int32_t **keys, size_t *n)
{
  size_t rows = (size_t)PQntuples(r);
  int32_t *k = calloc(rows > 0 ? rows : 1, sizeof *k);
  if (k == NULL) {
    PQclear(r);
    return DS_ENOMEM;
  }
  for (size_t i = 0; i < rows; i++)
    k[i] = (int32_t)strtol(PQgetvalue(r, (int)i, 0), NULL, 10);
  PQclear(r);
  *keys = k;
  *n = rows;
  return DS_OK;
}

int agg_db_user_devices(PGconn *c, int32_t user, int32_t **keys, size_t *n, char err[DS_ERRLEN])
{
  char u[16];
  snprintf(u, sizeof u, "%" PRId32, user);
  const char *p[1] = {u};
  PGresult *r = run(c, "SELECT id FROM devices WHERE user_id = $1::int ORDER BY id", 1, p, err);
  return r == NULL ? DS_EDB : key_column(r, keys, n);
}

/* Marks the claimed row done, counts it and commits.  kind 'd' or 'u'. */
static int finish_item(PGconn *c, const char *rid, const char *kind, const char *key,
                       const char *samples, const char *me, char err[DS_ERRLEN])
{
  const char *p[5] = {rid, kind, key, me, samples};
  PGresult *r = run(c,
                    "UPDATE recalc_work SET state = 'done', computed_by = $4,"
                    " done_at = clock_timestamp(), samples = $5::bigint WHERE request_id = $1"
                    " AND kind = $2::\"char\" AND key = $3::int AND state = 'pending'",
                    5, p, err);
  if (r == NULL)
    return fail_rollback(c);
  bool one = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  if (!one) {
    /* Cannot happen while the claim's row lock holds; refuse to commit a
     * second computation of the same item rather than trust it. */
    snprintf(err, DS_ERRLEN, "work item %s %s of %s was no longer pending", kind, key, rid);
    agg_db_rollback(c);
    return DS_ECONFLICT;
  }
  if (kind[0] == 'd' &&
      run_cmd(c, "UPDATE recalc_runs SET devices_done = devices_done + 1 WHERE request_id = $1", 1,
              p, err) != DS_OK)
    return fail_rollback(c);
  return run_cmd(c, "COMMIT", 0, NULL, err) == DS_OK ? DS_OK : fail_rollback(c);
}

#define SNAP_COLS                                                                                  \
  "sample_count, x_count, x_min, x_max, x_sum, x_median, y_count, y_min, y_max, y_sum, y_median,"  \
  " z_count, z_min, z_max, z_sum, z_median"
#define SNAP_SET                                                                                   \
  "request_id = EXCLUDED.request_id, computed_at = EXCLUDED.computed_at,"                          \
  " last_ts = EXCLUDED.last_ts, sample_count = EXCLUDED.sample_count,"                             \
  " x_count = EXCLUDED.x_count, x_min = EXCLUDED.x_min, x_max = EXCLUDED.x_max,"                   \
  " x_sum = EXCLUDED.x_sum, x_median = EXCLUDED.x_median,"                                         \
  " y_count = EXCLUDED.y_count, y_min = EXCLUDED.y_min, y_max = EXCLUDED.y_max,"                   \
  " y_sum = EXCLUDED.y_sum, y_median = EXCLUDED.y_median,"                                         \
  " z_count = EXCLUDED.z_count, z_min = EXCLUDED.z_min, z_max = EXCLUDED.z_max,"                   \
  " z_sum = EXCLUDED.z_sum, z_median = EXCLUDED.z_median"
#define SNAP_VALS                                                                                  \
  "$3::bigint, $4::bigint, $5::float8, $6::float8, $7::float8, $8::float8,"                        \
  " $9::bigint, $10::float8, $11::float8, $12::float8, $13::float8,"                               \
  " $14::bigint, $15::float8, $16::float8, $17::float8, $18::float8"

int agg_db_store_device(PGconn *c, const char *rid, int32_t key, const struct ds_stats *s,
                        const char *me, char err[DS_ERRLEN])
{
  char k[16];
  snprintf(k, sizeof k, "%" PRId32, key);
  struct agg_snap_params sp;
  agg_snap_params(s, &sp);
  const char *p[18] = {k, rid};
  memcpy(p + 2, sp.p, sizeof sp.p);
  /* The newest sample time: compaction just moved the device's recent rows
   * into chunks, so this reads little. */
  if (run_cmd(
          c,
          "INSERT INTO device_snapshots (device_id, request_id, computed_at, last_ts, " SNAP_COLS
          ") VALUES ($1::int, $2, clock_timestamp(),"
          " greatest((SELECT max(last_ts) FROM sample_chunks WHERE device_id = $1::int),"
          "          (SELECT max(ts) FROM samples_recent WHERE device_id = $1::int)), " SNAP_VALS
          ") ON CONFLICT (device_id) DO UPDATE SET " SNAP_SET,
          18, p, err) != DS_OK)
    return fail_rollback(c);
  return finish_item(c, rid, "d", k, sp.text[0], me, err);
}

int agg_db_store_user(PGconn *c, const char *rid, int32_t key, const int32_t *keys, size_t nkeys,
                      const struct ds_stats *s, const char *me, char err[DS_ERRLEN])
{
  char k[16];
  snprintf(k, sizeof k, "%" PRId32, key);
  struct ds_buf ids;
  ds_buf_init(&ids, 16 * nkeys + 16);
  int rc = ds_db_int32_array(&ids, keys, nkeys);
  if (rc != DS_OK) {
    ds_buf_cleanup(&ids);
    agg_db_rollback(c);
    snprintf(err, DS_ERRLEN, "device list: %s", ds_strerror(rc));
    return rc;
  }
  struct agg_snap_params sp;
  agg_snap_params(s, &sp);
  const char *p[19] = {k, rid};
  memcpy(p + 2, sp.p, sizeof sp.p);
  p[18] = ids.data;
  rc = run_cmd(c,
               "INSERT INTO user_snapshots (user_id, request_id, computed_at, last_ts, "
               "device_ids, " SNAP_COLS ") VALUES ($1::int, $2, clock_timestamp(),"
               " (SELECT max(t) FROM (SELECT max(last_ts) AS t FROM sample_chunks"
               "                       WHERE device_id = ANY ($19::int[])"
               "                      UNION ALL SELECT max(ts) FROM samples_recent"
               "                       WHERE device_id = ANY ($19::int[])) q),"
               " $19::int[], " SNAP_VALS ") ON CONFLICT (user_id) DO UPDATE SET " SNAP_SET
               ", device_ids = EXCLUDED.device_ids",
               19, p, err);
  ds_buf_cleanup(&ids);
  if (rc != DS_OK)
    return fail_rollback(c);
  return finish_item(c, rid, "u", k, sp.text[0], me, err);
}

int agg_db_fail_item(PGconn *c, const char *rid, char kind, int32_t key, const char *reason,
                     const char *me, char err[DS_ERRLEN])
{
  char k[16], kd[2] = {kind, '\0'};
  snprintf(k, sizeof k, "%" PRId32, key);
  bool own_tx = PQtransactionStatus(c) == PQTRANS_IDLE;
  if (PQtransactionStatus(c) == PQTRANS_INERROR) {
    agg_db_rollback(c);
    own_tx = true;
  }
  const char *p[5] = {rid, kd, k, reason, me};
  int rc = run_cmd(c,
                   "UPDATE recalc_work SET state = 'failed', error = $4, computed_by = $5,"
                   " done_at = clock_timestamp() WHERE request_id = $1 AND kind = $2::\"char\""
                   " AND key = $3::int AND state = 'pending'",
                   5, p, err);
  if (rc != DS_OK)
    return fail_rollback(c);
  if (!own_tx && run_cmd(c, "COMMIT", 0, NULL, err) != DS_OK)
    return fail_rollback(c);
  return DS_OK;
}

int agg_db_finish(PGconn *c, const char *rid, bool *got, struct ds_recalc_status *st,
                  char err[DS_ERRLEN])
{
  const char *p[1] = {rid};
  PGresult *r = run(c, finish_sql, 1, p, err);
  if (r == NULL)
    return DS_EDB;
  *got = PQntuples(r) == 1;
  if (*got)
    ds_recalc_status_from_row(r, 0, st);
  PQclear(r);
  return DS_OK;
}

int agg_db_finish_orphan(PGconn *c, bool *got, struct ds_recalc_status *st, char err[DS_ERRLEN])
{
  *got = false;
  PGresult *r = run(c,
                    "SELECT r.request_id FROM recalc_runs r WHERE r.state = 'running'"
                    " AND NOT EXISTS (SELECT 1 FROM recalc_work w WHERE w.request_id = r.request_id"
                    "                 AND w.state = 'pending') ORDER BY r.seq LIMIT 1",
                    0, NULL, err);
  if (r == NULL)
    return DS_EDB;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return DS_OK;
  }
  char rid[DS_RECALC_REQUEST_ID_MAX + 1];
  copy_str(rid, sizeof rid, PQgetvalue(r, 0, 0));
  PQclear(r);
  return agg_db_finish(c, rid, got, st, err);
}

int agg_db_progress(PGconn *c, const char *rid, bool *got, struct ds_recalc_status *st,
                    char err[DS_ERRLEN])
{
  const char *p[1] = {rid};
  PGresult *r =
      run(c,
          "UPDATE recalc_runs SET progress_at = clock_timestamp()"
          " WHERE request_id = $1 AND state = 'running'"
          "   AND (progress_at IS NULL OR progress_at < clock_timestamp() - interval '1 s')"
          " RETURNING " DS_RECALC_STATUS_COLS,
          1, p, err);
  if (r == NULL)
    return DS_EDB;
  *got = PQntuples(r) == 1;
  if (*got)
    ds_recalc_status_from_row(r, 0, st);
  PQclear(r);
  return DS_OK;
}

int agg_db_compact_candidates(PGconn *c, long long min_rows, long long max_age_s, int32_t **keys,
                              size_t *n, char err[DS_ERRLEN])
{
  char a[24], b[24];
  snprintf(a, sizeof a, "%lld", min_rows);
  snprintf(b, sizeof b, "%lld", max_age_s);
  const char *p[2] = {a, b};
  PGresult *r = run(c,
                    "SELECT device_id FROM samples_recent GROUP BY device_id"
                    " HAVING count(*) >= $1::bigint"
                    "     OR min(ts) < now() - make_interval(secs => $2::bigint)",
                    2, p, err);
  return r == NULL ? DS_EDB : key_column(r, keys, n);
}

int agg_db_schedule(PGconn *c, long long slot, bool *inserted, struct ds_recalc_status *st,
                    char err[DS_ERRLEN])
{
  char rid[64];
  snprintf(rid, sizeof rid, "schedule-%lld", slot);
  return ds_recalc_status_record(c, rid, "{}", NULL, "schedule", inserted, st, err);
}

int agg_db_lock_device(PGconn *c, int32_t key, bool try_only, bool *got, char err[DS_ERRLEN])
{
  char k[16];
  snprintf(k, sizeof k, "%" PRId32, key);
  const char *p[1] = {k};
  PGresult *r = run(c,
                    try_only ? "SELECT pg_try_advisory_xact_lock(" DEVICE_LOCK_KEY ", $1::int)"
                             : "SELECT pg_advisory_xact_lock(" DEVICE_LOCK_KEY ", $1::int), true",
                    1, p, err);
  if (r == NULL)
    return DS_EDB;
  *got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, PQnfields(r) - 1), "t") == 0;
  PQclear(r);
  return DS_OK;
}

int agg_db_listen(PGconn *c, char err[DS_ERRLEN])
{
  return run_cmd(c, "LISTEN " NOTIFY_CHANNEL, 0, NULL, err);
}

int agg_db_wait(PGconn *c, int timeout_ms, char err[DS_ERRLEN])
{
  PGnotify *n = NULL;
  if (PQconsumeInput(c) == 0)
    goto broken;
  if ((n = PQnotifies(c)) != NULL) {
    /* Drain them all: one wake-up is enough. */
    while (n != NULL) {
      PQfreemem(n);
      n = PQnotifies(c);
    }
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
    while ((n = PQnotifies(c)) != NULL)
      PQfreemem(n);
  }
  return DS_OK;
broken:
  ds_db_errmsg(c, NULL, err);
  return DS_EDB;
}
