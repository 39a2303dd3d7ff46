/* One thread, two database connections (issue 7, item 5): the read path of
 * the query routes (device key lookup, sample fetch with and without the
 * chunk cache) used on connection A, then B, then A again must work each
 * time; then the same through the statistics routes' handlers themselves,
 * one thread serving requests from two connection states.  The store once
 * remembered prepared statements per thread, keyed by the last connection
 * it saw, so the third call re-PREPAREd on A and failed with 42P05
 * (prepared statement already exists). */
#include <inttypes.h>
#include <stdint.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ds/chunk_cache.h"
#include "ds/store.h"
#include "ds/time.h"
#include "it_lib.h"
#include "query_cfg.h"
#include "query_db.h"
#include "query_metrics.h"
#include "query_stats.h"

#define ROUNDS 3

struct routes_ctx {
  const char *name;
  struct query_cfg cfg;
  struct query_metrics metrics;
  struct query_db db[2];
};

/* GET /devices/{name}/data/all and /devices/{name}/data?start= through the
 * handlers, on two connection states (each its own struct query_db) of
 * this one thread, alternately.  Like a server thread, its states (and
 * their connections) are freed when it ends. */
static void *routes_thread(void *arg)
{
  struct routes_ctx *x = arg;
  for (int r = 0; r < ROUNDS; r++)
    for (int k = 0; k < 2; k++)
      for (int all = 0; all < 2; all++) {
        struct ds_buf out;
        ds_buf_init(&out, 1 << 20);
        struct query_http_req req = {
            .method = "GET",
            .path_params = {{"id", x->name}},
            .n_path_params = 1,
            .query = {{"start", "2026-01-01T00:01:40Z"}},
            .n_query = all ? 0 : 1,
            .cfg = &x->cfg,
            .thread = query_db_thread(&x->db[k]),
            .out = &out,
            .status = 200,
        };
        IT_ASSERT(req.thread != NULL, "query_db_thread");
        int rc = all ? query_stats_device_all(&req) : query_stats_device_data(&req);
        struct json_object *o = out.data != NULL ? json_tokener_parse(out.data) : NULL, *n = NULL;
        long long count = o != NULL && json_object_object_get_ex(o, "count", &n)
                              ? (long long)json_object_get_int64(n)
                              : -1;
        IT_EXPECT(rc == DS_OK && req.status == 200 && count == (all ? 500 : 401),
                  "round %d conn %c %s: rc %d status %d: %s", r, 'A' + k,
                  all ? "data/all" : "data?start=", rc, req.status,
                  out.data != NULL ? out.data : "");
        json_object_put(o);
        ds_buf_cleanup(&out);
      }
  return NULL;
}

static void routes(const char *name)
{
  static struct routes_ctx x;
  x.name = name;
  x.cfg = (struct query_cfg){
      .database_url = (char *)it_env_str("DS_TEST_DATABASE_URL"),
      .statement_timeout_ms = 30000,
      .max_samples = 1000000,
  };
  for (int k = 0; k < 2; k++)
    IT_ASSERT(query_db_init(&x.db[k], &x.cfg, &x.metrics) == DS_OK, "query_db_init");
  pthread_t t;
  IT_ASSERT(pthread_create(&t, NULL, routes_thread, &x) == 0, "pthread_create");
  pthread_join(t, NULL);
  for (int k = 0; k < 2; k++)
    query_db_cleanup(&x.db[k]);
  IT_EXPECT(atomic_load(&x.metrics.db_open) == 0 && atomic_load(&x.metrics.db_connects) == 2,
            "connections: %d open, %llu made", atomic_load(&x.metrics.db_open),
            (unsigned long long)atomic_load(&x.metrics.db_connects));
}

int main(void)
{
  PGconn *c[2] = {it_db_connect(), it_db_connect()};
  struct ds_store_stmts st[2] = {{0}, {0}}; /* each connection's own */
  char name[80], id_txt[16];
  snprintf(name, sizeof name, "qc-%s", it_run_tag());
  int32_t id = (int32_t)it_db_scalar_ll(c[0], "INSERT INTO devices (name) VALUES ($1) RETURNING id",
                                        1, name);
  snprintf(id_txt, sizeof id_txt, "%" PRId32, id);
  /* 500 samples, 400 of them compacted into one chunk (cacheable). */
  PQclear(it_db_exec(c[0],
                     "INSERT INTO samples_recent (device_id, ts, x, y, z)"
                     " SELECT $1::int, timestamptz '2026-01-01 00:00:00+00' + i * interval '1 s',"
                     "  i, -i, i * 0.5 FROM generate_series(1, 500) i",
                     1, id_txt));
  PQclear(it_db_exec(c[0], "SELECT ds_compact($1::int, 400)", 1, id_txt));

  struct ds_chunk_cache *cache = NULL;
  IT_ASSERT(ds_chunk_cache_new(1u << 20, &cache) == DS_OK, "cache");
  /* From the 100th second: inside the chunk (cached), 401 samples. */
  int64_t start = INT64_C(1767225600000000) + 100 * INT64_C(1000000);
  struct ds_values v;
  ds_values_init(&v, 10000);
  char err[DS_ERRLEN] = "";
  for (int r = 0; r < ROUNDS; r++)
    for (int k = 0; k < 2; k++) {
      int32_t key = 0;
      int rc = ds_store_device_key(c[k], &st[k], name, &key, err);
      IT_EXPECT(rc == DS_OK && key == id, "round %d conn %c: device key: %s", r, 'A' + k, err);
      ds_values_reset(&v);
      rc = ds_store_fetch(c[k], &st[k], &id, 1, DS_TIME_NONE, DS_TIME_NONE, false, &v, err);
      IT_EXPECT(rc == DS_OK && v.n == 500, "round %d conn %c: fetch: %s (n %zu)", r, 'A' + k, err,
                v.n);
      ds_values_reset(&v);
      rc = ds_store_fetch_cached(c[k], &st[k], cache, &id, 1, start, DS_TIME_NONE, true, &v, err);
      IT_EXPECT(rc == DS_OK && v.n == 401, "round %d conn %c: cached fetch: %s (n %zu)", r, 'A' + k,
                err, v.n);
    }
  struct ds_chunk_cache_stats cs;
  ds_chunk_cache_stats(cache, &cs);
  IT_EXPECT(cs.hits > 0, "the cache was never used");
  ds_values_cleanup(&v);
  ds_chunk_cache_free(cache);
  routes(name);
  PQfinish(c[0]);
  PQfinish(c[1]);
  return it_finish();
}
