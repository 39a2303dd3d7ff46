/* One thread, two database connections (issue 7, item 5): the read path of
 * the query routes (device key lookup, sample fetch with and without the
 * chunk cache) used on connection A, then B, then A again must work each
 * time.  The store once remembered prepared statements per thread, keyed by
 * the last connection it saw, so the third call re-PREPAREd on A and failed
 * with 42P05 (prepared statement already exists). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "ds/chunk_cache.h"
#include "ds/store.h"
#include "ds/time.h"
#include "it_lib.h"

#define ROUNDS 3

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
  PQfinish(c[0]);
  PQfinish(c[1]);
  return it_finish();
}
