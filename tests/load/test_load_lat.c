/* Tests for load_lat.c: nearest-rank percentiles against a brute-force
 * reference (sort, then count), exact below the bound, close past it
 * (reservoir sampling), and the count check's arithmetic (load_check.c). */
#include <math.h>
#include <stdint.h>

#include "ds_test.h"
#include "load_check.h"
#include "load_lat.h"

static int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The definition itself: the smallest value v with count(<= v) >= p% of n. */
static double brute(const double *v, size_t n, double p)
{
  double best = INFINITY;
  for (size_t i = 0; i < n; i++) {
    size_t le = 0;
    for (size_t j = 0; j < n; j++)
      le += v[j] <= v[i];
    if ((double)le * 100.0 >= p * (double)n - 1e-9 && v[i] < best)
      best = v[i];
  }
  return best;
}

static void test_table(void)
{
  static const struct {
    size_t n;
    double v[10];
    double p, want;
  } t[] = {
      {1, {7}, 50, 7},
      {1, {7}, 99, 7},
      {2, {1, 2}, 50, 1},
      {2, {1, 2}, 51, 2},
      {4, {4, 3, 2, 1}, 25, 1},
      {4, {4, 3, 2, 1}, 75, 3},
      {4, {4, 3, 2, 1}, 100, 4},
      {5, {5, 5, 5, 5, 5}, 95, 5},
      {10, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 95, 10},
      {10, {10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 90, 9},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    struct load_lat l;
    CU_ASSERT_FATAL(load_lat_init(&l, 100) == 0);
    for (size_t k = 0; k < t[i].n; k++)
      load_lat_add(&l, t[i].v[k]);
    CU_ASSERT_DOUBLE_EQUAL(load_lat_percentile(&l, t[i].p), t[i].want, 0);
    CU_ASSERT_DOUBLE_EQUAL(load_lat_percentile(&l, t[i].p), brute(t[i].v, t[i].n, t[i].p), 0);
    load_lat_cleanup(&l);
  }
  struct load_lat e;
  CU_ASSERT_FATAL(load_lat_init(&e, 4) == 0);
  CU_ASSERT_DOUBLE_EQUAL(load_lat_percentile(&e, 50), 0, 0);
  load_lat_cleanup(&e);
}

static void test_random_vs_brute(void)
{
  static const double ps[] = {1, 10, 50, 90, 95, 99, 99.9, 100};
  unsigned seed = 12345;
  for (int round = 0; round < 200; round++) {
    size_t n = 1 + (size_t)(rand_r(&seed) % 300);
    double v[300];
    struct load_lat l;
    CU_ASSERT_FATAL(load_lat_init(&l, 1000) == 0);
    for (size_t i = 0; i < n; i++) {
      /* Few distinct values in some rounds: ties. */
      v[i] = round % 3 == 0 ? (double)(rand_r(&seed) % 5) : (double)rand_r(&seed) / 1e6;
      load_lat_add(&l, v[i]);
    }
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
      double want = brute(v, n, ps[k]);
      CU_ASSERT_DOUBLE_EQUAL(load_lat_percentile(&l, ps[k]), want, 0);
    }
    double s[300];
    memcpy(s, v, n * sizeof *v);
    qsort(s, n, sizeof *s, cmp_dbl);
    CU_ASSERT_DOUBLE_EQUAL(load_percentile_sorted(s, n, 95), brute(v, n, 95), 0);
    load_lat_cleanup(&l);
  }
}

static void test_reservoir(void)
{
  /* 1,000,000 uniform values kept in 20,000: percentiles within 1.5 % of
   * the range of the exact ones; max, count and mean exact. */
  struct load_lat l;
  CU_ASSERT_FATAL(load_lat_init(&l, 20000) == 0);
  uint64_t s = 88172645463325252u;
  double sum = 0;
  for (int i = 0; i < 1000000; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double v = (double)(s % 1000000) / 1000.0; /* 0 .. 1000 ms */
    sum += v;
    load_lat_add(&l, v);
  }
  CU_ASSERT_EQUAL(l.n, 20000);
  CU_ASSERT_EQUAL(l.seen, 1000000);
  CU_ASSERT_DOUBLE_EQUAL(l.sum, sum, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(load_lat_percentile(&l, 50), 500, 15);
  CU_ASSERT_DOUBLE_EQUAL(load_lat_percentile(&l, 95), 950, 15);
  CU_ASSERT_DOUBLE_EQUAL(load_lat_percentile(&l, 99), 990, 15);
  CU_ASSERT(l.max > 999);
  load_lat_reset(&l);
  CU_ASSERT_EQUAL(l.n, 0);
  load_lat_add(&l, 3);
  CU_ASSERT_DOUBLE_EQUAL(load_lat_percentile(&l, 99), 3, 0);
  load_lat_cleanup(&l);
}

static void test_count_compare(void)
{
  const int64_t before[] = {5, 0, 0, 10};
  const int64_t after[] = {15, 3, 4, 10};
  const int64_t pub[] = {10, 4, 3, 0};
  long long stored, lost, doubled;
  load_count_compare(before, after, pub, 4, &stored, &lost, &doubled);
  CU_ASSERT_EQUAL(stored, 17);
  CU_ASSERT_EQUAL(lost, 1);
  CU_ASSERT_EQUAL(doubled, 1);
  load_count_compare(before, before, before, 4, &stored, &lost, &doubled);
  CU_ASSERT_EQUAL(lost, 15);
  CU_ASSERT_EQUAL(doubled, 0);
}

static const struct ds_test_case cases[] = {
    {"table", test_table},
    {"random_vs_brute", test_random_vs_brute},
    {"reservoir", test_reservoir},
    {"count_compare", test_count_compare},
    {NULL, NULL},
};

DS_TEST_MAIN("load_lat", cases)
