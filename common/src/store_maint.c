/* Maintenance of the sample tables, run by the aggregator: compaction of a
 * device's samples_recent rows into a chunk (ds_compact in SQL) and merging
 * of its small chunks (ds_merge_chunks, 004_chunk_merge.sql).  Reading is
 * in store.c. */
#include "ds/store_maint.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "ds/db.h"

/* Runs one of the (device key, count) -> count functions; *out gets its
 * result, which must lie in [0, max].  Not prepared: one short call per
 * device and pass, so no statement state is kept with the connection. */
static int call_key_count(PGconn *conn, const char *fn, const char *sql, int32_t key, int arg,
                          int max, int *out, char err[DS_ERRLEN])
{
  char k[16], m[16];
  snprintf(k, sizeof k, "%" PRId32, key);
  snprintf(m, sizeof m, "%d", arg);
  const char *vals[2] = {k, m};
  PGresult *res = NULL;
  int rc = ds_db_exec(conn, sql, 2, vals, &res, err);
  if (rc != DS_OK)
    return rc;
  if (PQntuples(res) != 1) {
    snprintf(err, DS_ERRLEN, "unexpected %s result", fn);
    rc = DS_EDB;
  } else {
    char *end = NULL;
    long v = strtol(PQgetvalue(res, 0, 0), &end, 10);
    if (end == NULL || *end != '\0' || v < 0 || v > max) {
      snprintf(err, DS_ERRLEN, "unexpected %s result", fn);
      rc = DS_EDB;
    } else {
      *out = (int)v;
    }
  }
  PQclear(res);
  return rc;
}

int ds_store_compact(PGconn *conn, int32_t key, int max_rows, int *moved, char err[DS_ERRLEN])
{
  return call_key_count(conn, "ds_compact", "SELECT ds_compact($1::int4, $2::int4)", key, max_rows,
                        max_rows, moved, err);
}

int ds_store_merge_chunks(PGconn *conn, int32_t key, int target, int *merged, char err[DS_ERRLEN])
{
  return call_key_count(conn, "ds_merge_chunks", "SELECT ds_merge_chunks($1::int4, $2::int4)", key,
                        target, INT_MAX, merged, err);
}
