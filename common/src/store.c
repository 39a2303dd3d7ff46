/* Reading samples back for statistics: both sample tables, in PostgreSQL's
 * binary format, into plain value arrays, with one statement in single-row
 * mode, so libpq never holds more than one chunk (or one recent row) at a
 * time: memory is the output arrays plus one chunk. */
#include "ds/store.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ds/db.h"
#include "ds/time.h"

#define INT4ARR_TEXT_MAX 16

/* ---- prepared statements, once per connection ---- */

enum stmt {
  ST_DEVICE_KEY,
  ST_SAMPLES,
  ST_COMPACT,
  ST_MERGE,
  ST_N,
};

static const struct {
  const char *name;
  const char *sql;
  int nparams;
} stmts[ST_N] = {
    [ST_DEVICE_KEY] = {"ds_store_device_key", "SELECT id FROM devices WHERE name = $1", 1},
    /* ts is sent only when a chunk is not wholly inside the range or the
     * caller wants times: a CASE that yields NULL leaves the array toasted. */
    /* One statement reads both tables, so they are seen in one snapshot (a
     * concurrent ds_compact cannot make a sample appear twice or not at all)
     * without a transaction's extra round trips.  Recent rows come as
     * one-element arrays, so every row has the chunk shape.  ts is sent only
     * when a chunk is not wholly inside the range or the caller wants times:
     * a CASE that yields NULL leaves the array toasted. */
    [ST_SAMPLES] = {"ds_store_samples",
                    "SELECT n, x, y, z,"
                    " CASE WHEN $4 OR first_ts < $2 OR last_ts >= $3 THEN ts END"
                    " FROM sample_chunks"
                    " WHERE device_id = ANY ($1::int4[]) AND first_ts < $3 AND last_ts >= $2"
                    " UNION ALL"
                    " SELECT 1, ARRAY[x], ARRAY[y], ARRAY[z], CASE WHEN $4 THEN ARRAY[ts] END"
                    " FROM samples_recent"
                    " WHERE device_id = ANY ($1::int4[]) AND ts >= $2 AND ts < $3",
                    4},
    [ST_COMPACT] = {"ds_store_compact", "SELECT ds_compact($1::int4, $2::int4)", 2},
    [ST_MERGE] = {"ds_store_merge", "SELECT ds_merge_chunks($1::int4, $2::int4)", 2},
};

/* Which statements this thread's connection has prepared.  A one-entry
 * cache per thread is enough: each thread of ours uses one connection.  The
 * backend pid guards against a new connection at a recycled address. */
static _Thread_local struct {
  const PGconn *conn;
  int pid;
  unsigned mask;
} prep_cache;

static int ensure_prepared(PGconn *conn, enum stmt s, char err[DS_ERRLEN])
{
  int pid = PQbackendPID(conn);
  if (prep_cache.conn != conn || prep_cache.pid != pid) {
    prep_cache.conn = conn;
    prep_cache.pid = pid;
    prep_cache.mask = 0;
  }
  if (prep_cache.mask & (1u << s))
    return DS_OK;
  PGresult *res = PQprepare(conn, stmts[s].name, stmts[s].sql, stmts[s].nparams, NULL);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    ds_db_errmsg(conn, res, err);
    PQclear(res);
    return DS_EDB;
  }
  PQclear(res);
  prep_cache.mask |= 1u << s;
  return DS_OK;
}

/* ---- value arrays ---- */

void ds_values_init(struct ds_values *v, size_t max)
{
  memset(v, 0, sizeof *v);
  v->max = max;
}

void ds_values_cleanup(struct ds_values *v)
{
  DS_FREE(v->x);
  DS_FREE(v->y);
  DS_FREE(v->z);
  DS_FREE(v->ts);
  v->n = v->cap = 0;
}

void ds_values_reset(struct ds_values *v) { v->n = 0; }

static int grow_array(void **p, size_t elem, size_t cap)
{
  void *q = realloc(*p, elem * cap);
  if (q == NULL)
    return DS_ENOMEM;
  *p = q;
  return DS_OK;
}

/* Makes room for extra more values (and times when want_ts). */
static int values_reserve(struct ds_values *v, size_t extra, bool want_ts)
{
  if (extra > v->max || v->n > v->max - extra)
    return DS_ERANGE;
  size_t need = v->n + extra;
  bool ts_missing = want_ts && v->ts == NULL;
  if (need <= v->cap && !ts_missing)
    return DS_OK;
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
  if ((want_ts || v->ts != NULL) && (rc = grow_array((void **)&v->ts, sizeof(int64_t), cap)) != DS_OK)
    return rc;
  v->cap = cap;
  return DS_OK;
}

/* ---- binary decoding ---- */

static inline uint32_t rd32(const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t rd64(const unsigned char *p)
{
  uint64_t v;
  memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static inline double rd_double(const unsigned char *p)
{
  uint64_t u = rd64(p);
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/* Checks a binary one-dimensional array header of n non-null 8-byte
 * elements of type oid and returns a pointer to the first (len, bytes) pair. */
static const unsigned char *array_body(const char *data, int len, uint32_t oid, size_t n,
                                       char err[DS_ERRLEN])
{
  const unsigned char *p = (const unsigned char *)data;
  size_t l = (size_t)len;
  if (l < 12)
    goto bad;
  uint32_t ndim = rd32(p);
  if (rd32(p + 8) != oid)
    goto bad;
  if (ndim == 0)
    return n == 0 ? p + 12 : NULL;
  if (ndim != 1 || l < 20 || rd32(p + 12) != n || l != 20 + n * 12)
    goto bad;
  return p + 20;
bad:
  snprintf(err, DS_ERRLEN, "unexpected binary array (type %u, %zu elements)", (unsigned)oid, n);
  return NULL;
}

#define FLOAT8OID 701
#define TIMESTAMPTZOID 1184

/* Decodes n float8 elements at body into out; with keep, only those where
 * keep[i] is set.  Returns how many were written. */
static size_t decode_f8(const unsigned char *body, size_t n, const unsigned char *keep,
                        double *out)
{
  size_t k = 0;
  if (keep == NULL) {
    for (size_t i = 0; i < n; i++)
      out[i] = rd_double(body + i * 12 + 4);
    return n;
  }
  for (size_t i = 0; i < n; i++)
    if (keep[i])
      out[k++] = rd_double(body + i * 12 + 4);
  return k;
}

/* Element lengths must all be 8 (no NULLs). */
static bool lens_ok(const unsigned char *body, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (rd32(body + i * 12) != 8)
      return false;
  return true;
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

/* Appends one chunk row (n, x, y, z, ts-or-NULL) to out. */
static int add_chunk(PGresult *res, int64_t start_pg, int64_t end_pg, bool want_ts,
                     struct ds_values *out, struct scratch *sc, char err[DS_ERRLEN])
{
  if (PQnfields(res) != 5 || PQgetlength(res, 0, 0) != 4) {
    snprintf(err, DS_ERRLEN, "unexpected chunk row shape");
    return DS_EDB;
  }
  size_t n = rd32((const unsigned char *)PQgetvalue(res, 0, 0));
  const unsigned char *bx, *by, *bz, *bt = NULL;
  if ((bx = array_body(PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1), FLOAT8OID, n, err)) == NULL ||
      (by = array_body(PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2), FLOAT8OID, n, err)) == NULL ||
      (bz = array_body(PQgetvalue(res, 0, 3), PQgetlength(res, 0, 3), FLOAT8OID, n, err)) == NULL)
    return DS_EDB;
  if (!PQgetisnull(res, 0, 4) &&
      (bt = array_body(PQgetvalue(res, 0, 4), PQgetlength(res, 0, 4), TIMESTAMPTZOID, n, err)) ==
          NULL)
    return DS_EDB;
  if (!lens_ok(bx, n) || !lens_ok(by, n) || !lens_ok(bz, n) || (bt != NULL && !lens_ok(bt, n))) {
    snprintf(err, DS_ERRLEN, "NULL element in a sample chunk");
    return DS_EDB;
  }
  if (want_ts && bt == NULL) {
    snprintf(err, DS_ERRLEN, "chunk without times");
    return DS_EDB;
  }
  int rc = values_reserve(out, n, want_ts);
  if (rc != DS_OK) {
    snprintf(err, DS_ERRLEN, "%s", rc == DS_ERANGE ? "too many samples" : "out of memory");
    return rc;
  }
  const unsigned char *keep = NULL;
  size_t kept = n;
  if (bt != NULL) {
    /* A chunk straddling a bound: keep the samples inside [start, end). */
    if ((rc = scratch_reserve(sc, n)) != DS_OK) {
      snprintf(err, DS_ERRLEN, "out of memory");
      return rc;
    }
    kept = 0;
    int64_t *ts_out = want_ts ? out->ts + out->n : NULL;
    for (size_t i = 0; i < n; i++) {
      int64_t t = (int64_t)rd64(bt + i * 12 + 4);
      sc->keep[i] = t >= start_pg && t < end_pg;
      if (sc->keep[i]) {
        if (ts_out != NULL)
          ts_out[kept] = ds_pg_ts_to_unix(t);
        kept++;
      }
    }
    keep = sc->keep;
  }
  decode_f8(bx, n, keep, out->x + out->n);
  decode_f8(by, n, keep, out->y + out->n);
  decode_f8(bz, n, keep, out->z + out->n);
  out->n += kept;
  return DS_OK;
}

/* Reads the chunks overlapping the range and the recent rows inside it, in
 * single-row mode: libpq holds one row at a time. */
static int fetch_samples(PGconn *conn, const char *keys_text, int64_t start_pg, int64_t end_pg,
                        bool want_ts, struct ds_values *out, char err[DS_ERRLEN])
{
  int rc = ensure_prepared(conn, ST_SAMPLES, err);
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
  if (!PQsendQueryPrepared(conn, stmts[ST_SAMPLES].name, 4, vals, lens, fmts, 1)) {
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
    ExecStatusType st = PQresultStatus(res);
    if (rc == DS_OK) {
      if (st == PGRES_SINGLE_TUPLE)
        rc = add_chunk(res, start_pg, end_pg, want_ts, out, &sc, err);
      else if (st != PGRES_TUPLES_OK) {
        ds_db_errmsg(conn, res, err);
        rc = DS_EDB;
      }
    }
    PQclear(res);
  }
  free(sc.keep);
  return rc;
}

/* keys as an int4[] literal "{1,2,3}". */
static char *keys_literal(const int32_t *keys, size_t nkeys)
{
  size_t cap = 3 + nkeys * INT4ARR_TEXT_MAX;
  char *s = malloc(cap);
  if (s == NULL)
    return NULL;
  size_t len = 0;
  s[len++] = '{';
  for (size_t i = 0; i < nkeys; i++) {
    int w = snprintf(s + len, cap - len, "%s%" PRId32, i ? "," : "", keys[i]);
    if (w < 0 || (size_t)w >= cap - len) {
      free(s);
      return NULL;
    }
    len += (size_t)w;
  }
  s[len++] = '}';
  s[len] = '\0';
  return s;
}

int ds_store_fetch(PGconn *conn, const int32_t *keys, size_t nkeys, int64_t start_us,
                   int64_t end_us, bool want_ts, struct ds_values *out, char err[DS_ERRLEN])
{
  if (nkeys == 0)
    return DS_OK;
  /* Unbounded sides become -infinity / infinity in binary timestamptz. */
  int64_t start_pg = start_us == DS_TIME_NONE ? INT64_MIN : ds_pg_ts_from_unix(start_us);
  int64_t end_pg = end_us == DS_TIME_NONE ? INT64_MAX : ds_pg_ts_from_unix(end_us);
  char *keys_text = keys_literal(keys, nkeys);
  if (keys_text == NULL) {
    snprintf(err, DS_ERRLEN, "out of memory");
    return DS_ENOMEM;
  }
  size_t n0 = out->n;
  int rc = fetch_samples(conn, keys_text, start_pg, end_pg, want_ts, out, err);
  if (rc != DS_OK)
    out->n = n0;
  free(keys_text);
  return rc;
}

int ds_store_device_key(PGconn *conn, const char *name, int32_t *key, char err[DS_ERRLEN])
{
  int rc = ensure_prepared(conn, ST_DEVICE_KEY, err);
  if (rc != DS_OK)
    return rc;
  const char *vals[1] = {name};
  PGresult *res = PQexecPrepared(conn, stmts[ST_DEVICE_KEY].name, 1, vals, NULL, NULL, 1);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    ds_db_errmsg(conn, res, err);
    rc = DS_EDB;
  } else if (PQntuples(res) == 0) {
    snprintf(err, DS_ERRLEN, "unknown device");
    rc = DS_ENOTFOUND;
  } else if (PQgetlength(res, 0, 0) != 4) {
    snprintf(err, DS_ERRLEN, "unexpected device key size");
    rc = DS_EDB;
  } else {
    *key = (int32_t)rd32((const unsigned char *)PQgetvalue(res, 0, 0));
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

/* Runs one of the (device key, count) -> count functions; *out gets its
 * result, which must lie in [0, max]. */
static int call_key_count(PGconn *conn, enum stmt s, int32_t key, int arg, int max, int *out,
                          char err[DS_ERRLEN])
{
  int rc = ensure_prepared(conn, s, err);
  if (rc != DS_OK)
    return rc;
  char k[INT4ARR_TEXT_MAX], m[INT4ARR_TEXT_MAX];
  snprintf(k, sizeof k, "%" PRId32, key);
  snprintf(m, sizeof m, "%d", arg);
  const char *vals[2] = {k, m};
  PGresult *res = PQexecPrepared(conn, stmts[s].name, 2, vals, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    ds_db_errmsg(conn, res, err);
    rc = DS_EDB;
  } else {
    char *end = NULL;
    long v = strtol(PQgetvalue(res, 0, 0), &end, 10);
    if (end == NULL || *end != '\0' || v < 0 || v > max) {
      snprintf(err, DS_ERRLEN, "unexpected %s result", stmts[s].name);
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
  return call_key_count(conn, ST_COMPACT, key, max_rows, max_rows, moved, err);
}

int ds_store_merge_chunks(PGconn *conn, int32_t key, int target, int *merged,
                          char err[DS_ERRLEN])
{
  return call_key_count(conn, ST_MERGE, key, target, INT_MAX, merged, err);
}
