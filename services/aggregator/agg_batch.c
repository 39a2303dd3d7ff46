/* Batched work of a run (see agg_batch.h): the claim (candidates read
 * without locks, then each locked alone with SKIP LOCKED, the lock
 * statements of a round sent in one libpq pipeline), the device locks, and
 * the batch's snapshots, done marks and count in three statements.  Every
 * value goes in as a parameter: the snapshots as arrays (doubles in their
 * shortest round-trip text, so snapshots hold exactly what was computed),
 * the newest sample times as a binary timestamptz[] (exact to the
 * microsecond). */
#include "agg_batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg_snap.h"
#include "ds/buf.h"
#include "ds/db.h"

/* The per-device compaction lock's first half (agg_work.c's DEVICE_LOCK_KEY). */
#define DEVICE_LOCK_KEY "4242002"
#define TIMESTAMPTZOID 1184

int agg_batch_init(struct agg_batch *b, size_t cap)
{
  memset(b, 0, sizeof *b);
  if (cap < 1 || cap > AGG_BATCH_MAX)
    return DS_EINVAL;
  b->items = calloc(cap, sizeof *b->items);
  b->cand = calloc(2 * cap, sizeof *b->cand);
  if (b->items == NULL || b->cand == NULL) {
    agg_batch_cleanup(b);
    return DS_ENOMEM;
  }
  b->cap = cap;
  return DS_OK;
}

void agg_batch_cleanup(struct agg_batch *b)
{
  DS_FREE(b->items);
  DS_FREE(b->cand);
  b->n = b->cap = 0;
}

static const char lock_sql[] = "SELECT key FROM recalc_work WHERE request_id = $1"
                               " AND kind = $2::\"char\" AND key = $3::int AND state = 'pending'"
                               " FOR UPDATE SKIP LOCKED";

/* Sends the lock statements of cand[0..m) in one pipeline and appends the
 * keys it got to b.  On a failure the connection may be left in pipeline
 * mode; its owner then replaces it (agg_worker.c). */
static int lock_round(PGconn *c, const char *rid, char kind, const int32_t *cand, size_t m,
                      struct agg_batch *b, char err[DS_ERRLEN])
{
  if (PQenterPipelineMode(c) != 1) {
    ds_db_errmsg(c, NULL, err);
    return DS_EDB;
  }
  char kd[2] = {kind, '\0'};
  int rc = DS_OK;
  size_t sent = 0;
  for (; sent < m; sent++) {
    char k[16];
    snprintf(k, sizeof k, "%" PRId32, cand[sent]);
    const char *p[3] = {rid, kd, k};
    if (!PQsendQueryParams(c, lock_sql, 3, NULL, p, NULL, NULL, 0)) {
      ds_db_errmsg(c, NULL, err);
      rc = DS_EDB;
      break;
    }
  }
  if (PQpipelineSync(c) != 1) {
    ds_db_errmsg(c, NULL, err);
    return DS_EDB;
  }
  /* Each statement's result is followed by a NULL; the sync point ends
   * the round.  Two NULLs in a row mean the connection is gone. */
  size_t q = 0;
  int nulls = 0;
  for (;;) {
    PGresult *r = PQgetResult(c);
    if (r == NULL) {
      if (++nulls > 1 || PQstatus(c) == CONNECTION_BAD) {
        if (rc == DS_OK)
          ds_db_errmsg(c, NULL, err);
        return DS_EDB;
      }
      continue;
    }
    nulls = 0;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    if (st == PGRES_TUPLES_OK && q < sent && PQntuples(r) == 1 && b->n < b->cap) {
      b->items[b->n] = (struct agg_batch_item){.key = cand[q], .code = DS_OK};
      b->n++;
    } else if (st != PGRES_TUPLES_OK && rc == DS_OK) {
      ds_db_errmsg(c, r, err);
      rc = DS_EDB;
    }
    q++;
    PQclear(r);
  }
  if (PQexitPipelineMode(c) != 1 && rc == DS_OK) {
    ds_db_errmsg(c, NULL, err);
    rc = DS_EDB;
  }
  return rc;
}

int agg_batch_claim(PGconn *c, const char *rid, size_t want, struct agg_batch *b,
                    char err[DS_ERRLEN])
{
  b->n = 0;
  b->kind = 0;
  if (want < 1 || want > b->cap)
    want = b->cap;
  if (ds_db_exec(c, "BEGIN", 0, NULL, NULL, err) != DS_OK)
    return DS_EDB;
  /* Candidates a page at a time in (kind, key) order: twice the batch, so
   * that a worker finds free rows past those another worker holds. */
  char page[16], after_kind[2] = "", after_key[16] = "";
  size_t page_n = 2 * b->cap;
  snprintf(page, sizeof page, "%zu", page_n);
  for (;;) {
    const char *p[4] = {rid, after_kind[0] ? after_kind : NULL, after_kind[0] ? after_key : NULL,
                        page};
    PGresult *r = NULL;
    if (ds_db_exec(c,
                   "SELECT kind, key FROM recalc_work WHERE request_id = $1 AND state = 'pending'"
                   " AND ($2::\"char\" IS NULL OR (kind, key) > ($2::\"char\", $3::int))"
                   " ORDER BY kind, key LIMIT $4::int",
                   4, p, &r, err) != DS_OK)
      return DS_EDB;
    size_t rows = (size_t)PQntuples(r);
    if (rows > 0) {
      snprintf(after_kind, sizeof after_kind, "%s", PQgetvalue(r, (int)rows - 1, 0));
      snprintf(after_key, sizeof after_key, "%s", PQgetvalue(r, (int)rows - 1, 1));
    }
    /* Rounds over the page: each asks for what the batch still lacks, from
     * one kind (a batch never mixes devices and users; a user goes alone). */
    size_t i = 0;
    int rc = DS_OK;
    while (rc == DS_OK && i < rows && b->n < want) {
      char kind = PQgetvalue(r, (int)i, 0)[0];
      if (b->n > 0 && kind != b->kind)
        break;
      b->kind = kind;
      size_t lack = kind == 'u' ? 1 : want - b->n, m = 0;
      while (m < lack && i + m < rows && PQgetvalue(r, (int)(i + m), 0)[0] == kind) {
        b->cand[m] = (int32_t)strtol(PQgetvalue(r, (int)(i + m), 1), NULL, 10);
        m++;
      }
      rc = lock_round(c, rid, kind, b->cand, m, b, err);
      i += m;
      if (kind == 'u' && b->n > 0)
        want = b->n;
    }
    bool kind_end = i < rows && b->n > 0 && PQgetvalue(r, (int)i, 0)[0] != b->kind;
    PQclear(r);
    if (rc != DS_OK)
      return rc;
    if (b->n >= want || kind_end || rows < page_n)
      break;
  }
  if (b->n > 0)
    return DS_OK;
  return ds_db_exec(c, "COMMIT", 0, NULL, NULL, err);
}

int agg_batch_lock_devices(PGconn *c, const struct agg_batch *b, char err[DS_ERRLEN])
{
  struct ds_buf kb;
  ds_buf_init(&kb, 3 + b->n * 12);
  int32_t keys[AGG_BATCH_MAX];
  for (size_t i = 0; i < b->n; i++)
    keys[i] = b->items[i].key;
  int rc = ds_db_int32_array(&kb, keys, b->n);
  if (rc != DS_OK) {
    ds_buf_cleanup(&kb);
    snprintf(err, DS_ERRLEN, "out of memory");
    return DS_ENOMEM;
  }
  /* The array is sorted and a function scan returns it in order, so the
   * locks are taken in key order (as a user's computation takes them). */
  const char *p[1] = {kb.data};
  rc = ds_db_exec(
      c, "SELECT pg_advisory_xact_lock(" DEVICE_LOCK_KEY ", k) FROM unnest($1::int[]) AS k", 1, p,
      NULL, err);
  ds_buf_cleanup(&kb);
  return rc;
}

/* The batch's parameters: keys, newest sample times (binary), and the 16
 * snapshot columns as arrays, for the items with code DS_OK. */
struct store_params {
  struct ds_buf keys, last, col[AGG_SNAP_NPARAMS];
  size_t n;
};

static void params_cleanup(struct store_params *sp)
{
  ds_buf_cleanup(&sp->keys);
  ds_buf_cleanup(&sp->last);
  for (int j = 0; j < AGG_SNAP_NPARAMS; j++)
    ds_buf_cleanup(&sp->col[j]);
}

static int params_build(const struct agg_batch *b, struct store_params *sp)
{
  /* Bounds: a key is at most 11 characters, a double 24, plus a comma. */
  ds_buf_init(&sp->keys, 3 + b->n * 12);
  ds_buf_init(&sp->last, 20 + b->n * 12);
  for (int j = 0; j < AGG_SNAP_NPARAMS; j++)
    ds_buf_init(&sp->col[j], 3 + b->n * 33);
  sp->n = 0;
  int rc = DS_OK;
  bool nulls = false;
  for (size_t i = 0; i < b->n; i++)
    if (b->items[i].code == DS_OK) {
      sp->n++;
      nulls = nulls || !b->items[i].has_last;
    }
  /* timestamptz[] in binary: ndim, has-nulls, element type, size, lower
   * bound, then (length, value) per element (-1: NULL). */
  if ((rc = ds_buf_append_be32(&sp->last, 1)) != DS_OK ||
      (rc = ds_buf_append_be32(&sp->last, nulls ? 1 : 0)) != DS_OK ||
      (rc = ds_buf_append_be32(&sp->last, TIMESTAMPTZOID)) != DS_OK ||
      (rc = ds_buf_append_be32(&sp->last, (uint32_t)sp->n)) != DS_OK ||
      (rc = ds_buf_append_be32(&sp->last, 1)) != DS_OK)
    return rc;
  rc = ds_buf_append(&sp->keys, "{", 1);
  for (int j = 0; rc == DS_OK && j < AGG_SNAP_NPARAMS; j++)
    rc = ds_buf_append(&sp->col[j], "{", 1);
  size_t k = 0;
  for (size_t i = 0; rc == DS_OK && i < b->n; i++) {
    const struct agg_batch_item *it = &b->items[i];
    if (it->code != DS_OK)
      continue;
    const char *sep = k++ ? "," : "";
    struct agg_snap_params p;
    agg_snap_params(&it->st, &p);
    rc = ds_buf_appendf(&sp->keys, "%s%" PRId32, sep, it->key);
    for (int j = 0; rc == DS_OK && j < AGG_SNAP_NPARAMS; j++)
      rc = ds_buf_appendf(&sp->col[j], "%s%s", sep, p.p[j] != NULL ? p.text[j] : "NULL");
    if (rc == DS_OK && it->has_last) {
      rc = ds_buf_append_be32(&sp->last, 8);
      if (rc == DS_OK)
        rc = ds_buf_append_be64(&sp->last, (uint64_t)it->last_pg);
    } else if (rc == DS_OK) {
      rc = ds_buf_append_be32(&sp->last, UINT32_MAX);
    }
  }
  if (rc == DS_OK)
    rc = ds_buf_append(&sp->keys, "}", 1);
  for (int j = 0; rc == DS_OK && j < AGG_SNAP_NPARAMS; j++)
    rc = ds_buf_append(&sp->col[j], "}", 1);
  return rc;
}

/* INSERT ... SELECT FROM unnest: one statement for the batch; on Citus the
 * rows go to their shards by device_id.  statement_timestamp(), not
 * clock_timestamp(): Citus refuses volatile functions in writes. */
static const char snap_sql[] =
    "INSERT INTO device_snapshots (device_id, request_id, computed_at, last_ts, " AGG_SNAP_COLS ")"
    " SELECT device_id, $1::text, statement_timestamp(), last_ts, " AGG_SNAP_COLS
    " FROM unnest($2::int[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::float8[],"
    "             $7::float8[], $8::float8[], $9::float8[], $10::bigint[], $11::float8[],"
    "             $12::float8[], $13::float8[], $14::float8[], $15::bigint[], $16::float8[],"
    "             $17::float8[], $18::float8[], $19::float8[])"
    "      AS s (device_id, last_ts, " AGG_SNAP_COLS ")"
    " ON CONFLICT (device_id) DO UPDATE SET " AGG_SNAP_SET;

static int fail_rollback(PGconn *c, int rc)
{
  ds_db_rollback(c);
  return rc;
}

/* Marks the failed items of b failed, with their reason. */
static int mark_failed(PGconn *c, const char *rid, const struct agg_batch *b, const char *me,
                       size_t *failed, char err[DS_ERRLEN])
{
  for (size_t i = 0; i < b->n; i++) {
    const struct agg_batch_item *it = &b->items[i];
    if (it->code == DS_OK)
      continue;
    char k[16], reason[96];
    snprintf(k, sizeof k, "%" PRId32, it->key);
    /* As a single item's failure read: "<code>: <why>". */
    snprintf(reason, sizeof reason, "%s: %s", ds_strerror(it->code),
             it->code == DS_ERANGE ? "too many samples" : "out of memory");
    const char *p[4] = {rid, k, reason, me};
    if (ds_db_exec(c,
                   "UPDATE recalc_work SET state = 'failed', error = $3, computed_by = $4,"
                   " done_at = statement_timestamp() WHERE request_id = $1 AND kind = 'd'"
                   " AND key = $2::int AND state = 'pending'",
                   4, p, NULL, err) != DS_OK)
      return DS_EDB;
    (*failed)++;
  }
  return DS_OK;
}

int agg_batch_store(PGconn *c, const char *rid, const struct agg_batch *b, const char *me,
                    size_t *done, size_t *failed, char err[DS_ERRLEN])
{
  *done = *failed = 0;
  struct store_params sp;
  int rc = params_build(b, &sp);
  if (rc != DS_OK) {
    params_cleanup(&sp);
    snprintf(err, DS_ERRLEN, "snapshot parameters: %s", ds_strerror(rc));
    return fail_rollback(c, rc);
  }
  if (sp.n > 0) {
    const char *p[19] = {rid, sp.keys.data, sp.last.data};
    int lens[19] = {0, 0, (int)sp.last.len};
    int fmts[19] = {0, 0, 1};
    for (int j = 0; j < AGG_SNAP_NPARAMS; j++)
      p[3 + j] = sp.col[j].data;
    PGresult *r = PQexecParams(c, snap_sql, 19, NULL, p, lens, fmts, 0);
    if (ds_db_result(c, r, NULL, err) != DS_OK) {
      params_cleanup(&sp);
      return fail_rollback(c, DS_EDB);
    }
    /* The sample counts come from the snapshots just written (a join on
     * the distribution column, co-located on Citus).  Citus 13.2 crashed on
     * the same counts as an array parameter indexed by array_position(key)
     * in a multi-shard UPDATE. */
    const char *q[3] = {rid, me, sp.keys.data};
    r = NULL;
    if (ds_db_exec(c,
                   "UPDATE recalc_work w SET state = 'done', computed_by = $2,"
                   " done_at = statement_timestamp(), samples = s.sample_count"
                   " FROM device_snapshots s WHERE s.device_id = w.key AND s.request_id = $1"
                   " AND w.request_id = $1 AND w.kind = 'd' AND w.key = ANY ($3::int[])"
                   " AND w.state = 'pending'",
                   3, q, &r, err) != DS_OK) {
      params_cleanup(&sp);
      return fail_rollback(c, DS_EDB);
    }
    long long marked = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (marked != (long long)sp.n) {
      /* Cannot happen while the claim's row locks hold; refuse to commit a
       * second computation of the same items rather than trust it. */
      snprintf(err, DS_ERRLEN, "%lld of %zu work items of %s were still pending", marked, sp.n,
               rid);
      params_cleanup(&sp);
      return fail_rollback(c, DS_ECONFLICT);
    }
    char n[24];
    snprintf(n, sizeof n, "%zu", sp.n);
    const char *u[2] = {rid, n};
    if (ds_db_exec(c,
                   "UPDATE recalc_runs SET devices_done = devices_done + $2::int"
                   " WHERE request_id = $1",
                   2, u, NULL, err) != DS_OK) {
      params_cleanup(&sp);
      return fail_rollback(c, DS_EDB);
    }
  }
  *done = sp.n;
  params_cleanup(&sp);
  if (mark_failed(c, rid, b, me, failed, err) != DS_OK ||
      ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) != DS_OK) {
    *done = *failed = 0;
    return fail_rollback(c, DS_EDB);
  }
  return DS_OK;
}
