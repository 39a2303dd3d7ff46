/* Storage scenario: compaction (ds_compact) and chunk merging
 * (ds_merge_chunks, 004_chunk_merge.sql) keep every sample exactly once.
 * Samples go into samples_recent by SQL (duplicate times, identical rows,
 * backfilled old times) and into an independent reference table; many
 * compact + merge rounds, two mergers and a compactor racing on one device,
 * a merge held open while another merges and a reader reads; after each
 * step the multiset of (ts, x, y, z) per device is unchanged through the
 * device_samples view and through ds_store_fetch, chunk metadata agrees with
 * the arrays, and merging leaves fewer chunks.  Then the running aggregator
 * merges a device's small chunks by itself, and bytes per sample on disk are
 * measured for the row layout, small chunks, chunks of 10,000 and merged
 * chunks.  DS_TEST_STORAGE_SAMPLES (200000) sizes the measurement. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "ds/store.h"
#include "ds/store_maint.h"
#include "ds/time.h"
#include "it_lib.h"

/* Merge target of the correctness part: small enough for many merges. */
#define TARGET 1000
#define TARGET_TXT "1000"
#define ROUNDS 60
#define NDEV 3

struct dev {
  char name[80];
  int32_t id;
  char id_txt[16];
};

static PGconn *db;                     /* the main connection; owns the reference table */
static struct ds_store_stmts db_stmts; /* the store's statements on db */

static const char *num(char buf[32], long long v)
{
  snprintf(buf, 32, "%lld", v);
  return buf;
}

static void new_device(struct dev *d, const char *suffix)
{
  snprintf(d->name, sizeof d->name, "st-%s-%s", it_run_tag(), suffix);
  d->id = (int32_t)it_db_scalar_ll(db, "INSERT INTO devices (name) VALUES ($1) RETURNING id", 1,
                                   d->name);
  snprintf(d->id_txt, sizeof d->id_txt, "%" PRId32, d->id);
}

/* Inserts count samples of batch `round` into samples_recent and the same
 * rows into the reference.  Every 7th is backfilled up to ~3 years back,
 * every 11th is the same row (1, 2, 3 at the base time), times repeat in
 * threes with different values, and values are not round numbers. */
static void add_samples(const struct dev *d, long long round, long long count)
{
  char r[32], n[32];
  PQclear(
      it_db_exec(db,
                 "WITH s AS (INSERT INTO samples_recent (device_id, ts, x, y, z)"
                 "  SELECT $1::int,"
                 "   CASE WHEN i % 11 = 0 THEN timestamptz '2026-01-01 00:00:00+00'"
                 "        WHEN i % 7 = 0 THEN timestamptz '2026-01-01 00:00:00+00'"
                 "          - (($2::int * 31 + i) % 1000) * interval '1 day' - i * interval '1 us'"
                 "        ELSE timestamptz '2026-01-01 00:00:00+00'"
                 "          + ($2::int * 10000 + i / 3) * interval '1 s' END,"
                 "   CASE WHEN i % 11 = 0 THEN 1 ELSE $2::int * 100000 + i + 1.0 / 3 END,"
                 "   CASE WHEN i % 11 = 0 THEN 2 ELSE -i * 1.5e-7 END,"
                 "   CASE WHEN i % 11 = 0 THEN 3 ELSE (i % 5) * 1e300 END"
                 "  FROM generate_series(1, $3::int) i"
                 "  RETURNING device_id, ts, x, y, z)"
                 " INSERT INTO st_ref SELECT * FROM s",
                 3, d->id_txt, num(r, round), num(n, count)));
}

static long long chunks_of(const struct dev *d)
{
  return it_db_scalar_ll(db, "SELECT count(*) FROM sample_chunks WHERE device_id = $1::int", 1,
                         d->id_txt);
}

static long long small_chunks_of(const struct dev *d, int target)
{
  char t[32];
  return it_db_scalar_ll(db,
                         "SELECT count(*) FROM sample_chunks"
                         " WHERE device_id = $1::int AND n < $2::int / 2",
                         2, d->id_txt, num(t, target));
}

/* Compacts a device's recent rows completely, max_rows per chunk. */
static long long compact(PGconn *c, const struct dev *d, int max_rows)
{
  long long total = 0;
  for (;;) {
    int moved = 0;
    char err[DS_ERRLEN];
    int rc = ds_store_compact(c, d->id, max_rows, &moved, err);
    IT_ASSERT(rc == DS_OK, "compact %s: %s", d->name, err);
    total += moved;
    if (moved < max_rows)
      return total;
  }
}

/* Merges until ds_merge_chunks returns 0; returns the chunks taken. */
static long long merge(PGconn *c, const struct dev *d, int target)
{
  long long total = 0;
  for (;;) {
    int took = 0;
    char err[DS_ERRLEN];
    int rc = ds_store_merge_chunks(c, d->id, target, &took, err);
    IT_ASSERT(rc == DS_OK, "merge %s: %s", d->name, err);
    IT_EXPECT(took != 1 && took <= 64, "merge took %d chunks", took);
    if (took == 0)
      return total;
    total += took;
  }
}

/* ------------------------------------------------------------ checks */

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

/* ds_store_fetch of everything, sorted, equals the reference exactly; a
 * ranged fetch returns exactly the reference rows in the range. */
static void check_fetch(const struct dev *d, int64_t start_us, int64_t end_us)
{
  PGresult *r = it_db_exec(db,
                           "SELECT (extract(epoch FROM ts) * 1000000)::bigint, x, y, z FROM st_ref"
                           " WHERE device_id = $1::int ORDER BY ts, x, y, z",
                           1, d->id_txt);
  size_t n = (size_t)PQntuples(r);
  struct ds_values v;
  ds_values_init(&v, 10000000);
  char err[DS_ERRLEN];
  int rc = ds_store_fetch(db, &db_stmts, &d->id, 1, DS_TIME_NONE, DS_TIME_NONE, true, &v, err);
  IT_ASSERT(rc == DS_OK, "fetch %s: %s", d->name, err);
  IT_EXPECT(v.n == n, "%s: fetched %zu samples, reference has %zu", d->name, v.n, n);
  struct row *got = calloc(v.n + 1, sizeof *got);
  IT_ASSERT(got != NULL, "out of memory");
  for (size_t i = 0; i < v.n; i++)
    got[i] = (struct row){v.ts[i], v.x[i], v.y[i], v.z[i]};
  qsort(got, v.n, sizeof *got, row_cmp);
  size_t bad = 0;
  for (size_t i = 0; i < n && i < v.n; i++) {
    struct row want = {
        strtoll(PQgetvalue(r, (int)i, 0), NULL, 10), strtod(PQgetvalue(r, (int)i, 1), NULL),
        strtod(PQgetvalue(r, (int)i, 2), NULL), strtod(PQgetvalue(r, (int)i, 3), NULL)};
    if (row_cmp(&want, &got[i]) != 0 && bad++ == 0)
      it_note("%s: sample %zu differs (ts %" PRId64 " vs %" PRId64 ")", d->name, i, want.ts,
              got[i].ts);
  }
  IT_EXPECT(bad == 0, "%s: %zu fetched samples differ from the reference", d->name, bad);
  PQclear(r);

  /* A range cutting through chunks. */
  ds_values_reset(&v);
  rc = ds_store_fetch(db, &db_stmts, &d->id, 1, start_us, end_us, true, &v, err);
  IT_ASSERT(rc == DS_OK, "ranged fetch %s: %s", d->name, err);
  char a[32], b[32];
  long long want = it_db_scalar_ll(db,
                                   "SELECT count(*) FROM st_ref WHERE device_id = $1::int"
                                   " AND ts >= timestamptz 'epoch' + $2::bigint * interval '1 us'"
                                   " AND ts < timestamptz 'epoch' + $3::bigint * interval '1 us'",
                                   3, d->id_txt, num(a, start_us), num(b, end_us));
  IT_EXPECT((long long)v.n == want, "%s: ranged fetch %zu samples, reference %lld", d->name, v.n,
            want);
  size_t outside = 0;
  for (size_t i = 0; i < v.n; i++)
    outside += v.ts[i] < start_us || v.ts[i] >= end_us;
  IT_EXPECT(outside == 0, "%s: %zu fetched samples outside the range", d->name, outside);
  free(got);
  ds_values_cleanup(&v);
}

/* The stored multiset equals the reference (view and tables), and every
 * chunk's n, first_ts and last_ts agree with its arrays. */
static void check_device(const struct dev *d)
{
  long long diff = it_db_scalar_ll(
      db,
      "SELECT count(*) FROM ("
      " (SELECT ts, x, y, z FROM device_samples WHERE device_id = $2"
      "  EXCEPT ALL SELECT ts, x, y, z FROM st_ref WHERE device_id = $1::int)"
      " UNION ALL"
      " (SELECT ts, x, y, z FROM st_ref WHERE device_id = $1::int"
      "  EXCEPT ALL SELECT ts, x, y, z FROM device_samples WHERE device_id = $2)) q",
      2, d->id_txt, d->name);
  IT_EXPECT(diff == 0, "%s: %lld samples differ between device_samples and the reference", d->name,
            diff);
  long long stored = it_db_scalar_ll(db,
                                     "SELECT (SELECT coalesce(sum(n), 0) FROM sample_chunks"
                                     "         WHERE device_id = $1::int)"
                                     "     + (SELECT count(*) FROM samples_recent"
                                     "         WHERE device_id = $1::int)",
                                     1, d->id_txt);
  long long ref =
      it_db_scalar_ll(db, "SELECT count(*) FROM st_ref WHERE device_id = $1::int", 1, d->id_txt);
  IT_EXPECT(stored == ref, "%s: sum(n) + recent rows = %lld, reference %lld", d->name, stored, ref);
  long long bad =
      it_db_scalar_ll(db,
                      "SELECT count(*) FROM sample_chunks c WHERE device_id = $1::int AND NOT ("
                      " n = cardinality(ts) AND n = cardinality(x) AND n = cardinality(y)"
                      " AND n = cardinality(z) AND array_lower(ts, 1) = 1 AND array_lower(x, 1) = 1"
                      " AND array_lower(y, 1) = 1 AND array_lower(z, 1) = 1"
                      " AND array_position(ts, NULL) IS NULL AND array_position(x, NULL) IS NULL"
                      " AND array_position(y, NULL) IS NULL AND array_position(z, NULL) IS NULL"
                      " AND first_ts = (SELECT min(t) FROM unnest(c.ts) t)"
                      " AND last_ts = (SELECT max(t) FROM unnest(c.ts) t))",
                      1, d->id_txt);
  IT_EXPECT(bad == 0, "%s: %lld chunks whose n/first_ts/last_ts disagree with the arrays", d->name,
            bad);
  /* 2025-06-01 .. 2026-01-01 00:05: backfilled and recent samples. */
  check_fetch(d, 1748736000000000LL, 1767226200000000LL);
}

/* ------------------------------------------------------------ rounds */

static void rounds(struct dev *devs)
{
  long long before = 0, after = 0;
  for (int r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < NDEV; i++) {
      long long count = 1 + (r * 37 + i * 101) % 400;
      add_samples(&devs[i], r, count);
      compact(db, &devs[i], 50 + (r * 13 + i) % 200);
      /* Rounds 10-19 let small chunks pile up, then one merge takes them. */
      if (r >= 10 && r < 20)
        continue;
      if (r == 20)
        before += chunks_of(&devs[i]);
      merge(db, &devs[i], TARGET);
      if (r == 20)
        after += chunks_of(&devs[i]);
    }
    if (r % 10 == 9 || r == 20) {
      for (int i = 0; i < NDEV; i++)
        check_device(&devs[i]);
    }
  }
  it_note("rounds: merging a backlog took the chunks of %d devices from %lld to %lld", NDEV, before,
          after);
  IT_EXPECT(after * 3 < before, "chunks %lld -> %lld after merging", before, after);
  for (int i = 0; i < NDEV; i++) {
    /* The running aggregator may be merging too (its chunks are skipped):
     * retry until at most one small chunk is left. */
    long long t0 = it_mono_ms(), small;
    while ((small = small_chunks_of(&devs[i], TARGET)) > 1 && it_mono_ms() - t0 < 15000) {
      it_sleep_ms(100);
      (void)merge(db, &devs[i], TARGET);
    }
    IT_EXPECT(small <= 1, "%s: %lld small chunks left after merging", devs[i].name, small);
  }
}

/* ------------------------------------------------------------ concurrency */

/* One connection calling sql (one integer result) again and again. */
struct caller {
  PGconn *c;
  const char *sql;
  const char *what;
  bool busy, done;
  int zeros; /* consecutive 0 results */
  long long calls, total;
};

static void caller_send(struct caller *k, const struct dev *d, const char *arg)
{
  const char *vals[2] = {d->id_txt, arg};
  IT_ASSERT(PQsendQueryParams(k->c, k->sql, 2, NULL, vals, NULL, NULL, 0) == 1, "%s send: %s",
            k->what, PQerrorMessage(k->c));
  k->busy = true;
}

/* Collects a finished call; stops the caller after 3 zeros in a row. */
static void caller_poll(struct caller *k)
{
  IT_ASSERT(PQconsumeInput(k->c) == 1, "%s: %s", k->what, PQerrorMessage(k->c));
  if (PQisBusy(k->c))
    return;
  PGresult *res;
  while ((res = PQgetResult(k->c)) != NULL) {
    IT_ASSERT(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", k->what, PQresultErrorMessage(res));
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    k->total += v;
    k->zeros = v == 0 ? k->zeros + 1 : 0;
    PQclear(res);
  }
  k->calls++;
  k->busy = false;
  k->done = k->zeros >= 3;
}

/* count(*) and exact sum(x) of a device's samples through the view. */
static void view_totals(PGconn *c, const struct dev *d, char *out, size_t cap)
{
  PGresult *r = it_db_exec(c,
                           "SELECT count(*) || ' ' || coalesce(sum(x::numeric), 0)"
                           " FROM device_samples WHERE device_id = $1",
                           1, d->name);
  snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
}

/* Two mergers and a compactor race on one device while a reader checks
 * that every read sees all its samples exactly once. */
static void race(const struct dev *d)
{
  /* The aggregator's periodic pass compacts and merges too: it would take
   * the small chunks before the race's mergers do (seen: "the mergers
   * merged nothing").  The race is between these callers only. */
  bool agg = strstr(it_env_or("DS_TEST_SERVICES", ""), "aggregator") != NULL;
  if (agg)
    IT_ASSERT(it_stackctl("stop aggregator") == 0, "aggregator did not stop");
  /* ~600 small chunks of 1-9 samples, and recent rows still to compact. */
  for (int b = 0; b < 60; b++) {
    add_samples(d, 1000 + b, 50);
    for (int k = 0; k < 10; k++) {
      int moved = 0;
      char err[DS_ERRLEN];
      IT_ASSERT(ds_store_compact(db, d->id, 1 + (b + k) % 9, &moved, err) == DS_OK, "%s", err);
    }
  }
  add_samples(d, 2000, 3000);
  long long chunks0 = chunks_of(d);
  char want[128], got[128];
  view_totals(db, d, want, sizeof want);

  struct caller k[3] = {
      {.c = it_db_connect(), .sql = "SELECT ds_merge_chunks($1::int, $2::int)", .what = "merger 1"},
      {.c = it_db_connect(), .sql = "SELECT ds_merge_chunks($1::int, $2::int)", .what = "merger 2"},
      {.c = it_db_connect(), .sql = "SELECT ds_compact($1::int, $2::int)", .what = "compactor"},
  };
  PGconn *reader = it_db_connect();
  long long reads = 0, t0 = it_mono_ms();
  while ((!k[0].done || !k[1].done || !k[2].done) && it_mono_ms() - t0 < 120000) {
    for (int i = 0; i < 3; i++) {
      if (!k[i].done && !k[i].busy)
        caller_send(&k[i], d, i < 2 ? "200" : "37");
    }
    view_totals(reader, d, got, sizeof got);
    reads++;
    IT_EXPECT(strcmp(got, want) == 0, "read %lld during the race: %s, expected %s", reads, got,
              want);
    fd_set fds;
    FD_ZERO(&fds);
    int maxfd = -1;
    for (int i = 0; i < 3; i++) {
      if (k[i].busy) {
        int s = PQsocket(k[i].c);
        FD_SET(s, &fds);
        maxfd = s > maxfd ? s : maxfd;
      }
    }
    struct timeval tv = {0, 5000};
    if (maxfd >= 0)
      (void)select(maxfd + 1, &fds, NULL, NULL, &tv);
    for (int i = 0; i < 3; i++) {
      if (k[i].busy)
        caller_poll(&k[i]);
    }
  }
  IT_EXPECT(k[0].done && k[1].done && k[2].done, "race did not finish in 120 s");
  it_note("race: %lld chunks; merger 1 took %lld chunks in %lld calls, merger 2 %lld in %lld,"
          " compactor moved %lld rows; %lld consistent reads; %lld chunks left",
          chunks0, k[0].total, k[0].calls, k[1].total, k[1].calls, k[2].total, reads, chunks_of(d));
  IT_EXPECT(k[0].total + k[1].total > 0, "the mergers merged nothing");
  /* The compactor may outlast the mergers by ~80 chunks of 37. */
  IT_EXPECT(chunks_of(d) < chunks0 / 4, "chunks %lld -> %lld", chunks0, chunks_of(d));
  (void)merge(db, d, 200);
  IT_EXPECT(small_chunks_of(d, 200) <= 1, "%lld small chunks left", small_chunks_of(d, 200));
  for (int i = 0; i < 3; i++)
    PQfinish(k[i].c);
  PQfinish(reader);
  check_device(d);
  if (agg)
    IT_ASSERT(it_stackctl("start aggregator") == 0, "aggregator did not start again");
}

/* A merge left uncommitted: a second merger skips its chunks at once
 * instead of waiting, a reader sees the old chunks, then the new ones. */
static void held_merge(const struct dev *d)
{
  for (int b = 0; b < 150; b++) {
    add_samples(d, 3000 + b, 5);
    compact(db, d, 5);
  }
  long long chunks0 = chunks_of(d);
  PGconn *c1 = it_db_connect(), *c2 = it_db_connect(), *rd = it_db_connect();
  char want[128], got[128];
  view_totals(db, d, want, sizeof want);
  PQclear(it_db_exec(rd, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0));
  view_totals(rd, d, got, sizeof got); /* takes the reader's snapshot */
  PQclear(it_db_exec(c1, "BEGIN", 0));
  long long took1 =
      it_db_scalar_ll(c1, "SELECT ds_merge_chunks($1::int, " TARGET_TXT ")", 1, d->id_txt);
  PQclear(it_db_exec(c2, "SET statement_timeout = '5s'", 0));
  long long took2 =
      it_db_scalar_ll(c2, "SELECT ds_merge_chunks($1::int, " TARGET_TXT ")", 1, d->id_txt);
  IT_EXPECT(took1 == 64 && took2 == 64, "held merge took %lld, the other %lld (64 each)", took1,
            took2);
  view_totals(db, d, got, sizeof got);
  IT_EXPECT(strcmp(got, want) == 0, "while held: %s, expected %s", got, want);
  PQclear(it_db_exec(c1, "COMMIT", 0));
  view_totals(rd, d, got, sizeof got);
  IT_EXPECT(strcmp(got, want) == 0, "old snapshot after the commit: %s, expected %s", got, want);
  PQclear(it_db_exec(rd, "COMMIT", 0));
  view_totals(rd, d, got, sizeof got);
  IT_EXPECT(strcmp(got, want) == 0, "new snapshot: %s, expected %s", got, want);
  /* A merge that is rolled back leaves everything as it was. */
  PQclear(it_db_exec(c1, "BEGIN", 0));
  (void)it_db_scalar_ll(c1, "SELECT ds_merge_chunks($1::int, " TARGET_TXT ")", 1, d->id_txt);
  PQclear(it_db_exec(c1, "ROLLBACK", 0));
  merge(db, d, TARGET);
  it_note("held merge: %lld chunks -> %lld", chunks0, chunks_of(d));
  IT_EXPECT(chunks_of(d) <= 2, "chunks left: %lld", chunks_of(d));
  PQfinish(c1);
  PQfinish(c2);
  PQfinish(rd);
  check_device(d);
}

/* ------------------------------------------------------------ aggregator */

static bool agg_merged(void *ctx)
{
  const struct dev *d = ctx;
  return it_db_scalar_ll(db, "SELECT count(*) FROM samples_recent WHERE device_id = $1::int", 1,
                         d->id_txt) == 0 &&
         chunks_of(d) == 1;
}

/* The aggregator's background compaction merges small chunks after
 * compacting: 40 chunks of 25 plus 1,000 new recent rows (enough to be
 * compacted) become one chunk of 2,000. */
static void aggregator_merges(const struct dev *d)
{
  if (strstr(it_env_or("DS_TEST_SERVICES", ""), "aggregator") == NULL) {
    it_note("aggregator not running: its merge check skipped");
    return;
  }
  const char *ins = "WITH s AS (INSERT INTO samples_recent (device_id, ts, x, y, z)"
                    "  SELECT $1::int, now() - i * interval '1 ms', i, -i, random()"
                    "  FROM generate_series(1, $2::int) i RETURNING *)"
                    " INSERT INTO st_ref SELECT * FROM s";
  for (int b = 0; b < 40; b++) {
    PQclear(it_db_exec(db, ins, 2, d->id_txt, "25"));
    compact(db, d, 25);
  }
  IT_EXPECT(chunks_of(d) == 40, "chunks before: %lld", chunks_of(d));
  PQclear(it_db_exec(db, ins, 2, d->id_txt, "1000"));
  bool ok = it_wait_until(agg_merged, (void *)d, 60000);
  IT_EXPECT(ok, "aggregator left %lld chunks", chunks_of(d));
  it_note("aggregator: 40 chunks + 1000 recent rows -> %lld chunk(s)", chunks_of(d));
  check_device(d);
}

/* ------------------------------------------------------------ bytes per sample */

/* pg_total_relation_size of a scratch table (heap, TOAST, indexes) per sample. */
static double bytes_per_sample(const char *table, long long samples)
{
  long long size = it_db_scalar_ll(db, "SELECT pg_total_relation_size($1::regclass)", 1, table);
  return (double)size / (double)samples;
}

/* Fills scratch table `table` (like sample_chunks) with st_rows in chunks of
 * `size` samples, as ds_compact makes them. */
static void chunk_layout(const char *table, long long size)
{
  char sql[512], s[32];
  snprintf(sql, sizeof sql, "CREATE TABLE %s (LIKE sample_chunks INCLUDING ALL)", table);
  PQclear(it_db_exec(db, sql, 0));
  /* check_banned: allow (a scratch table's name from a constant, and a number) */
  snprintf(sql, sizeof sql,
           "INSERT INTO %s (device_id, first_ts, last_ts, n, ts, x, y, z)"
           " SELECT 0, min(ts), max(ts), count(*), array_agg(ts ORDER BY ts, x, y, z),"
           "  array_agg(x ORDER BY ts, x, y, z), array_agg(y ORDER BY ts, x, y, z),"
           "  array_agg(z ORDER BY ts, x, y, z)"
           " FROM (SELECT *, (row_number() OVER (ORDER BY ts) - 1) / %s AS part FROM st_rows) r"
           " GROUP BY part",
           table, num(s, size));
  PQclear(it_db_exec(db, sql, 0));
}

static void measure(const struct dev *d)
{
  long long n = it_env_int("DS_TEST_STORAGE_SAMPLES", 200000, 10000, 100000000);
  char cnt[32];
  /* The row layout: a copy of samples_recent holding n rows. */
  PQclear(it_db_exec(db, "CREATE TABLE st_rows (LIKE samples_recent INCLUDING ALL)", 0));
  PQclear(it_db_exec(
      db,
      "INSERT INTO st_rows SELECT 0, now() - interval '1 day' + i * interval '1 s',"
      " random() * 100, random() * 100 - 50, random() FROM generate_series(1, $1::int) i",
      1, num(cnt, n)));
  double rows = bytes_per_sample("st_rows", n);
  chunk_layout("st_c10", 10);
  chunk_layout("st_c300", 300);
  chunk_layout("st_c10000", 10000);

  /* The real pipeline on device d: batches of 300 recent rows each
   * compacted at once, as the aggregator does every 5 minutes for a device
   * sampling at 1 Hz (times within the last minute, so the aggregator
   * leaves them to us); then merged to AGGREGATOR_CHUNK_ROWS' default. */
  for (long long b = 0; b < n / 300; b++) {
    PQclear(it_db_exec(db,
                       "INSERT INTO samples_recent SELECT $1::int,"
                       " now() - interval '1 min' + i * interval '1 ms',"
                       " random() * 100, random() * 100 - 50, random()"
                       " FROM generate_series(1, 300) i",
                       1, d->id_txt));
    compact(db, d, 300);
  }
  long long samples = it_db_scalar_ll(
      db, "SELECT sum(n) FROM sample_chunks WHERE device_id = $1::int", 1, d->id_txt);
  const char *copy = "INSERT INTO %s (device_id, first_ts, last_ts, n, ts, x, y, z)"
                     " SELECT device_id, first_ts, last_ts, n, ts, x, y, z FROM sample_chunks"
                     " WHERE device_id = $1::int";
  char sql[512];
  PQclear(it_db_exec(db, "CREATE TABLE st_compacted (LIKE sample_chunks INCLUDING ALL)", 0));
  snprintf(sql, sizeof sql, copy, "st_compacted");
  PQclear(it_db_exec(db, sql, 1, d->id_txt));
  long long chunks_c = chunks_of(d);
  long long t0 = it_mono_ms();
  long long took = merge(db, d, 10000);
  long long merge_ms = it_mono_ms() - t0;
  PQclear(it_db_exec(db, "CREATE TABLE st_merged (LIKE sample_chunks INCLUDING ALL)", 0));
  snprintf(sql, sizeof sql, copy, "st_merged");
  PQclear(it_db_exec(db, sql, 1, d->id_txt));
  long long chunks_m = chunks_of(d);
  double compacted = bytes_per_sample("st_compacted", samples);
  double merged = bytes_per_sample("st_merged", samples);

  printf("bytes per sample on disk (pg_total_relation_size: heap + TOAST + indexes), %lld "
         "samples:\n",
         n);
  printf("  row layout (samples_recent)          %6.1f\n", rows);
  printf("  chunks of 10                         %6.1f\n", bytes_per_sample("st_c10", n));
  printf("  chunks of 300                        %6.1f\n", bytes_per_sample("st_c300", n));
  printf("  chunks of 10,000                     %6.1f\n", bytes_per_sample("st_c10000", n));
  printf("  compacted by ds_compact (%lld chunks)  %6.1f\n", chunks_c, compacted);
  printf("  merged by ds_merge_chunks(.., 10000) (%lld chunks, %lld taken, %lld ms) %6.1f\n",
         chunks_m, took, merge_ms, merged);
  fflush(stdout);
  IT_EXPECT(samples == n - n % 300, "pipeline samples %lld", samples);
  IT_EXPECT(merged < compacted && merged < rows / 2, "merged %.1f, compacted %.1f, rows %.1f",
            merged, compacted, rows);
  PQclear(
      it_db_exec(db, "DROP TABLE st_rows, st_c10, st_c300, st_c10000, st_compacted, st_merged", 0));
}

/* The view's first five columns are the contract's (DESIGN.md), in its
 * order and types, on either database; what follows them (device_key) is
 * an addition. */
static void view_columns(void)
{
  long long ok = it_db_scalar_ll(
      db,
      "SELECT count(*) FROM information_schema.columns c"
      " JOIN (VALUES (1, 'device_id', 'text'), (2, 'ts', 'timestamp with time zone'),"
      "              (3, 'x', 'double precision'), (4, 'y', 'double precision'),"
      "              (5, 'z', 'double precision')) AS w (pos, name, type)"
      "   ON c.ordinal_position = w.pos AND c.column_name = w.name AND c.data_type = w.type"
      " WHERE c.table_schema = 'public' AND c.table_name = 'device_samples'",
      0);
  IT_EXPECT(ok == 5, "device_samples: %lld of the contract's 5 columns in place", ok);
}

int main(void)
{
  db = it_db_connect();
  view_columns();
  PQclear(it_db_exec(db,
                     "CREATE TEMP TABLE st_ref (device_id int, ts timestamptz,"
                     " x float8, y float8, z float8)",
                     0));
  struct dev devs[NDEV + 4];
  const char *names[] = {"a", "b", "c", "race", "held", "agg", "measure"};
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
    new_device(&devs[i], names[i]);

  it_note("%d rounds of insert + compact + merge over %d devices", ROUNDS, NDEV);
  rounds(devs);
  it_note("two mergers and a compactor on one device, with a reader");
  race(&devs[NDEV]);
  it_note("a merge held open");
  held_merge(&devs[NDEV + 1]);
  aggregator_merges(&devs[NDEV + 2]);
  measure(&devs[NDEV + 3]);
  /* Nothing else was touched. */
  for (int i = 0; i < NDEV; i++)
    check_device(&devs[i]);
  PQfinish(db);
  return it_finish();
}
