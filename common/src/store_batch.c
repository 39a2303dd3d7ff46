/* Samples of several devices in one statement, reported device by device
 * (see ds/store_batch.h).  The rows come ordered by device in single-row
 * mode, so memory is one device's values plus one chunk whatever the batch
 * holds. */
#include "ds/store_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_chunk.h"
#include "store_stmt.h"
#include "ds/buf.h"
#include "ds/db.h"

/* The UNION ALL sits in a subquery with device_id in both arms, as in
 * ds_store_fetch: Citus runs it whole on each shard (one snapshot there),
 * and a compaction cannot make a sample count twice or not at all.  Recent
 * rows come as one-element arrays, so every row has the chunk shape; the
 * chunk's last_ts (a recent row's ts) gives the newest sample time. */
static const char fetch_sql[] = "SELECT device_id, last_ts, n, x, y, z FROM ("
                                " SELECT device_id, last_ts, n, x, y, z FROM sample_chunks"
                                " WHERE device_id = ANY ($1::int4[])"
                                " UNION ALL"
                                " SELECT device_id, ts, 1, ARRAY[x], ARRAY[y], ARRAY[z]"
                                " FROM samples_recent WHERE device_id = ANY ($1::int4[])) q"
                                " ORDER BY device_id";

/* The state of one fetch: the device being read and what it got so far. */
struct cursor {
  bool have;    /* a device is open */
  int32_t key;  /* ... this one */
  int64_t last; /* its newest sample time so far */
  int vrc;      /* DS_OK, or why its values were dropped */
};

static int32_t rd_i32(PGresult *res, int col)
{
  return (int32_t)ds_buf_get_be32((const unsigned char *)PQgetvalue(res, 0, col));
}

/* One row: opens its device (reporting the previous one), then appends its
 * samples unless the device already overflowed. */
static int add_row(PGresult *res, struct cursor *cur, struct ds_values *v, ds_store_device_fn fn,
                   void *ctx, char err[DS_ERRLEN])
{
  if (PQnfields(res) != 6 || PQgetlength(res, 0, 0) != 4 || PQgetlength(res, 0, 1) != 8 ||
      PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1)) {
    snprintf(err, DS_ERRLEN, "unexpected chunk row shape");
    return DS_EDB;
  }
  int32_t key = rd_i32(res, 0);
  int64_t last = (int64_t)ds_buf_get_be64((const unsigned char *)PQgetvalue(res, 0, 1));
  if (cur->have && key < cur->key) {
    snprintf(err, DS_ERRLEN, "sample rows out of device order");
    return DS_EDB;
  }
  if (!cur->have || key != cur->key) {
    if (cur->have) {
      int rc = fn(ctx, cur->key, v, cur->last, cur->vrc);
      if (rc != DS_OK)
        return rc;
    }
    *cur = (struct cursor){.have = true, .key = key, .last = last, .vrc = DS_OK};
    ds_values_reset(v);
  }
  if (last > cur->last)
    cur->last = last;
  struct ds_store_cell cells[5];
  for (int i = 0; i < 4; i++) {
    cells[i].data = PQgetvalue(res, 0, 2 + i);
    cells[i].len = PQgetlength(res, 0, 2 + i);
    cells[i].isnull = PQgetisnull(res, 0, 2 + i) != 0;
  }
  cells[4] = (struct ds_store_cell){.data = NULL, .len = 0, .isnull = true};
  size_t n;
  const unsigned char *b[4];
  int rc = ds_store_chunk_arrays(cells, &n, b, err);
  if (rc != DS_OK)
    return rc;
  if (cur->vrc != DS_OK)
    return DS_OK;
  if ((cur->vrc = ds_store_values_reserve(v, n, false)) != DS_OK) {
    ds_values_reset(v);
    return DS_OK;
  }
  for (size_t i = 0; i < n; i++) {
    v->x[v->n + i] = ds_store_chunk_f8(b[0], i);
    v->y[v->n + i] = ds_store_chunk_f8(b[1], i);
    v->z[v->n + i] = ds_store_chunk_f8(b[2], i);
  }
  v->n += n;
  return DS_OK;
}

int ds_store_fetch_devices(PGconn *conn, const int32_t *keys, size_t nkeys, struct ds_values *v,
                           ds_store_device_fn fn, void *ctx, char err[DS_ERRLEN])
{
  if (nkeys == 0)
    return DS_OK;
  struct ds_buf kb;
  /* One allocation: at most 11 characters and a comma per key. */
  ds_buf_init(&kb, 3 + nkeys * 12);
  int rc = ds_db_int32_array(&kb, keys, nkeys);
  if (rc != DS_OK) {
    ds_buf_cleanup(&kb);
    snprintf(err, DS_ERRLEN, "out of memory");
    return DS_ENOMEM;
  }
  const char *vals[1] = {kb.data};
  if (!PQsendQueryParams(conn, fetch_sql, 1, NULL, vals, NULL, NULL, 1)) {
    ds_db_errmsg(conn, NULL, err);
    ds_buf_cleanup(&kb);
    return DS_EDB;
  }
  ds_buf_cleanup(&kb);
  if (!PQsetSingleRowMode(conn)) {
    snprintf(err, DS_ERRLEN, "cannot enter single-row mode");
    rc = DS_EDB;
  }
  struct cursor cur = {0};
  PGresult *res;
  /* Every result must be consumed, even after an error. */
  while ((res = PQgetResult(conn)) != NULL) {
    ExecStatusType status = PQresultStatus(res);
    if (rc == DS_OK) {
      if (status == PGRES_SINGLE_TUPLE)
        rc = add_row(res, &cur, v, fn, ctx, err);
      else if (status != PGRES_TUPLES_OK) {
        ds_db_errmsg(conn, res, err);
        rc = DS_EDB;
      }
    }
    PQclear(res);
  }
  if (rc == DS_OK && cur.have)
    rc = fn(ctx, cur.key, v, cur.last, cur.vrc);
  return rc;
}
