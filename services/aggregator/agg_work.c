/* Per-item work of a run (see agg_work.h): a user's snapshot upsert, done
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

/* Marks the claimed user row done and commits (devices are counted in the
 * run by agg_batch_store). */
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
  return ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) == DS_OK ? DS_OK : fail_rollback(c);
}

#define SNAP_VALS                                                                                  \
  "$3::bigint, $4::bigint, $5::float8, $6::float8, $7::float8, $8::float8,"                        \
  " $9::bigint, $10::float8, $11::float8, $12::float8, $13::float8,"                               \
  " $14::bigint, $15::float8, $16::float8, $17::float8, $18::float8"

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
                  "device_ids, " AGG_SNAP_COLS ") SELECT $1::int, $2::text, statement_timestamp(),"
                  " (SELECT max(t) FROM (SELECT max(last_ts) AS t FROM sample_chunks"
                  "                       WHERE device_id = ANY ($19::int[])"
                  "                      UNION ALL SELECT max(ts) FROM samples_recent"
                  "                       WHERE device_id = ANY ($19::int[])) q),"
                  " $19::int[], " SNAP_VALS " ON CONFLICT (user_id) DO UPDATE SET " AGG_SNAP_SET
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
