/* The store's prepared statements, the value arrays samples are read into,
 * device keys, and statistics of the arrays.  The reading itself is in
 * store_fetch.c; compaction and merging are in store_maint.c. */
#include "ds/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store_stmt.h"
#include "ds/db.h"
#include "ds/time.h"

/* ---- prepared statements, once per connection ---- */

static const struct {
  const char *name;
  const char *sql;
  int nparams;
} stmts[DS_ST_N] = {
    [DS_ST_DEVICE_KEY] = {"ds_store_device_key", "SELECT id FROM devices WHERE name = $1", 1},
    /* ts is sent only when a chunk is not wholly inside the range or the
     * caller wants times: a CASE that yields NULL leaves the array toasted. */
    /* One statement reads both tables, so they are seen in one snapshot (a
     * concurrent ds_compact cannot make a sample appear twice or not at all)
     * without a transaction's extra round trips.  Recent rows come as
     * one-element arrays, so every row has the chunk shape.  ts is sent only
     * when a chunk is not wholly inside the range or the caller wants times:
     * a CASE that yields NULL leaves the array toasted.  On Citus the UNION
     * ALL sits in a subquery with device_id in both arms: Citus then runs
     * it whole on each shard (one snapshot there); a top-level UNION ALL
     * over several devices was run as two separate reads, and a compaction
     * between them counted its samples twice or not at all. */
    [DS_ST_SAMPLES] = {"ds_store_samples",
                       "SELECT n, x, y, z, t FROM ("
                       " SELECT device_id, n, x, y, z,"
                       " CASE WHEN $4 OR first_ts < $2 OR last_ts >= $3 THEN ts END AS t"
                       " FROM sample_chunks"
                       " WHERE device_id = ANY ($1::int4[]) AND first_ts < $3 AND last_ts >= $2"
                       " UNION ALL"
                       " SELECT device_id, 1, ARRAY[x], ARRAY[y], ARRAY[z],"
                       " CASE WHEN $4 THEN ARRAY[ts] END"
                       " FROM samples_recent"
                       " WHERE device_id = ANY ($1::int4[]) AND ts >= $2 AND ts < $3) q",
                       4},
    /* As ds_store_samples, with the chunks' identity and bounds, and no
     * arrays at all for the chunk_ids in $5 (the caller's cached ones). */
    [DS_ST_SAMPLES_CACHED] =
        {"ds_store_samples_cached",
         "SELECT * FROM (SELECT chunk_id, device_id, first_ts, last_ts, n,"
         " CASE WHEN chunk_id = ANY ($5::int8[]) THEN NULL ELSE x END,"
         " CASE WHEN chunk_id = ANY ($5::int8[]) THEN NULL ELSE y END,"
         " CASE WHEN chunk_id = ANY ($5::int8[]) THEN NULL ELSE z END,"
         " CASE WHEN chunk_id = ANY ($5::int8[]) THEN NULL"
         "      WHEN $4 OR first_ts < $2 OR last_ts >= $3 THEN ts END"
         " FROM sample_chunks"
         " WHERE device_id = ANY ($1::int4[]) AND first_ts < $3 AND last_ts >= $2"
         " UNION ALL"
         " SELECT NULL, device_id, ts, ts, 1, ARRAY[x], ARRAY[y], ARRAY[z],"
         " CASE WHEN $4 THEN ARRAY[ts] END"
         " FROM samples_recent"
         " WHERE device_id = ANY ($1::int4[]) AND ts >= $2 AND ts < $3) q",
         5},
};

int ds_store_prepare(PGconn *conn, struct ds_store_stmts *st, enum ds_store_stmt s,
                     char err[DS_ERRLEN])
{
  int pid = PQbackendPID(conn);
  if (st->pid != pid) {
    st->pid = pid;
    st->prepared = 0;
  }
  if (st->prepared & (1u << s))
    return DS_OK;
  int rc = ds_db_result(conn, PQprepare(conn, stmts[s].name, stmts[s].sql, stmts[s].nparams, NULL),
                        NULL, err);
  if (rc != DS_OK)
    return rc;
  st->prepared |= 1u << s;
  return DS_OK;
}

const char *ds_store_stmt_name(enum ds_store_stmt s)
{
  return stmts[s].name;
}

void ds_store_stmts_reset(struct ds_store_stmts *st)
{
  st->pid = 0;
  st->prepared = 0;
}

/* ---- value arrays ---- */

void ds_values_init(struct ds_values *v, size_t max)
{
  memset(v, 0, sizeof *v);
  v->max = max;
}

void ds_values_init_fixed(struct ds_values *v, double *x, double *y, double *z, int64_t *ts,
                          size_t cap)
{
  *v = (struct ds_values){.x = x, .y = y, .z = z, .ts = ts, .cap = cap, .max = cap, .fixed = true};
}

void ds_values_cleanup(struct ds_values *v)
{
  if (v->fixed) {
    v->x = v->y = v->z = NULL;
    v->ts = NULL;
    v->n = v->cap = 0;
    return;
  }
  DS_FREE(v->x);
  DS_FREE(v->y);
  DS_FREE(v->z);
  DS_FREE(v->ts);
  v->n = v->cap = 0;
}

void ds_values_set_flush(struct ds_values *v, size_t max,
                         int (*flush)(void *arg, const struct ds_values *v), void *arg)
{
  v->max = max;
  v->flush = flush;
  v->flush_arg = arg;
}

void ds_values_reset(struct ds_values *v)
{
  v->n = 0;
  v->flushed = 0;
}

int ds_store_device_key(PGconn *conn, struct ds_store_stmts *st, const char *name, int32_t *key,
                        char err[DS_ERRLEN])
{
  int rc = ds_store_prepare(conn, st, DS_ST_DEVICE_KEY, err);
  if (rc != DS_OK)
    return rc;
  const char *vals[1] = {name};
  PGresult *res = NULL;
  rc = ds_db_result(
      conn, PQexecPrepared(conn, stmts[DS_ST_DEVICE_KEY].name, 1, vals, NULL, NULL, 1), &res, err);
  if (rc != DS_OK)
    return rc;
  if (PQntuples(res) == 0) {
    snprintf(err, DS_ERRLEN, "unknown device");
    rc = DS_ENOTFOUND;
  } else if (PQgetlength(res, 0, 0) != 4) {
    snprintf(err, DS_ERRLEN, "unexpected device key size");
    rc = DS_EDB;
  } else {
    *key = (int32_t)ds_buf_get_be32((const unsigned char *)PQgetvalue(res, 0, 0));
  }
  PQclear(res);
  return rc;
}

void ds_values_stats(struct ds_values *v, struct ds_stats *out)
{
  memset(out, 0, sizeof *out);
  out->count = v->n;
  ds_axis_compute(v->x, v->n, &out->x);
  ds_axis_compute(v->y, v->n, &out->y);
  ds_axis_compute(v->z, v->n, &out->z);
}
