/* Reading samples for the statistics routes: snapshot, count, budget, and
 * statistics in memory or in passes (see query_fetch.h). */
#include "query_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds/db.h"
#include "ds/time.h"
#include "query_budget.h"
#include "query_cfg.h"
#include "query_db.h"
#include "query_metrics.h"
#include "query_params.h"
#include "query_server.h"

#define BUDGET_WAIT_MS 30000

bool query_fetch_begin(struct query_http_req *req, struct query_fetch *f, int *rc)
{
  *rc = DS_OK;
  PGresult *res = PQexec(f->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    *rc = query_db_fail(req, f->db, res);
    PQclear(res);
    return false;
  }
  PQclear(res);
  f->in_tx = true;
  return true;
}

void query_fetch_free(struct query_http_req *req, struct query_fetch *f)
{
  ds_values_cleanup(&f->v);
  query_budget_block_put(query_server_budget(req->server), f->block);
  f->block = NULL;
  query_budget_release(query_server_budget(req->server), f->reserved);
  f->reserved = 0;
}

void query_fetch_end(struct query_http_req *req, struct query_fetch *f)
{
  /* query_db_fail may have closed a broken connection: use only the live one. */
  bool live = req->thread == NULL || query_db_current(req) == f->db;
  if (f->in_tx && live && PQstatus(f->db) == CONNECTION_OK) {
    PGresult *res = PQexec(f->db, "COMMIT");
    PQclear(res);
  }
  query_fetch_free(req, f);
  f->in_tx = false;
}

/* Binary timestamptz parameter: microseconds since 2000, +-infinity for an
 * open bound. */
static uint64_t ts_param(int64_t us, bool is_start)
{
  int64_t pg = us == DS_TIME_NONE ? (is_start ? INT64_MIN : INT64_MAX) : ds_pg_ts_from_unix(us);
  uint64_t u = (uint64_t)pg;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  u = __builtin_bswap64(u);
#endif
  return u;
}

static int too_many(struct query_http_req *req)
{
  char d[160];
  snprintf(d, sizeof d, "the range holds more than QUERY_MAX_SAMPLES (%lld) samples",
           req->cfg->max_samples);
  return query_http_error(req, 413, "too_large", d);
}

/* The samples the range holds: *lo of them surely (whole chunks inside it
 * and recent rows), at most *hi (chunks it covers partly counted whole).
 * Answers and returns false on failure. */
static bool count_bounds(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                         size_t nkeys, int64_t start, int64_t end, long long *lo, long long *hi,
                         int *rc)
{
  struct ds_buf kb;
  ds_buf_init(&kb, 16 * (nkeys + 2));
  if ((*rc = ds_db_int32_array(&kb, keys, nkeys)) != DS_OK) {
    ds_buf_cleanup(&kb);
    return false;
  }
  uint64_t s = ts_param(start, true), e = ts_param(end, false);
  const char *vals[3] = {kb.data, (const char *)&s, (const char *)&e};
  int lens[3] = {0, 8, 8}, fmts[3] = {0, 1, 1};
  PGresult *res = PQexecParams(
      f->db,
      /* One subquery with device_id in both arms: Citus runs it whole on
       * each shard (one snapshot), as ds_store_samples. */
      "SELECT coalesce(sum(inside), 0)::bigint, coalesce(sum(n), 0)::bigint FROM ("
      " SELECT device_id, sum(n) FILTER (WHERE first_ts >= $2 AND last_ts < $3) AS inside,"
      "  sum(n) AS n FROM sample_chunks"
      "  WHERE device_id = ANY ($1::int4[]) AND first_ts < $3 AND last_ts >= $2 GROUP BY device_id"
      " UNION ALL SELECT device_id, count(*), count(*) FROM samples_recent"
      "  WHERE device_id = ANY ($1::int4[]) AND ts >= $2 AND ts < $3 GROUP BY device_id) q",
      3, (const Oid[]){0, 1184, 1184}, vals, lens, fmts, 0);
  ds_buf_cleanup(&kb);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    *rc = query_db_fail(req, f->db, res);
    PQclear(res);
    return false;
  }
  bool ok = query_params_int(PQgetvalue(res, 0, 0), 0, INT64_MAX, lo) == DS_OK &&
            query_params_int(PQgetvalue(res, 0, 1), 0, INT64_MAX, hi) == DS_OK;
  PQclear(res);
  if (!ok) {
    *rc = query_http_error(req, 500, "internal", "bad sample count");
    return false;
  }
  if (*lo > req->cfg->max_samples) {
    *rc = too_many(req);
    return false;
  }
  return true;
}

/* Takes bytes from the budget and their memory into f.  Answers 503 and
 * returns false when they cannot be had. */
static bool take(struct query_http_req *req, struct query_fetch *f, size_t bytes, int *rc)
{
  struct query_budget *b = query_server_budget(req->server);
  if (query_budget_acquire(b, bytes, BUDGET_WAIT_MS) != DS_OK) {
    *rc = query_http_error(req, 503, "busy", "too many large requests at once; retry later");
    return false;
  }
  f->reserved = bytes;
  if ((f->block = query_budget_block_get(b, bytes)) == NULL) {
    *rc = query_http_error(req, 503, "busy", "out of memory; retry later");
    return false;
  }
  return true;
}

/* The budget's size in bytes (unbounded without a server: unit tests). */
static size_t budget_bytes(struct query_http_req *req)
{
  struct query_budget *b = query_server_budget(req->server);
  return b != NULL ? b->max : SIZE_MAX;
}

bool query_fetch_count(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                       size_t nkeys, int64_t start, int64_t end, size_t *most, int *rc)
{
  long long lo, hi;
  if (!count_bounds(req, f, keys, nkeys, start, end, &lo, &hi, rc))
    return false;
  *most = (size_t)hi;
  return true;
}

bool query_fetch_fits(struct query_http_req *req, size_t most)
{
  return most <= budget_bytes(req) / (3 * sizeof(double));
}

bool query_fetch_alloc(struct query_http_req *req, struct query_fetch *f, size_t most, bool want_ts,
                       int *rc)
{
  size_t per = (want_ts ? 4 : 3) * sizeof(double);
  size_t cap = most, max = (size_t)req->cfg->max_samples;
  if (want_ts && cap > budget_bytes(req) / per) {
    /* Times are for buckets, which need every sample in memory: as many
     * as the budget holds, the exact count decides (below). */
    cap = budget_bytes(req) / per;
    max = cap < max ? cap : max;
  }
  if (!take(req, f, cap * per, rc))
    return false;
  /* One block: x, y, z and ts after each other. */
  double *x = f->block;
  ds_values_init_fixed(&f->v, x, x + cap, x + 2 * cap, want_ts ? (int64_t *)(x + 3 * cap) : NULL,
                       cap);
  f->v.max = max;
  return true;
}

bool query_fetch_keys(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                      size_t nkeys, int64_t start, int64_t end, bool want_ts, int *rc)
{
  char err[DS_ERRLEN] = "";
  int frc = ds_store_fetch_cached(f->db, query_db_stmts(req), query_server_chunk_cache(req->server),
                                  keys, nkeys, start, end, want_ts, &f->v, err);
  if (frc == DS_OK)
    return true;
  if (frc == DS_EDB) {
    *rc = query_db_fail(req, f->db, NULL);
  } else if (frc == DS_ERANGE && f->v.max >= (size_t)req->cfg->max_samples) {
    *rc = too_many(req);
  } else if (frc == DS_ERANGE) {
    char d[200];
    snprintf(d, sizeof d,
             "the range holds more samples than QUERY_MEM_BUDGET_MB (%lld MiB) holds with their "
             "times; ask for a shorter range",
             req->cfg->mem_budget_mb);
    *rc = query_http_error(req, 413, "too_large", d);
  } else if (frc == DS_EINVAL) {
    *rc = query_http_error(req, 503, "busy", "the samples changed while being read; retry");
  } else {
    *rc = frc;
  }
  return false;
}

/* ---- statistics in passes ---- */

/* The first pass reads the database and, when it can, keeps a copy of
 * what it read in an unlinked file under $TMPDIR (default /tmp), 24 bytes
 * per sample, in the kernel's page cache rather than in the process: the
 * later passes read that instead of the database (the same values in the
 * same order, at a fraction of the cost).  When the file cannot be made
 * or written, the later passes read the database again. */
struct passes {
  struct query_fetch *f;
  int fd; /* the spill file (written in pass 1, read after), or -1 */
};

static int spill_open(void)
{
  const char *dir = getenv("TMPDIR");
  if (dir == NULL || *dir == '\0')
    dir = "/tmp";
  char path[512];
  if (snprintf(path, sizeof path, "%s/devicestats-query-XXXXXX", dir) >= (int)sizeof path)
    return -1;
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  unlink(path);
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

static bool write_all(int fd, const void *p, size_t len)
{
  const char *c = p;
  while (len > 0) {
    ssize_t w = write(fd, c, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    c += w;
    len -= (size_t)w;
  }
  return true;
}

static bool read_all(int fd, void *p, size_t len)
{
  char *c = p;
  while (len > 0) {
    ssize_t r = read(fd, c, len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    c += r;
    len -= (size_t)r;
  }
  return true;
}

static void spill_stop(struct passes *p)
{
  if (p->fd >= 0)
    close(p->fd);
  p->fd = -1;
}

static void sel_add(struct query_fetch *f, const struct ds_values *v)
{
  ds_sel_add(&f->sel[0], v->x, v->n);
  ds_sel_add(&f->sel[1], v->y, v->n);
  ds_sel_add(&f->sel[2], v->z, v->n);
}

/* A window read in pass 1: to the selection, and to the file (a block:
 * n, then n x, n y, n z). */
static int flush_first(void *arg, const struct ds_values *v)
{
  struct passes *p = arg;
  sel_add(p->f, v);
  if (p->fd >= 0 && v->n > 0) {
    uint64_t n = v->n;
    size_t len = v->n * sizeof(double);
    if (!write_all(p->fd, &n, sizeof n) || !write_all(p->fd, v->x, len) ||
        !write_all(p->fd, v->y, len) || !write_all(p->fd, v->z, len))
      spill_stop(p);
  }
  return DS_OK;
}

static int flush_again(void *arg, const struct ds_values *v)
{
  struct passes *p = arg;
  sel_add(p->f, v);
  return DS_OK;
}

/* A later pass from the file; false when it cannot be read (the caller
 * reads the database instead). */
static bool pass_from_file(struct passes *p)
{
  struct ds_values *v = &p->f->v;
  if (lseek(p->fd, 0, SEEK_SET) != 0)
    return false;
  for (;;) {
    uint64_t n;
    ssize_t r = read(p->fd, &n, sizeof n);
    if (r == 0)
      return true;
    if (r != (ssize_t)sizeof n || n == 0 || n > v->cap)
      return false;
    size_t len = (size_t)n * sizeof(double);
    if (!read_all(p->fd, v->x, len) || !read_all(p->fd, v->y, len) || !read_all(p->fd, v->z, len))
      return false;
    v->n = (size_t)n;
    sel_add(p->f, v);
  }
}

/* One pass over the samples into f->sel; answers and returns false on
 * failure. */
static bool one_pass(struct query_http_req *req, struct passes *p, int pass, const int32_t *keys,
                     size_t nkeys, int64_t start, int64_t end, int *rc)
{
  struct query_fetch *f = p->f;
  if (pass > 0 && p->fd >= 0) {
    for (int a = 0; a < 3; a++)
      ds_sel_pass_begin(&f->sel[a]);
    if (pass_from_file(p))
      return true;
    spill_stop(p); /* read the database instead, from the start */
  }
  for (int a = 0; a < 3; a++)
    ds_sel_pass_begin(&f->sel[a]);
  ds_values_reset(&f->v);
  ds_values_set_flush(&f->v, (size_t)req->cfg->max_samples, pass == 0 ? flush_first : flush_again,
                      p);
  if (!query_fetch_keys(req, f, keys, nkeys, start, end, false, rc))
    return false;
  f->v.flush(p, &f->v);
  return true;
}

static bool stats_in_passes(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                            size_t nkeys, int64_t start, int64_t end, struct ds_stats *out, int *rc)
{
  size_t win = QUERY_FETCH_WINDOW * 3 * sizeof(double), sel = ds_sel_bytes(QUERY_FETCH_SEL_CAP);
  if (!take(req, f, win + 3 * sel, rc))
    return false;
  double *x = f->block;
  ds_values_init_fixed(&f->v, x, x + QUERY_FETCH_WINDOW, x + 2 * QUERY_FETCH_WINDOW, NULL,
                       QUERY_FETCH_WINDOW);
  for (int a = 0; a < 3; a++)
    ds_sel_init(&f->sel[a], (char *)f->block + win + (size_t)a * sel, QUERY_FETCH_SEL_CAP);
  struct query_metrics *m = query_server_metrics(req->server);
  if (m != NULL)
    atomic_fetch_add(&m->multipass_requests, 1);
  struct passes p = {.f = f, .fd = spill_open()};
  bool ok = false;
  for (int pass = 0; pass < QUERY_FETCH_PASSES_MAX && !ok; pass++) {
    if (!one_pass(req, &p, pass, keys, nkeys, start, end, rc))
      break;
    if (m != NULL)
      atomic_fetch_add(&m->multipass_passes, 1);
    bool done = true, changed = false;
    for (int a = 0; a < 3; a++) {
      changed = changed || ds_sel_pass_end(&f->sel[a]) != DS_OK;
      done = done && ds_sel_done(&f->sel[a]);
    }
    if (changed) {
      *rc = query_http_error(req, 503, "busy", "the samples changed while being read; retry");
      break;
    }
    if (done) {
      *out = (struct ds_stats){
          .count = f->sel[0].st.count, .x = f->sel[0].st, .y = f->sel[1].st, .z = f->sel[2].st};
      ok = true;
    }
  }
  spill_stop(&p);
  if (!ok && *rc == DS_OK)
    *rc = query_http_error(req, 500, "internal", "the median did not converge");
  return ok;
}

bool query_fetch_stats(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                       size_t nkeys, int64_t start, int64_t end, struct ds_stats *out, int *rc)
{
  size_t most;
  if (!query_fetch_count(req, f, keys, nkeys, start, end, &most, rc))
    return false;
  bool ok;
  if (query_fetch_fits(req, most)) {
    ok = query_fetch_alloc(req, f, most, false, rc) &&
         query_fetch_keys(req, f, keys, nkeys, start, end, false, rc);
    if (ok)
      ds_values_stats(&f->v, out);
  } else {
    ok = stats_in_passes(req, f, keys, nkeys, start, end, out, rc);
  }
  query_fetch_free(req, f);
  return ok;
}
