/* Reading samples back for statistics: both sample tables, in PostgreSQL's
 * binary format, into plain value arrays, with one statement in single-row
 * mode, so libpq never holds more than one chunk (or one recent row) at a
 * time: memory is the output arrays plus one chunk.  Reads directly or
 * through the decoded-chunk cache (chunk_cache.c).  The statements are in
 * store.c. */
#include "ds/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_cache_internal.h"
#include "ds/db.h"
#include "ds/time.h"
#include "store_chunk.h"
#include "store_stmt.h"

/* ---- value arrays ---- */

static int grow_array(void **p, size_t elem, size_t cap)
{
  void *q = realloc(*p, elem * cap);
  if (q == NULL)
    return DS_ENOMEM;
  *p = q;
  return DS_OK;
}

/* Makes room for extra more values (and times when want_ts): grows the
 * arrays, or in flush mode hands the values so far to the flush function
 * (extra <= cap there: callers add at most cap values at a time).
 * DS_ERANGE past max, counting the values flushed. */
int ds_store_values_reserve(struct ds_values *v, size_t extra, bool want_ts)
{
  if (extra > v->max || v->flushed > v->max - extra || v->n > v->max - extra - v->flushed)
    return DS_ERANGE;
  if (v->flush != NULL && extra > v->cap - v->n) {
    if (extra > v->cap)
      return DS_ERANGE;
    int rc = v->flush(v->flush_arg, v);
    if (rc != DS_OK)
      return rc;
    v->flushed += v->n;
    v->n = 0;
  }
  size_t need = v->n + extra;
  bool ts_missing = want_ts && v->ts == NULL;
  if (need <= v->cap && !ts_missing)
    return DS_OK;
  if (v->fixed)
    return DS_ERANGE;
  size_t cap = v->cap;
  if (need > cap) {
    cap = cap < 1024 ? 1024 : cap * 2;
    if (cap < need)
      cap = need;
    if (cap > v->max)
      cap = v->max;
  }
  int rc;
  if ((rc = grow_array((void **)&v->x, sizeof(double), cap)) != DS_OK ||
      (rc = grow_array((void **)&v->y, sizeof(double), cap)) != DS_OK ||
      (rc = grow_array((void **)&v->z, sizeof(double), cap)) != DS_OK)
    return rc;
  if ((want_ts || v->ts != NULL) &&
      (rc = grow_array((void **)&v->ts, sizeof(int64_t), cap)) != DS_OK)
    return rc;
  v->cap = cap;
  return DS_OK;
}

/* ds_store_values_reserve with the reason in err. */
static int reserve(struct ds_values *v, size_t extra, bool want_ts, char err[DS_ERRLEN])
{
  int rc = ds_store_values_reserve(v, extra, want_ts);
  if (rc == DS_ERANGE)
    snprintf(err, DS_ERRLEN, "too many samples");
  else if (rc == DS_ENOMEM)
    snprintf(err, DS_ERRLEN, "out of memory");
  else if (rc != DS_OK)
    snprintf(err, DS_ERRLEN, "cannot take the samples read");
  return rc;
}

/* How many of a chunk's n values to add at a time: all, or at most the
 * arrays' size in flush mode. */
static size_t slice_size(const struct ds_values *v, size_t n)
{
  return v->flush != NULL && v->cap < n ? v->cap : n;
}

/* ---- binary decoding (the arrays are checked by store_chunk.c) ---- */

/* Decodes the n float8 elements from i0 on at body into out; with keep,
 * only those where keep[i - i0] is set.  Returns how many were written. */
static size_t decode_f8(const unsigned char *body, size_t i0, size_t n, const unsigned char *keep,
                        double *out)
{
  size_t k = 0;
  if (keep == NULL) {
    for (size_t i = 0; i < n; i++)
      out[i] = ds_store_chunk_f8(body, i0 + i);
    return n;
  }
  for (size_t i = 0; i < n; i++)
    if (keep[i])
      out[k++] = ds_store_chunk_f8(body, i0 + i);
  return k;
}

/* Scratch space for one chunk's filter mask. */
struct scratch {
  unsigned char *keep;
  size_t cap;
};

static int scratch_reserve(struct scratch *s, size_t n)
{
  if (n <= s->cap)
    return DS_OK;
  unsigned char *k = realloc(s->keep, n);
  if (k == NULL)
    return DS_ENOMEM;
  s->keep = k;
  s->cap = n;
  return DS_OK;
}

/* Checks the arrays of a chunk row whose columns col0.. are n, x, y, z and
 * ts-or-NULL, and points *n and b[0..4) at them (b[3] NULL for no ts). */
static int chunk_arrays(PGresult *res, int col0, size_t *n, const unsigned char *b[4],
                        char err[DS_ERRLEN])
{
  struct ds_store_cell cells[5];
  for (int i = 0; i < 5; i++) {
    cells[i].data = PQgetvalue(res, 0, col0 + i);
    cells[i].len = PQgetlength(res, 0, col0 + i);
    cells[i].isnull = PQgetisnull(res, 0, col0 + i) != 0;
  }
  return ds_store_chunk_arrays(cells, n, b, err);
}

/* Appends the values i0..i0+m of a chunk's arrays b (b[3], the times, NULL
 * when the chunk is wholly inside the range) that lie inside the range. */
static int add_slice(const unsigned char *b[4], size_t i0, size_t m, int64_t start_pg,
                     int64_t end_pg, bool want_ts, struct ds_values *out, struct scratch *sc,
                     char err[DS_ERRLEN])
{
  const unsigned char *keep = NULL, *bt = b[3];
  size_t kept = m;
  if (bt != NULL) {
    /* A chunk straddling a bound: keep the samples inside [start, end). */
    if (scratch_reserve(sc, m) != DS_OK) {
      snprintf(err, DS_ERRLEN, "out of memory");
      return DS_ENOMEM;
    }
    kept = 0;
    for (size_t i = 0; i < m; i++) {
      int64_t t = ds_store_chunk_ts(bt, i0 + i);
      sc->keep[i] = t >= start_pg && t < end_pg;
      kept += sc->keep[i];
    }
    keep = sc->keep;
  }
  if (kept == 0)
    return DS_OK;
  /* Room for exactly the values kept: a limit counts samples in the range. */
  int rc = reserve(out, kept, want_ts, err);
  if (rc != DS_OK)
    return rc;
  if (want_ts)
    for (size_t i = 0, k = out->n; i < m; i++)
      if (sc->keep[i])
        out->ts[k++] = ds_pg_ts_to_unix(ds_store_chunk_ts(bt, i0 + i));
  decode_f8(b[0], i0, m, keep, out->x + out->n);
  decode_f8(b[1], i0, m, keep, out->y + out->n);
  decode_f8(b[2], i0, m, keep, out->z + out->n);
  out->n += kept;
  return DS_OK;
}

/* Appends one chunk row (columns col0..: n, x, y, z, ts-or-NULL) to out. */
static int add_chunk(PGresult *res, int col0, int64_t start_pg, int64_t end_pg, bool want_ts,
                     struct ds_values *out, struct scratch *sc, char err[DS_ERRLEN])
{
  size_t n;
  const unsigned char *b[4];
  int rc = chunk_arrays(res, col0, &n, b, err);
  if (rc != DS_OK)
    return rc;
  if (want_ts && b[3] == NULL) {
    snprintf(err, DS_ERRLEN, "chunk without times");
    return DS_EDB;
  }
  size_t step = slice_size(out, n);
  for (size_t i0 = 0; i0 < n && rc == DS_OK; i0 += step)
    rc = add_slice(b, i0, n - i0 < step ? n - i0 : step, start_pg, end_pg, want_ts, out, sc, err);
  return rc;
}

/* Reads the chunks overlapping the range and the recent rows inside it, in
 * single-row mode: libpq holds one row at a time. */
static int fetch_samples(PGconn *conn, struct ds_store_stmts *st, const char *keys_text,
                         int64_t start_pg, int64_t end_pg, bool want_ts, struct ds_values *out,
                         char err[DS_ERRLEN])
{
  int rc = ds_store_prepare(conn, st, DS_ST_SAMPLES, err);
  if (rc != DS_OK)
    return rc;
  uint64_t s_be = (uint64_t)start_pg, e_be = (uint64_t)end_pg;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  s_be = __builtin_bswap64(s_be);
  e_be = __builtin_bswap64(e_be);
#endif
  char want = want_ts ? 1 : 0;
  const char *vals[4] = {keys_text, (const char *)&s_be, (const char *)&e_be, &want};
  int lens[4] = {0, 8, 8, 1};
  int fmts[4] = {0, 1, 1, 1};
  if (!PQsendQueryPrepared(conn, ds_store_stmt_name(DS_ST_SAMPLES), 4, vals, lens, fmts, 1)) {
    ds_db_errmsg(conn, NULL, err);
    return DS_EDB;
  }
  if (!PQsetSingleRowMode(conn)) {
    snprintf(err, DS_ERRLEN, "cannot enter single-row mode");
    rc = DS_EDB;
  }
  struct scratch sc = {0};
  PGresult *res;
  /* Every result must be consumed, even after an error. */
  while ((res = PQgetResult(conn)) != NULL) {
    ExecStatusType status = PQresultStatus(res);
    if (rc == DS_OK) {
      if (status == PGRES_SINGLE_TUPLE && PQnfields(res) != 5) {
        snprintf(err, DS_ERRLEN, "unexpected chunk row shape");
        rc = DS_EDB;
      } else if (status == PGRES_SINGLE_TUPLE)
        rc = add_chunk(res, 0, start_pg, end_pg, want_ts, out, &sc, err);
      else if (status != PGRES_TUPLES_OK) {
        ds_db_errmsg(conn, res, err);
        rc = DS_EDB;
      }
    }
    PQclear(res);
  }
  free(sc.keep);
  return rc;
}

/* keys as the text of an int4[] parameter, "{1,2,3}", into b (made here,
 * the caller cleans it up). */
static int keys_param(struct ds_buf *b, const int32_t *keys, size_t nkeys, char err[DS_ERRLEN])
{
  /* One allocation: at most 11 characters and a comma per key. */
  ds_buf_init(b, 3 + nkeys * 12);
  int rc = ds_buf_reserve(b, 3 + nkeys * 12);
  if (rc == DS_OK)
    rc = ds_db_int32_array(b, keys, nkeys);
  if (rc != DS_OK)
    snprintf(err, DS_ERRLEN, "out of memory");
  return rc == DS_OK ? DS_OK : DS_ENOMEM;
}

int ds_store_fetch(PGconn *conn, struct ds_store_stmts *st, const int32_t *keys, size_t nkeys,
                   int64_t start_us, int64_t end_us, bool want_ts, struct ds_values *out,
                   char err[DS_ERRLEN])
{
  if (nkeys == 0)
    return DS_OK;
  /* Unbounded sides become -infinity / infinity in binary timestamptz. */
  int64_t start_pg = start_us == DS_TIME_NONE ? INT64_MIN : ds_pg_ts_from_unix(start_us);
  int64_t end_pg = end_us == DS_TIME_NONE ? INT64_MAX : ds_pg_ts_from_unix(end_us);
  struct ds_buf kb;
  int rc = keys_param(&kb, keys, nkeys, err);
  size_t n0 = out->n;
  if (rc == DS_OK)
    rc = fetch_samples(conn, st, kb.data, start_pg, end_pg, want_ts, out, err);
  if (rc != DS_OK)
    out->n = n0;
  ds_buf_cleanup(&kb);
  return rc;
}

/* ---- fetching through the chunk cache ---- */

static int64_t rd_i64(PGresult *res, int col)
{
  return (int64_t)ds_buf_get_be64((const unsigned char *)PQgetvalue(res, 0, col));
}

/* Appends the samples of a decoded chunk inside [start_pg, end_pg). */
static int add_entry(const struct ds_chunk *e, int64_t start_pg, int64_t end_pg, bool want_ts,
                     struct ds_values *out, char err[DS_ERRLEN])
{
  bool whole = e->first_ts >= start_pg && e->last_ts < end_pg;
  size_t step = slice_size(out, e->n);
  for (size_t i0 = 0; i0 < e->n; i0 += step) {
    size_t m = e->n - i0 < step ? e->n - i0 : step, kept = m;
    if (!whole) {
      kept = 0;
      for (size_t i = i0; i < i0 + m; i++)
        kept += e->ts[i] >= start_pg && e->ts[i] < end_pg;
    }
    if (kept == 0)
      continue;
    /* Room for exactly the values kept: a limit counts samples in the range. */
    int rc = reserve(out, kept, want_ts, err);
    if (rc != DS_OK)
      return rc;
    size_t k = out->n;
    if (whole) {
      memcpy(out->x + k, e->x + i0, m * sizeof(double));
      memcpy(out->y + k, e->y + i0, m * sizeof(double));
      memcpy(out->z + k, e->z + i0, m * sizeof(double));
      if (want_ts)
        for (size_t i = 0; i < m; i++)
          out->ts[k + i] = ds_pg_ts_to_unix(e->ts[i0 + i]);
      out->n += m;
      continue;
    }
    for (size_t i = i0; i < i0 + m; i++) {
      int64_t t = e->ts[i];
      if (t < start_pg || t >= end_pg)
        continue;
      out->x[k] = e->x[i];
      out->y[k] = e->y[i];
      out->z[k] = e->z[i];
      if (want_ts)
        out->ts[k] = ds_pg_ts_to_unix(t);
      k++;
    }
    out->n = k;
  }
  return DS_OK;
}

static int cmp_chunk_id(const void *a, const void *b)
{
  int64_t x = (*(struct ds_chunk *const *)a)->id, y = (*(struct ds_chunk *const *)b)->id;
  return (x > y) - (x < y);
}

/* The pinned entry with chunk_id id (pins sorted by id), or NULL. */
static struct ds_chunk *pin_find(struct ds_chunk **pins, size_t npins, int64_t id)
{
  size_t lo = 0, hi = npins;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (pins[mid]->id == id)
      return pins[mid];
    if (pins[mid]->id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* What a fetch through the cache needs besides its statement's results. */
struct cached_ctx {
  struct ds_chunk_cache *cache;
  struct ds_chunk **pins; /* sorted by id */
  size_t npins;
  int64_t start_pg, end_pg;
  bool want_ts;
  bool stale; /* a named chunk came back different: see below */
  uint64_t hits, misses;
  struct scratch sc;
};

/* Decodes a whole chunk row (with its times) into a new cache entry. */
static int decode_entry(PGresult *res, int64_t id, int32_t dev, struct ds_chunk **out,
                        char err[DS_ERRLEN])
{
  size_t n;
  const unsigned char *b[4];
  int rc = chunk_arrays(res, 4, &n, b, err);
  if (rc != DS_OK)
    return rc;
  struct ds_chunk *e = dscc_chunk_new(id, dev, rd_i64(res, 2), rd_i64(res, 3), n);
  if (e == NULL) {
    snprintf(err, DS_ERRLEN, "out of memory");
    return DS_ENOMEM;
  }
  decode_f8(b[0], 0, n, NULL, e->x);
  decode_f8(b[1], 0, n, NULL, e->y);
  decode_f8(b[2], 0, n, NULL, e->z);
  for (size_t i = 0; i < n; i++)
    e->ts[i] = ds_store_chunk_ts(b[3], i);
  *out = e;
  return DS_OK;
}

/* One row of ds_store_samples_cached: chunk_id, device_id, first_ts,
 * last_ts, then n, x, y, z, ts as ds_store_samples. */
static int add_cached_row(PGresult *res, struct cached_ctx *cx, struct ds_values *out,
                          char err[DS_ERRLEN])
{
  if (PQnfields(res) != 9 || PQgetlength(res, 0, 1) != 4 || PQgetlength(res, 0, 2) != 8 ||
      PQgetlength(res, 0, 3) != 8 || PQgetlength(res, 0, 4) != 4 ||
      (!PQgetisnull(res, 0, 0) && PQgetlength(res, 0, 0) != 8)) {
    snprintf(err, DS_ERRLEN, "unexpected chunk row shape");
    return DS_EDB;
  }
  if (PQgetisnull(res, 0, 0)) /* a recent row */
    return add_chunk(res, 4, cx->start_pg, cx->end_pg, cx->want_ts, out, &cx->sc, err);
  int64_t id = rd_i64(res, 0);
  int32_t dev = (int32_t)ds_buf_get_be32((const unsigned char *)PQgetvalue(res, 0, 1));
  int64_t first = rd_i64(res, 2), last = rd_i64(res, 3);
  if (PQgetisnull(res, 0, 5)) {
    /* Named in $5, so pinned.  A chunk_id's content never changes, but a
     * recreated database restarts the identity: an entry whose device,
     * bounds or size differ proves that, and the caller starts over. */
    struct ds_chunk *e = pin_find(cx->pins, cx->npins, id);
    size_t n = ds_buf_get_be32((const unsigned char *)PQgetvalue(res, 0, 4));
    if (e == NULL || e->device != dev || e->first_ts != first || e->last_ts != last || e->n != n) {
      cx->stale = true;
      return DS_OK;
    }
    cx->hits++;
    return add_entry(e, cx->start_pg, cx->end_pg, cx->want_ts, out, err);
  }
  cx->misses++;
  bool partial = first < cx->start_pg || last >= cx->end_pg;
  if (!partial || PQgetisnull(res, 0, 8))
    return add_chunk(res, 4, cx->start_pg, cx->end_pg, cx->want_ts, out, &cx->sc, err);
  /* Only chunks the range covers partially are kept: short ranges (the
   * hot case) land in them, and long reads do not flush the cache. */
  struct ds_chunk *e = NULL;
  int rc = decode_entry(res, id, dev, &e, err);
  if (rc == DS_OK)
    rc = add_entry(e, cx->start_pg, cx->end_pg, cx->want_ts, out, err);
  if (rc == DS_OK)
    dscc_insert(cx->cache, e);
  dscc_release(cx->cache, e);
  return rc;
}

/* Runs ds_store_samples_cached with the pinned ids and adds every row. */
static int fetch_samples_cached(PGconn *conn, struct ds_store_stmts *st, const char *keys_text,
                                const char *ids_text, struct cached_ctx *cx, struct ds_values *out,
                                char err[DS_ERRLEN])
{
  int rc = ds_store_prepare(conn, st, DS_ST_SAMPLES_CACHED, err);
  if (rc != DS_OK)
    return rc;
  uint64_t s_be = (uint64_t)cx->start_pg, e_be = (uint64_t)cx->end_pg;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  s_be = __builtin_bswap64(s_be);
  e_be = __builtin_bswap64(e_be);
#endif
  char want = cx->want_ts ? 1 : 0;
  const char *vals[5] = {keys_text, (const char *)&s_be, (const char *)&e_be, &want, ids_text};
  int lens[5] = {0, 8, 8, 1, 0};
  int fmts[5] = {0, 1, 1, 1, 0};
  if (!PQsendQueryPrepared(conn, ds_store_stmt_name(DS_ST_SAMPLES_CACHED), 5, vals, lens, fmts,
                           1)) {
    ds_db_errmsg(conn, NULL, err);
    return DS_EDB;
  }
  if (!PQsetSingleRowMode(conn)) {
    snprintf(err, DS_ERRLEN, "cannot enter single-row mode");
    rc = DS_EDB;
  }
  PGresult *res;
  /* Every result must be consumed, even after an error. */
  while ((res = PQgetResult(conn)) != NULL) {
    ExecStatusType status = PQresultStatus(res);
    if (rc == DS_OK && !cx->stale) {
      if (status == PGRES_SINGLE_TUPLE)
        rc = add_cached_row(res, cx, out, err);
      else if (status != PGRES_TUPLES_OK) {
        ds_db_errmsg(conn, res, err);
        rc = DS_EDB;
      }
    }
    PQclear(res);
  }
  return rc;
}

/* The pinned ids as the text of an int8[] parameter, into b (made here,
 * the caller cleans it up). */
static int ids_param(struct ds_buf *b, struct ds_chunk **pins, size_t npins, char err[DS_ERRLEN])
{
  int64_t ids[DS_CHUNK_CACHE_PIN_MAX];
  for (size_t i = 0; i < npins; i++)
    ids[i] = pins[i]->id;
  /* One allocation: at most 20 characters and a comma per id. */
  ds_buf_init(b, 3 + npins * 21);
  int rc = ds_buf_reserve(b, 3 + npins * 21);
  if (rc == DS_OK)
    rc = ds_db_int64_array(b, ids, npins);
  if (rc != DS_OK)
    snprintf(err, DS_ERRLEN, "out of memory");
  return rc == DS_OK ? DS_OK : DS_ENOMEM;
}

int ds_store_fetch_cached(PGconn *conn, struct ds_store_stmts *st, struct ds_chunk_cache *cache,
                          const int32_t *keys, size_t nkeys, int64_t start_us, int64_t end_us,
                          bool want_ts, struct ds_values *out, char err[DS_ERRLEN])
{
  if (cache == NULL)
    return ds_store_fetch(conn, st, keys, nkeys, start_us, end_us, want_ts, out, err);
  if (nkeys == 0)
    return DS_OK;
  struct cached_ctx cx = {
      .cache = cache,
      .start_pg = start_us == DS_TIME_NONE ? INT64_MIN : ds_pg_ts_from_unix(start_us),
      .end_pg = end_us == DS_TIME_NONE ? INT64_MAX : ds_pg_ts_from_unix(end_us),
      .want_ts = want_ts,
  };
  size_t n0 = out->n;
  struct ds_buf kb, ib;
  ds_buf_init(&ib, 0);
  int rc = keys_param(&kb, keys, nkeys, err);
  if (rc != DS_OK)
    goto out;
  rc = DS_ENOMEM;
  cx.pins = malloc(DS_CHUNK_CACHE_PIN_MAX * sizeof *cx.pins);
  if (cx.pins == NULL) {
    snprintf(err, DS_ERRLEN, "out of memory");
    goto out;
  }
  /* The pins keep the entries alive until the rows are read, however the
   * cache evicts meanwhile. */
  dscc_pin_range(cache, keys, nkeys, cx.start_pg, cx.end_pg, cx.pins, DS_CHUNK_CACHE_PIN_MAX,
                 &cx.npins);
  qsort(cx.pins, cx.npins, sizeof *cx.pins, cmp_chunk_id);
  if ((rc = ids_param(&ib, cx.pins, cx.npins, err)) != DS_OK)
    goto out;
  rc = fetch_samples_cached(conn, st, kb.data, ib.data, &cx, out, err);
  if (rc == DS_OK && cx.stale) {
    /* The cache describes another database: empty it and read everything
     * (in the caller's transaction, if any, the same snapshot). */
    dscc_clear(cache);
    out->n = n0;
    cx.stale = false;
    rc = fetch_samples_cached(conn, st, kb.data, "{}", &cx, out, err);
    if (rc == DS_OK && cx.stale) {
      snprintf(err, DS_ERRLEN, "chunk cache inconsistent");
      rc = DS_EDB;
    }
  }
  dscc_count(cache, cx.hits, cx.misses);
out:
  if (rc != DS_OK)
    out->n = n0;
  for (size_t i = 0; i < cx.npins; i++)
    dscc_release(cache, cx.pins[i]);
  free(cx.pins);
  free(cx.sc.keep);
  ds_buf_cleanup(&ib);
  ds_buf_cleanup(&kb);
  return rc;
}
