/* The statistics routes: one device over a range or all time, a device's
 * series of buckets, its latest recalculation snapshot, and a user's
 * devices together.  Samples are read through query_fetch.h: one snapshot
 * per request, memory from the server's shared budget, statistics larger
 * than the budget in passes. */
#include "query_stats.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ds/db.h"
#include "ds/sample.h"
#include "ds/stats.h"
#include "ds/store.h"
#include "ds/time.h"
#include "query_cfg.h"
#include "query_db.h"
#include "query_fetch.h"
#include "query_params.h"
#include "query_series.h"
#include "query_server.h"

#define USER_DEVICES_MAX 10000

/* ---- the statistics object ---- */

/* A number, or null when it is not finite (an overflowing sum). */
static void json_number(struct ds_jsonw *w, const char *key, double v)
{
  if (isfinite(v))
    ds_jsonw_key_double(w, key, v);
  else
    ds_jsonw_key_null(w, key);
}

/* {"count": N, "min": .., "max": .., "sum": .., "median": ..}; with no
 * values, min, max and median are null and sum is 0. */
static void axis_json(struct ds_jsonw *w, const char *name, const struct ds_axis_stats *a)
{
  ds_jsonw_key(w, name);
  ds_jsonw_object_begin(w);
  ds_jsonw_key_int64(w, "count", (int64_t)a->count);
  if (a->count == 0) {
    ds_jsonw_key_null(w, "min");
    ds_jsonw_key_null(w, "max");
    ds_jsonw_key_int64(w, "sum", 0);
    ds_jsonw_key_null(w, "median");
  } else {
    json_number(w, "min", a->min);
    json_number(w, "max", a->max);
    json_number(w, "sum", a->sum);
    json_number(w, "median", a->median);
  }
  ds_jsonw_object_end(w);
}

void query_stats_write_members(struct ds_jsonw *w, const char *key_name, const char *key_value,
                               int64_t start_us, int64_t end_us, const struct ds_stats *s)
{
  if (key_name != NULL)
    ds_jsonw_key_str(w, key_name, key_value);
  ds_jsonw_key(w, "start");
  query_http_json_time(w, start_us);
  ds_jsonw_key(w, "end");
  query_http_json_time(w, end_us);
  ds_jsonw_key_int64(w, "count", (int64_t)s->count);
  axis_json(w, "x", &s->x);
  axis_json(w, "y", &s->y);
  axis_json(w, "z", &s->z);
}

void query_stats_write(struct ds_jsonw *w, const char *key_name, const char *key_value,
                       int64_t start_us, int64_t end_us, const struct ds_stats *s)
{
  ds_jsonw_object_begin(w);
  query_stats_write_members(w, key_name, key_value, start_us, end_us, s);
  ds_jsonw_object_end(w);
}

/* The device named by {id}: DS_OK with *key, else answers 400/404/503. */
static bool device_key(struct query_http_req *req, PGconn *db, int32_t *key, const char **name,
                       int *rc)
{
  *rc = DS_OK;
  const char *id = query_http_path_param(req, "id");
  if (id == NULL || !ds_device_id_valid(id, strlen(id))) {
    *rc = query_http_error(req, 400, "bad_device_id", "a device id is 1-64 of A-Z a-z 0-9 _ . -");
    return false;
  }
  *name = id;
  char err[DS_ERRLEN] = "";
  int krc = ds_store_device_key(db, query_db_stmts(req), id, key, err);
  if (krc == DS_OK)
    return true;
  if (krc == DS_ENOTFOUND)
    *rc = query_http_error(req, 404, "not_found", "unknown device");
  else
    *rc = query_db_fail(req, db, NULL);
  return false;
}

static int device_stats(struct query_http_req *req, int64_t start, int64_t end)
{
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  int rc;
  int32_t key;
  const char *name;
  if (!device_key(req, db, &key, &name, &rc))
    return rc;
  struct query_fetch f = {.db = db};
  struct ds_stats st;
  if (query_fetch_begin(req, &f, &rc) &&
      query_fetch_stats(req, &f, &key, 1, start, end, &st, &rc)) {
    if (st.count == 0) {
      rc = query_http_error(req, 404, "not_found", "no samples in the range");
    } else {
      struct ds_jsonw w;
      query_http_json_begin(req, &w);
      query_stats_write(&w, "device_id", name, start, end, &st);
      rc = query_http_json_end(req, &w);
    }
  }
  query_fetch_end(req, &f);
  return rc;
}

int query_stats_device_data(struct query_http_req *req)
{
  int64_t start, end;
  char err[DS_ERRLEN];
  if (query_params_range(req, &start, &end, err) != DS_OK)
    return query_http_error(req, 400, "bad_request", err);
  return device_stats(req, start, end);
}

int query_stats_device_all(struct query_http_req *req)
{
  return device_stats(req, DS_TIME_NONE, DS_TIME_NONE);
}

/* ---- series ---- */

/* Writes "buckets": [...], the statistics of each non-empty bucket
 * (query_series_compute: reorders v's values, overwrites its times).
 * DS_OK, DS_ENOMEM or DS_EINVAL. */
static int buckets_json(struct ds_jsonw *w, struct ds_values *v, int64_t first, int64_t nb,
                        int64_t iv)
{
  struct ds_stats *st = calloc((size_t)nb, sizeof *st);
  if (st == NULL)
    return DS_ENOMEM;
  int rc = query_series_compute(v->x, v->y, v->z, v->ts, v->n, first, iv, (size_t)nb, st);
  if (rc == DS_OK) {
    ds_jsonw_key(w, "buckets");
    ds_jsonw_array_begin(w);
    for (int64_t b = 0; b < nb; b++) {
      int64_t bs = first + b * iv;
      if (st[b].count > 0)
        query_stats_write(w, NULL, NULL, bs, bs + iv, &st[b]);
    }
    ds_jsonw_array_end(w);
  }
  free(st);
  return rc;
}

int query_stats_device_series(struct query_http_req *req)
{
  int64_t start, end, iv;
  char err[DS_ERRLEN];
  if (query_params_range(req, &start, &end, err) != DS_OK)
    return query_http_error(req, 400, "bad_request", err);
  const char *ivs = query_http_query_param(req, "interval");
  if (ivs == NULL)
    return query_http_error(req, 400, "bad_request",
                            "interval is required (e.g. 500ms, 10s, 5m, 1h, 1d)");
  if (ds_interval_parse(ivs, &iv) != DS_OK)
    return query_http_error(req, 400, "bad_request",
                            "interval: a positive integer and a unit: ms, s, m, h or d (e.g. 60s)");
  /* total=true: the range's statistics too, from the same samples (one
   * read instead of a second request to /data). */
  const char *tot = query_http_query_param(req, "total");
  bool want_total = tot != NULL && (strcmp(tot, "true") == 0 || strcmp(tot, "1") == 0);
  if (tot != NULL && !want_total && strcmp(tot, "false") != 0 && strcmp(tot, "0") != 0)
    return query_http_error(req, 400, "bad_request", "total: true or false");
  int64_t first, nb;
  char d[160];
  snprintf(d, sizeof d, "the range spans more than %lld buckets (QUERY_SERIES_MAX_BUCKETS)",
           req->cfg->series_max_buckets);
  if (start != DS_TIME_NONE && end != DS_TIME_NONE &&
      query_params_buckets(start, end, iv, req->cfg->series_max_buckets, &first, &nb) != DS_OK)
    return query_http_error(req, 400, "too_many_buckets", d);
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  int rc;
  int32_t key;
  const char *name;
  if (!device_key(req, db, &key, &name, &rc))
    return rc;
  struct query_fetch f = {.db = db};
  size_t most;
  /* values and times: the buckets are computed in their memory. */
  if (!query_fetch_begin(req, &f, &rc) ||
      !query_fetch_count(req, &f, &key, 1, start, end, &most, &rc) ||
      !query_fetch_alloc(req, &f, most, true, &rc) ||
      !query_fetch_keys(req, &f, &key, 1, start, end, true, &rc))
    goto out;
  int64_t lo = start, hi = end;
  if (f.v.n > 0 && (lo == DS_TIME_NONE || hi == DS_TIME_NONE)) {
    int64_t mn = f.v.ts[0], mx = f.v.ts[0];
    for (size_t i = 1; i < f.v.n; i++) {
      mn = f.v.ts[i] < mn ? f.v.ts[i] : mn;
      mx = f.v.ts[i] > mx ? f.v.ts[i] : mx;
    }
    lo = lo == DS_TIME_NONE ? mn : lo;
    hi = hi == DS_TIME_NONE ? mx + 1 : hi;
  }
  if (f.v.n == 0) {
    /* As every statistics route: no samples in the range is a 404. */
    rc = query_http_error(req, 404, "not_found", "no samples in the range");
    goto out;
  }
  if (query_params_buckets(lo, hi, iv, req->cfg->series_max_buckets, &first, &nb) != DS_OK) {
    rc = query_http_error(req, 400, "too_many_buckets", d);
    goto out;
  }
  /* The total's count, min, max and sum in read order (as /data takes
   * them: the same bits), its medians after the buckets reordered values. */
  struct ds_stats total = {.count = f.v.n};
  if (want_total) {
    ds_axis_summary(f.v.x, f.v.n, &total.x);
    ds_axis_summary(f.v.y, f.v.n, &total.y);
    ds_axis_summary(f.v.z, f.v.n, &total.z);
  }
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key_str(&w, "device_id", name);
  ds_jsonw_key_str(&w, "interval", ivs);
  ds_jsonw_key(&w, "start");
  query_http_json_time(&w, start);
  ds_jsonw_key(&w, "end");
  query_http_json_time(&w, end);
  if ((rc = buckets_json(&w, &f.v, first, nb, iv)) == DS_OK) {
    if (want_total) {
      total.x.median = ds_median(f.v.x, f.v.n);
      total.y.median = ds_median(f.v.y, f.v.n);
      total.z.median = ds_median(f.v.z, f.v.n);
      ds_jsonw_key(&w, "total");
      query_stats_write(&w, "device_id", name, start, end, &total);
    }
    ds_jsonw_object_end(&w);
    rc = query_http_json_end(req, &w);
  }
out:
  query_fetch_end(req, &f);
  return rc;
}

/* ---- the latest recalculation snapshot ---- */

static double num(PGresult *r, int col)
{
  return strtod(PQgetvalue(r, 0, col), NULL);
}

static uint64_t count(PGresult *r, int col)
{
  return strtoull(PQgetvalue(r, 0, col), NULL, 10);
}

int query_stats_device_snapshot(struct query_http_req *req)
{
  const char *id = query_http_path_param(req, "id");
  if (id == NULL || !ds_device_id_valid(id, strlen(id)))
    return query_http_error(req, 400, "bad_device_id", "a device id is 1-64 of A-Z a-z 0-9 _ . -");
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  const char *vals[1] = {id};
  PGresult *r = query_db_exec(
      req, db, "query_stats_device_snapshot",
      "SELECT (extract(epoch FROM s.computed_at) * 1000000)::bigint, s.sample_count,"
      " s.x_count, s.x_min, s.x_max, s.x_sum, s.x_median,"
      " s.y_count, s.y_min, s.y_max, s.y_sum, s.y_median,"
      " s.z_count, s.z_min, s.z_max, s.z_sum, s.z_median"
      " FROM devices d LEFT JOIN device_snapshots s ON s.device_id = d.id WHERE d.name = $1",
      1, vals, 0);
  if (r == NULL)
    return DS_ENOMEM;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    int rc = query_db_fail(req, db, r);
    PQclear(r);
    return rc;
  }
  if (PQntuples(r) == 0) {
    PQclear(r);
    return query_http_error(req, 404, "not_found", "unknown device");
  }
  if (PQgetisnull(r, 0, 0)) {
    PQclear(r);
    return query_http_error(req, 404, "not_found", "no recalculation snapshot for this device yet");
  }
  int64_t computed_at = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  struct ds_stats s = {.count = count(r, 1)};
  struct ds_axis_stats *ax[3] = {&s.x, &s.y, &s.z};
  for (int a = 0; a < 3; a++) {
    int c = 2 + a * 5;
    *ax[a] = (struct ds_axis_stats){count(r, c), num(r, c + 1), num(r, c + 2), num(r, c + 3),
                                    num(r, c + 4)};
  }
  PQclear(r);
  /* The statistics object, with computed_at as its last member. */
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  query_stats_write_members(&w, "device_id", id, DS_TIME_NONE, DS_TIME_NONE, &s);
  ds_jsonw_key(&w, "computed_at");
  query_http_json_time(&w, computed_at);
  ds_jsonw_object_end(&w);
  req->status = 200;
  return query_http_json_end(req, &w);
}

/* ---- users ---- */

/* A user's devices, ordered by name: rows of (user id, device key, device
 * name, user name) in *res (caller PQclear, also on failure), their keys in *keys
 * (caller frees) and how many in *nd.  Answers 404/413/503/500 and returns
 * false on failure. */
static bool user_devices(struct query_http_req *req, PGconn *db, long long uid, PGresult **res,
                         int32_t **keys, size_t *nd, int *rc)
{
  char uids[24];
  snprintf(uids, sizeof uids, "%lld", uid);
  const char *vals[1] = {uids};
  *res = query_db_exec(req, db, "query_stats_user_devices",
                       "SELECT u.id, d.id, d.name, u.name FROM users u"
                       " LEFT JOIN devices d ON d.user_id = u.id"
                       " WHERE u.id = $1::int4 ORDER BY d.name",
                       1, vals, 0);
  if (PQresultStatus(*res) != PGRES_TUPLES_OK) {
    *rc = query_db_fail(req, db, *res);
    return false;
  }
  int nrows = PQntuples(*res);
  if (nrows == 0) {
    *rc = query_http_error(req, 404, "not_found", "unknown user");
    return false;
  }
  *nd = PQgetisnull(*res, 0, 1) ? 0 : (size_t)nrows;
  if (*nd > USER_DEVICES_MAX) {
    *rc = query_http_error(req, 413, "too_large", "the user has too many devices");
    return false;
  }
  if ((*keys = malloc((*nd + 1) * sizeof **keys)) == NULL) {
    *rc = DS_ENOMEM;
    return false;
  }
  for (size_t i = 0; i < *nd; i++) {
    long long k;
    if (query_params_int(PQgetvalue(*res, (int)i, 1), 0, INT32_MAX, &k) != DS_OK) {
      *rc = query_http_error(req, 500, "internal", "bad device key");
      return false;
    }
    (*keys)[i] = (int32_t)k;
  }
  return true;
}

/* The statistics of each device (st[0..nd)) and of all together
 * (st[nd]) from one read into memory, each device a slice of the same
 * arrays.  Answers and returns false on failure. */
static bool user_stats_memory(struct query_http_req *req, struct query_fetch *f,
                              const int32_t *keys, size_t nd, int64_t start, int64_t end,
                              size_t most, struct ds_stats *st, int *rc)
{
  if (!query_fetch_alloc(req, f, most, false, rc))
    return false;
  for (size_t i = 0; i < nd; i++) {
    size_t o = f->v.n;
    if (!query_fetch_keys(req, f, &keys[i], 1, start, end, false, rc))
      return false;
    size_t cnt = f->v.n - o;
    st[i] = (struct ds_stats){.count = cnt};
    ds_axis_compute(f->v.x + o, cnt, &st[i].x);
    ds_axis_compute(f->v.y + o, cnt, &st[i].y);
    ds_axis_compute(f->v.z + o, cnt, &st[i].z);
  }
  /* The total is over the union of the samples, its median a true one
   * (the slices were only reordered within themselves). */
  ds_values_stats(&f->v, &st[nd]);
  query_fetch_free(req, f);
  return true;
}

/* As user_stats_memory when the samples do not fit in the budget: each
 * device, then all together, in memory or in passes. */
static bool user_stats_each(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                            size_t nd, int64_t start, int64_t end, struct ds_stats *st, int *rc)
{
  for (size_t i = 0; i < nd; i++)
    if (!query_fetch_stats(req, f, &keys[i], 1, start, end, &st[i], rc))
      return false;
  return query_fetch_stats(req, f, keys, nd, start, end, &st[nd], rc);
}

/* {"user_id": N, "name": "...", "devices": [<each device>], "total": <all
 * together>}; names from the rows of user_devices. */
static int user_json(struct query_http_req *req, long long uid, PGresult *names, size_t nd,
                     const struct ds_stats *st, int64_t start, int64_t end)
{
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key_int64(&w, "user_id", uid);
  ds_jsonw_key(&w, "name");
  ds_jsonw_strn(&w, PQgetvalue(names, 0, 3), (size_t)PQgetlength(names, 0, 3));
  ds_jsonw_key(&w, "devices");
  ds_jsonw_array_begin(&w);
  for (size_t i = 0; i < nd; i++)
    query_stats_write(&w, "device_id", PQgetvalue(names, (int)i, 2), start, end, &st[i]);
  ds_jsonw_array_end(&w);
  ds_jsonw_key(&w, "total");
  query_stats_write(&w, NULL, NULL, start, end, &st[nd]);
  ds_jsonw_object_end(&w);
  return query_http_json_end(req, &w);
}

int query_stats_user_data(struct query_http_req *req)
{
  int64_t start, end;
  char err[DS_ERRLEN];
  long long uid;
  if (query_params_int(query_http_path_param(req, "uid"), 1, INT32_MAX, &uid) != DS_OK)
    return query_http_error(req, 400, "bad_user_id", "a user id is a positive integer");
  if (query_params_range(req, &start, &end, err) != DS_OK)
    return query_http_error(req, 400, "bad_request", err);
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  int rc = DS_OK;
  struct query_fetch f = {.db = db};
  PGresult *res = NULL;
  int32_t *keys = NULL;
  struct ds_stats *st = NULL;
  size_t nd = 0, most;
  if (!user_devices(req, db, uid, &res, &keys, &nd, &rc))
    goto out;
  if ((st = calloc(nd + 1, sizeof *st)) == NULL) {
    rc = DS_ENOMEM;
    goto out;
  }
  if (!query_fetch_begin(req, &f, &rc) ||
      !query_fetch_count(req, &f, keys, nd, start, end, &most, &rc))
    goto out;
  if (query_fetch_fits(req, most) ? !user_stats_memory(req, &f, keys, nd, start, end, most, st, &rc)
                                  : !user_stats_each(req, &f, keys, nd, start, end, st, &rc))
    goto out;
  if (st[nd].count == 0)
    rc = query_http_error(req, 404, "not_found", "no samples in the range");
  else
    rc = user_json(req, uid, res, nd, st, start, end);
out:
  query_fetch_end(req, &f);
  PQclear(res);
  free(keys);
  free(st);
  return rc;
}
