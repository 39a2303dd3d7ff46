/* Per-device work of a run (see agg_work.h): claim, snapshot upserts, done
 * or failed marks, the device lock, compaction candidates.  Every value goes
 * in as a parameter; doubles are sent in their shortest round-trip text
 * form, so snapshots hold exactly what was computed. */
#include "agg_work.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg_snap.h"
#include "ds/buf.h"
#include "ds/db.h"

/* First half of the per-device compaction lock (the device key is the
 * second). */
#define DEVICE_LOCK_KEY "4242002"

static int fail_rollback(PGconn *c)
{
  ds_db_rollback(c);
  return DS_EDB;
}

/* Candidates are read without locks, CLAIM_BATCH at a time in (kind, key)
 * order, and each is then locked alone with SKIP LOCKED.  One statement
 * "... ORDER BY kind, key LIMIT 1 FOR UPDATE SKIP LOCKED" does both on plain
 * PostgreSQL, but not on Citus, where recalc_work is distributed by key:
 * row locks are only taken by statements that name the key (one shard). */
#define CLAIM_BATCH 16
#define CLAIM_BATCH_TEXT "16"

int agg_work_claim(PGconn *c, const char *rid, bool *got, char *kind, int32_t *key,
                   char err[DS_ERRLEN])
{
  *got = false;
  if (ds_db_exec(c, "BEGIN", 0, NULL, NULL, err) != DS_OK)
    return fail_rollback(c);
  char after_kind[2] = "", after_key[16] = "";
  for (;;) {
    const char *p[4] = {rid, after_kind[0] ? after_kind : NULL, after_kind[0] ? after_key : NULL,
                        CLAIM_BATCH_TEXT};
    PGresult *cand = NULL;
    if (ds_db_exec(c,
                   "SELECT kind, key FROM recalc_work WHERE request_id = $1 AND state = 'pending'"
                   " AND ($2::\"char\" IS NULL OR (kind, key) > ($2::\"char\", $3::int))"
                   " ORDER BY kind, key LIMIT $4::int",
                   4, p, &cand, err) != DS_OK)
      return fail_rollback(c);
    int rows = PQntuples(cand);
    for (int i = 0; i < rows && !*got; i++) {
      snprintf(after_kind, sizeof after_kind, "%s", PQgetvalue(cand, i, 0));
      snprintf(after_key, sizeof after_key, "%s", PQgetvalue(cand, i, 1));
      const char *q[3] = {rid, after_kind, after_key};
      PGresult *r = NULL;
      if (ds_db_exec(c,
                     "SELECT kind, key FROM recalc_work WHERE request_id = $1"
                     " AND kind = $2::\"char\" AND key = $3::int AND state = 'pending'"
                     " FOR UPDATE SKIP LOCKED",
                     3, q, &r, err) != DS_OK) {
        PQclear(cand);
        return fail_rollback(c);
      }
      if (PQntuples(r) == 1) {
        *kind = PQgetvalue(r, 0, 0)[0];
        *key = (int32_t)strtol(PQgetvalue(r, 0, 1), NULL, 10);
        *got = true;
      }
      PQclear(r);
    }
    PQclear(cand);
    if (*got)
      return DS_OK;
    if (rows < CLAIM_BATCH)
      break;
  }
  return ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) == DS_OK ? DS_OK : fail_rollback(c);
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

int agg_work_user_devices(PGconn *c, int32_t user, int32_t **keys, size_t *n, char err[DS_ERRLEN])
{
  char u[16];
  snprintf(u, sizeof u, "%" PRId32, user);
  const char *p[1] = {u};
  PGresult *r = NULL;
  if (ds_db_exec(c, "SELECT id FROM devices WHERE user_id = $1::int ORDER BY id", 1, p, &r, err) !=
      DS_OK)
    return DS_EDB;
  return key_column(r, keys, n);
}

/* Marks the claimed row done, counts it and commits.  kind 'd' or 'u'. */
static int finish_item(PGconn *c, const char *rid, const char *kind, const char *key,
                       const char *samples, const char *me, char err[DS_ERRLEN])
{
  const char *p[5] = {rid, kind, key, me, samples};
  PGresult *r = NULL;
  if (ds_db_exec(c,
                 "UPDATE recalc_work SET state = 'done', computed_by = $4,"
                 " done_at = statement_timestamp(), samples = $5::bigint WHERE request_id = $1"
                 " AND kind = $2::\"char\" AND key = $3::int AND state = 'pending'",
                 5, p, &r, err) != DS_OK)
    return fail_rollback(c);
  bool one = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  if (!one) {
    /* Cannot happen while the claim's row lock holds; refuse to commit a
     * second computation of the same item rather than trust it. */
    snprintf(err, DS_ERRLEN, "work item %s %s of %s was no longer pending", kind, key, rid);
    ds_db_rollback(c);
    return DS_ECONFLICT;
  }
  if (kind[0] == 'd' &&
      ds_db_exec(c, "UPDATE recalc_runs SET devices_done = devices_done + 1 WHERE request_id = $1",
                 1, p, NULL, err) != DS_OK)
    return fail_rollback(c);
  return ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) == DS_OK ? DS_OK : fail_rollback(c);
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

int agg_work_store_device(PGconn *c, const char *rid, int32_t key, const struct ds_stats *s,
                          const char *me, char err[DS_ERRLEN])
{
  char k[16];
  snprintf(k, sizeof k, "%" PRId32, key);
  struct agg_snap_params sp;
  agg_snap_params(s, &sp);
  const char *p[18] = {k, rid};
  memcpy(p + 2, sp.p, sizeof sp.p);
  /* The newest sample time comes from the (device_id, ...) indexes.  INSERT
   * ... SELECT, not VALUES ((subquery)): Citus refuses subqueries in VALUES;
   * statement_timestamp(), not clock_timestamp(): Citus evaluates a stable
   * function once on the coordinator, and refuses volatile ones in writes. */
  if (ds_db_exec(
          c,
          "INSERT INTO device_snapshots (device_id, request_id, computed_at, last_ts, " SNAP_COLS
          ") SELECT $1::int, $2::text, statement_timestamp(),"
          " greatest((SELECT max(last_ts) FROM sample_chunks WHERE device_id = $1::int),"
          "          (SELECT max(ts) FROM samples_recent WHERE device_id = $1::int)), " SNAP_VALS
          " ON CONFLICT (device_id) DO UPDATE SET " SNAP_SET,
          18, p, NULL, err) != DS_OK)
    return fail_rollback(c);
  return finish_item(c, rid, "d", k, sp.text[0], me, err);
}

int agg_work_store_user(PGconn *c, const char *rid, int32_t key, const int32_t *keys, size_t nkeys,
                        const struct ds_stats *s, const char *me, char err[DS_ERRLEN])
{
  char k[16];
  snprintf(k, sizeof k, "%" PRId32, key);
  struct ds_buf ids;
  ds_buf_init(&ids, 16 * nkeys + 16);
  int rc = ds_db_int32_array(&ids, keys, nkeys);
  if (rc != DS_OK) {
    ds_buf_cleanup(&ids);
    ds_db_rollback(c);
    snprintf(err, DS_ERRLEN, "device list: %s", ds_strerror(rc));
    return rc;
  }
  struct agg_snap_params sp;
  agg_snap_params(s, &sp);
  const char *p[19] = {k, rid};
  memcpy(p + 2, sp.p, sizeof sp.p);
  p[18] = ids.data;
  rc = ds_db_exec(c,
                  "INSERT INTO user_snapshots (user_id, request_id, computed_at, last_ts, "
                  "device_ids, " SNAP_COLS ") SELECT $1::int, $2::text, statement_timestamp(),"
                  " (SELECT max(t) FROM (SELECT max(last_ts) AS t FROM sample_chunks"
                  "                       WHERE device_id = ANY ($19::int[])"
                  "                      UNION ALL SELECT max(ts) FROM samples_recent"
                  "                       WHERE device_id = ANY ($19::int[])) q),"
                  " $19::int[], " SNAP_VALS " ON CONFLICT (user_id) DO UPDATE SET " SNAP_SET
                  ", device_ids = EXCLUDED.device_ids",
                  19, p, NULL, err);
  ds_buf_cleanup(&ids);
  if (rc != DS_OK)
    return fail_rollback(c);
  return finish_item(c, rid, "u", k, sp.text[0], me, err);
}

int agg_work_fail(PGconn *c, const char *rid, char kind, int32_t key, const char *reason,
                  const char *me, char err[DS_ERRLEN])
{
  char k[16], kd[2] = {kind, '\0'};
  snprintf(k, sizeof k, "%" PRId32, key);
  bool own_tx = PQtransactionStatus(c) == PQTRANS_IDLE;
  if (PQtransactionStatus(c) == PQTRANS_INERROR) {
    ds_db_rollback(c);
    own_tx = true;
  }
  const char *p[5] = {rid, kd, k, reason, me};
  if (ds_db_exec(c,
                 "UPDATE recalc_work SET state = 'failed', error = $4, computed_by = $5,"
                 " done_at = statement_timestamp() WHERE request_id = $1 AND kind = $2::\"char\""
                 " AND key = $3::int AND state = 'pending'",
                 5, p, NULL, err) != DS_OK)
    return fail_rollback(c);
  if (!own_tx && ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) != DS_OK)
    return fail_rollback(c);
  return DS_OK;
}

int agg_work_lock_device(PGconn *c, int32_t key, bool try_only, bool *got, char err[DS_ERRLEN])
{
  char k[16];
  snprintf(k, sizeof k, "%" PRId32, key);
  const char *p[1] = {k};
  PGresult *r = NULL;
  if (ds_db_exec(c,
                 try_only ? "SELECT pg_try_advisory_xact_lock(" DEVICE_LOCK_KEY ", $1::int)"
                          : "SELECT pg_advisory_xact_lock(" DEVICE_LOCK_KEY ", $1::int), true",
                 1, p, &r, err) != DS_OK)
    return DS_EDB;
  *got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, PQnfields(r) - 1), "t") == 0;
  PQclear(r);
  return DS_OK;
}

int agg_work_compact_candidates(PGconn *c, long long min_rows, long long max_age_s, int32_t **keys,
                                size_t *n, char err[DS_ERRLEN])
{
  char a[24], b[24];
  snprintf(a, sizeof a, "%lld", min_rows);
  snprintf(b, sizeof b, "%lld", max_age_s);
  const char *p[2] = {a, b};
  PGresult *r = NULL;
  if (ds_db_exec(c,
                 "SELECT device_id FROM samples_recent GROUP BY device_id"
                 " HAVING count(*) >= $1::bigint"
                 "     OR min(ts) < now() - make_interval(secs => $2::bigint)",
                 2, p, &r, err) != DS_OK)
    return DS_EDB;
  return key_column(r, keys, n);
}
