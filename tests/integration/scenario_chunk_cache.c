/* Chunk cache scenario: ds_store_fetch_cached returns exactly what
 * ds_store_fetch returns (the same multiset of samples, bit for bit) for
 * random ranges, with and without times: on a warm cache, after new recent
 * rows arrive (some inside cached chunks' time spans), after compaction and
 * merging replaced chunks, with a cache so small that every fetch evicts,
 * after a chunk_id was reused with other content (a recreated database),
 * and from four threads sharing one cache while a writer inserts, compacts
 * and merges (each comparison inside one REPEATABLE READ snapshot).  Then
 * the running service answers a range the same twice and counts a hit. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/chunk_cache.h"
#include "ds/store.h"
#include "ds/store_maint.h"
#include "ds/time.h"
#include "it_lib.h"

#define BASE_US INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SPAN_S 60000                      /* seconds the first samples cover */
#define THREADS 4
#define THREAD_CHECKS 60

static int32_t dev_id;
static char dev_txt[16], dev_name[80];
static atomic_bool writer_stop;

static const char *num(char buf[32], long long v)
{
  snprintf(buf, 32, "%lld", v);
  return buf;
}

/* xorshift64*: deterministic ranges, reproducible from the seed. */
static uint64_t rnd(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

/* count samples at first_s + i * step_s (seconds from BASE), every 5th
 * repeating its predecessor's time with other values. */
static void add_rows(PGconn *c, long long first_s, long long step_s, long long count, int salt)
{
  char a[32], b[32], n[32], s[32];
  PQclear(it_db_exec(c,
                     "INSERT INTO samples_recent (device_id, ts, x, y, z)"
                     " SELECT $1::int, timestamptz 'epoch' + ($2::bigint * 1000000"
                     "   + ($3::bigint * (i - (i % 5 = 0)::int)) * 1000000 + $5::int)"
                     "   * interval '1 us',"
                     "  i + $5::int / 7.0, -i * 1.5e-7 - $5::int, (i % 13) * 1e300"
                     " FROM generate_series(1, $4::int) i",
                     5, dev_txt, num(a, BASE_US / 1000000 + first_s), num(b, step_s), num(n, count),
                     num(s, salt)));
}

static void compact_all(PGconn *c, int max_rows)
{
  for (;;) {
    int moved = 0;
    char err[DS_ERRLEN];
    int rc = ds_store_compact(c, dev_id, max_rows, &moved, err);
    IT_ASSERT(rc == DS_OK, "compact: %s", err);
    if (moved < max_rows)
      return;
  }
}

static void merge_all(PGconn *c, int target)
{
  for (;;) {
    int took = 0;
    char err[DS_ERRLEN];
    int rc = ds_store_merge_chunks(c, dev_id, target, &took, err);
    IT_ASSERT(rc == DS_OK, "merge: %s", err);
    if (took == 0)
      return;
  }
}

struct row {
  int64_t ts;
  double x, y, z;
};

static int row_cmp(const void *pa, const void *pb)
{
  const struct row *a = pa, *b = pb;
  if (a->ts != b->ts)
    return a->ts < b->ts ? -1 : 1;
  if (a->x != b->x)
    return a->x < b->x ? -1 : 1;
  if (a->y != b->y)
    return a->y < b->y ? -1 : 1;
  if (a->z != b->z)
    return a->z < b->z ? -1 : 1;
  return 0;
}

static struct row *sorted_rows(const struct ds_values *v, bool want_ts)
{
  struct row *r = calloc(v->n + 1, sizeof *r);
  IT_ASSERT(r != NULL, "out of memory");
  for (size_t i = 0; i < v->n; i++)
    r[i] = (struct row){want_ts ? v->ts[i] : 0, v->x[i], v->y[i], v->z[i]};
  qsort(r, v->n, sizeof *r, row_cmp);
  return r;
}

/* A random range: mostly short (inside a chunk), sometimes long or open. */
static void random_range(uint64_t *seed, int64_t *start, int64_t *end)
{
  uint64_t k = rnd(seed) % 10;
  int64_t lo = BASE_US - INT64_C(2000000000), width = INT64_C(200000) * 1000000;
  *start = lo + (int64_t)(rnd(seed) % (uint64_t)width);
  int64_t len = k < 6   ? (int64_t)(rnd(seed) % 3600000000u) + 1
                : k < 9 ? (int64_t)(rnd(seed) % (UINT64_C(40000) * 1000000)) + 1
                        : INT64_C(1000000) * 100000;
  *end = *start + len;
  if (rnd(seed) % 2 == 0) {
    /* Bounds on whole seconds, where samples are: tests [start, end). */
    *start -= *start % 1000000;
    *end -= *end % 1000000;
    *end += *end == *start ? 1000000 : 0;
  }
  if (rnd(seed) % 25 == 0)
    *start = DS_TIME_NONE;
  if (rnd(seed) % 25 == 0)
    *end = DS_TIME_NONE;
}

/* A connection and the store's statements prepared on it. */
struct conn {
  PGconn *pg;
  struct ds_store_stmts st;
};

/* Both fetches of one range on c (in one snapshot when snapshot) agree
 * exactly.  Returns false (after noting why) when they do not. */
static bool same_fetch(struct conn *cn, struct ds_chunk_cache *cache, int64_t start, int64_t end,
                       bool want_ts, bool snapshot, const char *what)
{
  PGconn *c = cn->pg;
  if (snapshot)
    PQclear(it_db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0));
  struct ds_values a, b;
  ds_values_init(&a, 10000000);
  ds_values_init(&b, 10000000);
  char err[DS_ERRLEN];
  int rc = ds_store_fetch(c, &cn->st, &dev_id, 1, start, end, want_ts, &a, err);
  IT_ASSERT(rc == DS_OK, "fetch: %s", err);
  rc = ds_store_fetch_cached(c, &cn->st, cache, &dev_id, 1, start, end, want_ts, &b, err);
  IT_ASSERT(rc == DS_OK, "cached fetch: %s", err);
  if (snapshot)
    PQclear(it_db_exec(c, "COMMIT", 0));
  bool ok = a.n == b.n;
  if (ok && a.n > 0) {
    struct row *ra = sorted_rows(&a, want_ts), *rb = sorted_rows(&b, want_ts);
    ok = memcmp(ra, rb, a.n * sizeof *ra) == 0;
    free(ra);
    free(rb);
  }
  if (!ok)
    it_note("%s: range [%" PRId64 ", %" PRId64 ") ts=%d: %zu samples uncached, %zu cached", what,
            start, end, want_ts, a.n, b.n);
  ds_values_cleanup(&a);
  ds_values_cleanup(&b);
  return ok;
}

static void random_checks(struct conn *c, struct ds_chunk_cache *cache, uint64_t *seed, int count,
                          const char *what)
{
  int bad = 0;
  for (int i = 0; i < count; i++) {
    int64_t s, e;
    random_range(seed, &s, &e);
    bad += !same_fetch(c, cache, s, e, rnd(seed) % 2 == 0, false, what);
  }
  IT_EXPECT(bad == 0, "%s: %d of %d ranges differ", what, bad, count);
}

static struct ds_chunk_cache_stats stats_of(struct ds_chunk_cache *c)
{
  struct ds_chunk_cache_stats st;
  ds_chunk_cache_stats(c, &st);
  return st;
}

/* ------------------------------------------------------------ concurrency */

struct worker {
  struct ds_chunk_cache *cache;
  uint64_t seed;
  int bad;
};

static void *reader(void *arg)
{
  struct worker *w = arg;
  struct conn c = {it_db_connect(), {0}};
  for (int i = 0; i < THREAD_CHECKS; i++) {
    int64_t s, e;
    random_range(&w->seed, &s, &e);
    /* Short ranges mostly, so the threads share chunks. */
    if (rnd(&w->seed) % 2 == 0 && s != DS_TIME_NONE)
      e = s + INT64_C(600000000);
    w->bad += !same_fetch(&c, w->cache, s, e, rnd(&w->seed) % 2 == 0, true, "concurrent");
  }
  PQfinish(c.pg);
  return NULL;
}

static void *writer(void *arg)
{
  (void)arg;
  PGconn *c = it_db_connect();
  for (int round = 0; !atomic_load(&writer_stop); round++) {
    add_rows(c, (round * 977) % SPAN_S, 3, 700, 100 + round);
    compact_all(c, 350);
    if (round % 3 == 2)
      merge_all(c, 2000);
  }
  PQfinish(c);
  return NULL;
}

static void concurrent(struct ds_chunk_cache *cache)
{
  pthread_t rt[THREADS], wt;
  struct worker w[THREADS];
  atomic_store(&writer_stop, false);
  IT_ASSERT(pthread_create(&wt, NULL, writer, NULL) == 0, "pthread_create");
  for (int i = 0; i < THREADS; i++) {
    w[i] = (struct worker){cache, UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(i + 7), 0};
    IT_ASSERT(pthread_create(&rt[i], NULL, reader, &w[i]) == 0, "pthread_create");
  }
  int bad = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(rt[i], NULL);
    bad += w[i].bad;
  }
  atomic_store(&writer_stop, true);
  pthread_join(wt, NULL);
  IT_EXPECT(bad == 0, "concurrent: %d of %d ranges differ", bad, THREADS * THREAD_CHECKS);
}

/* ------------------------------------------------------------ service */

static void service(PGconn *db)
{
  if (it_env_or("DS_TEST_HTTP_URL", NULL) == NULL) {
    it_note("no query service: HTTP part skipped");
    return;
  }
  (void)db;
  char path[256];
  /* One hour inside the first chunks. */
  snprintf(path, sizeof path,
           "/devices/%s/data?start=2026-01-01T03:00:00Z&end=2026-01-01T04:00:00Z", dev_name);
  struct it_http_resp r1 = {0}, r2 = {0}, m = {0};
  IT_ASSERT(it_http("GET", path, NULL, false, &r1) == 0 && r1.status == 200,
            "first range request: %ld", r1.status);
  IT_ASSERT(it_http("GET", path, NULL, false, &r2) == 0 && r2.status == 200,
            "second range request: %ld", r2.status);
  IT_EXPECT(r1.len == r2.len && memcmp(r1.body, r2.body, r1.len) == 0,
            "the same range answered differently:\n%s\n%s", r1.body, r2.body);
  IT_ASSERT(it_http("GET", "/metrics", NULL, false, &m) == 0 && m.status == 200, "metrics");
  const char *h = strstr(m.body, "\ndevicestats_query_chunk_cache_hits_total ");
  IT_EXPECT(h != NULL &&
                strtoll(h + strlen("\ndevicestats_query_chunk_cache_hits_total "), NULL, 10) > 0,
            "no chunk cache hit in /metrics");
  it_http_resp_cleanup(&r1);
  it_http_resp_cleanup(&r2);
  it_http_resp_cleanup(&m);
}

int main(void)
{
  PGconn *db = it_db_connect();
  struct conn dbc = {db, {0}};
  snprintf(dev_name, sizeof dev_name, "cc-%s", it_run_tag());
  dev_id = (int32_t)it_db_scalar_ll(db, "INSERT INTO devices (name) VALUES ($1) RETURNING id", 1,
                                    dev_name);
  snprintf(dev_txt, sizeof dev_txt, "%" PRId32, dev_id);
  uint64_t seed = UINT64_C(0x2545F4914F6CDD1D);
  it_note("seed %" PRIu64, seed);

  /* 60,000 samples in chunks of 5,000, with 1,000 recent rows left. */
  add_rows(db, 0, 1, SPAN_S, 0);
  compact_all(db, 5000);
  add_rows(db, SPAN_S, 1, 1000, 1);
  struct ds_chunk_cache *cache = NULL;
  IT_ASSERT(ds_chunk_cache_new(16u << 20, &cache) == DS_OK, "cache");
  random_checks(&dbc, cache, &seed, 300, "warm cache");
  struct ds_chunk_cache_stats st = stats_of(cache);
  it_note("warm: hits %" PRIu64 " misses %" PRIu64 " entries %zu bytes %zu", st.hits, st.misses,
          st.entries, st.bytes);
  IT_EXPECT(st.hits > 0 && st.entries > 0, "the cache was never used");

  it_note("new recent rows, some inside cached chunks' spans");
  add_rows(db, 100, 17, 2000, 2);
  random_checks(&dbc, cache, &seed, 200, "new recent rows");

  it_note("compaction into small chunks, then merging: new chunk ids");
  compact_all(db, 300);
  random_checks(&dbc, cache, &seed, 100, "after compaction");
  merge_all(db, 4000);
  random_checks(&dbc, cache, &seed, 200, "after merging");
  /* Every chunk replaced: recompact the whole device from the view. */
  PQclear(it_db_exec(db,
                     "WITH d AS (DELETE FROM sample_chunks WHERE device_id = $1::int"
                     "  RETURNING device_id, ts, x, y, z)"
                     " INSERT INTO samples_recent (device_id, ts, x, y, z)"
                     " SELECT device_id, u.* FROM d, unnest(d.ts, d.x, d.y, d.z) u",
                     1, dev_txt));
  compact_all(db, 7000);
  random_checks(&dbc, cache, &seed, 200, "after recompacting everything");

  it_note("a reused chunk_id with other content");
  long long reused = it_db_scalar_ll(db,
                                     "SELECT chunk_id FROM sample_chunks WHERE device_id = $1::int"
                                     " ORDER BY n DESC, chunk_id LIMIT 1",
                                     1, dev_txt);
  char rid[32];
  num(rid, reused);
  int64_t rs = it_db_scalar_ll(db,
                               "SELECT (extract(epoch FROM first_ts) * 1000000)::bigint"
                               " FROM sample_chunks WHERE chunk_id = $1::bigint",
                               1, rid);
  IT_EXPECT(same_fetch(&dbc, cache, rs, rs + INT64_C(1800000000), true, false, "cache the chunk"),
            "before reuse");
  PQclear(it_db_exec(db,
                     "WITH d AS (DELETE FROM sample_chunks WHERE chunk_id = $1::bigint"
                     "  RETURNING *)"
                     " INSERT INTO sample_chunks (device_id, chunk_id, first_ts, last_ts, n,"
                     "  ts, x, y, z) OVERRIDING SYSTEM VALUE"
                     " SELECT device_id, chunk_id, first_ts, last_ts, n - 1, ts[2:], x[2:],"
                     "  y[2:], z[2:] FROM d",
                     1, rid));
  size_t before = stats_of(cache).entries;
  IT_EXPECT(same_fetch(&dbc, cache, rs, rs + INT64_C(1800000000), true, false, "reused id"),
            "after reuse");
  /* The mismatch emptied the cache (the chunk itself may be back). */
  IT_EXPECT(before > 2 && stats_of(cache).entries <= 1, "entries %zu before, %zu after", before,
            stats_of(cache).entries);
  /* Put it back as it was compacted (first_ts matches the arrays again). */
  PQclear(it_db_exec(db,
                     "UPDATE sample_chunks SET first_ts = (SELECT min(t) FROM unnest(ts) t)"
                     " WHERE chunk_id = $1::bigint",
                     1, rid));

  it_note("a tiny cache (two chunks): fetches evict");
  struct ds_chunk_cache *tiny = NULL;
  IT_ASSERT(ds_chunk_cache_new(500000, &tiny) == DS_OK, "tiny cache");
  random_checks(&dbc, tiny, &seed, 300, "tiny cache");
  st = stats_of(tiny);
  it_note("tiny: hits %" PRIu64 " misses %" PRIu64 " evictions %" PRIu64 " bytes %zu", st.hits,
          st.misses, st.evictions, st.bytes);
  IT_EXPECT(st.evictions > 0 && st.bytes <= 500000, "tiny cache: evictions %" PRIu64 " bytes %zu",
            st.evictions, st.bytes);

  it_note("%d readers sharing a small cache, a writer compacting and merging", THREADS);
  concurrent(tiny);
  concurrent(cache);
  st = stats_of(cache);
  it_note("shared: hits %" PRIu64 " misses %" PRIu64 " evictions %" PRIu64, st.hits, st.misses,
          st.evictions);
  ds_chunk_cache_free(tiny);
  ds_chunk_cache_free(cache);

  service(db);
  PQfinish(db);
  return it_finish();
}
