/* Tests for ds/stats.h: the exact median (tables, then quickselect against
 * a qsort reference over many random arrays and adversarial patterns), the
 * compensated sum.  The JSON statistics object is the query service's
 * (query_stats.c, tested in test_query_stats.c). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds/buf.h"
#include "ds/stats.h"
#include "ds/time.h"
#include "ds_test.h"

#define MAXV 8

struct median_case {
  const char *name;
  size_t n;
  double v[MAXV];
  double median;
};

static const struct median_case median_cases[] = {
    {"one", 1, {42.5}, 42.5},
    {"one negative", 1, {-3.25}, -3.25},
    {"odd", 3, {3, 1, 2}, 2},
    {"odd unsorted", 5, {9, -1, 4, 7, 0}, 4},
    {"even", 4, {4, 1, 3, 2}, 2.5},
    {"even two", 2, {1, 2}, 1.5},
    {"duplicates odd", 5, {5, 5, 5, 5, 5}, 5},
    {"duplicates even", 4, {1, 2, 2, 3}, 2},
    {"duplicates middle differ", 6, {7, 7, 7, 8, 8, 8}, 7.5},
    {"negatives", 3, {-3, -1, -2}, -2},
    {"negatives even", 4, {-4, -1, -3, -2}, -2.5},
    {"mixed signs", 4, {-1, 1, -1, 1}, 0},
    {"zeros", 2, {-0.0, 0.0}, 0.0},
    {"huge same", 2, {1e308, 1e308}, 1e308},
    {"huge opposite", 2, {-1e308, 1e308}, 0},
    {"max same", 2, {DBL_MAX, DBL_MAX}, DBL_MAX},
    {"-max same", 2, {-DBL_MAX, -DBL_MAX}, -DBL_MAX},
    {"max and max/2", 2, {DBL_MAX, DBL_MAX / 2}, DBL_MAX * 0.75},
    {"max odd", 3, {DBL_MAX, -DBL_MAX, 1}, 1},
    {"subnormal same", 2, {5e-324, 5e-324}, 5e-324},
    {"subnormal tie to even", 2, {0, 5e-324}, 0},
    {"subnormal pair", 2, {5e-324, 1.5e-323}, 1e-323},
    {"tiny opposite", 2, {-DBL_MIN, DBL_MIN}, 0},
    {"rounding", 2, {0.1, 0.2}, 0.15000000000000002},
    {"large mantissa", 2, {9007199254740993.0, 9007199254740995.0}, 9007199254740994.0},
    {NULL, 0, {0}, 0},
};

static void test_median_table(void)
{
  for (const struct median_case *c = median_cases; c->name != NULL; c++) {
    double v[MAXV];
    memcpy(v, c->v, sizeof v);
    double m = ds_median(v, c->n);
    if (m != c->median)
      fprintf(stderr, "\n  %s: got %.17g want %.17g\n", c->name, m, c->median);
    CU_ASSERT_EQUAL(m, c->median);
  }
  /* The sign of a lone zero survives. */
  double z[1] = {-0.0};
  CU_ASSERT(signbit(ds_median(z, 1)));
  double zz[2] = {-0.0, -0.0};
  CU_ASSERT(signbit(ds_median(zz, 2)));
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median by sorting a copy: the reference. */
static double ref_median(const double *v, size_t n)
{
  double *c = malloc(n * sizeof *c);
  CU_ASSERT_FATAL(c != NULL);
  memcpy(c, v, n * sizeof *c);
  qsort(c, n, sizeof *c, cmp_double);
  double m;
  if (n % 2)
    m = c[n / 2];
  else if (isfinite(c[n / 2 - 1] + c[n / 2]))
    m = (c[n / 2 - 1] + c[n / 2]) / 2;
  else
    m = c[n / 2 - 1] / 2 + c[n / 2] / 2;
  free(c);
  return m;
}

/* ds_median must only reorder: same multiset before and after. */
static int same_multiset(const double *a, const double *b, size_t n)
{
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  CU_ASSERT_FATAL(x != NULL && y != NULL);
  memcpy(x, a, n * sizeof *x);
  memcpy(y, b, n * sizeof *y);
  qsort(x, n, sizeof *x, cmp_double);
  qsort(y, n, sizeof *y, cmp_double);
  int same = 1;
  for (size_t i = 0; i < n && same; i++)
    same = x[i] == y[i];
  free(x);
  free(y);
  return same;
}

static uint64_t rng_state = 88172645463325252u;

static uint64_t rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* A value from one of several distributions, chosen by kind. */
static double rnd_value(int kind)
{
  switch (kind) {
  case 0: /* uniform in [-1000, 1000) */
    return (double)(rnd() >> 11) / 9007199254740992.0 * 2000 - 1000;
  case 1: /* few distinct values: many duplicates */
    return (double)(rnd() % 5) - 2;
  case 2: /* signed zeros and tiny values */
    return (rnd() % 3 == 0) ? -0.0 : (rnd() % 2 ? 0.0 : 5e-324 * (double)(rnd() % 4));
  case 3: { /* any finite double, any magnitude */
    double d;
    do {
      uint64_t bits = rnd();
      memcpy(&d, &bits, sizeof d);
    } while (!isfinite(d));
    return d;
  }
  default: /* integers */
    return (double)(int64_t)(rnd() % 2000001) - 1000000;
  }
}

static void test_median_random_vs_qsort(void)
{
  for (int iter = 0; iter < 3000; iter++) {
    /* small arrays, then mid-sized, then large (the sampling pivot path) */
    size_t n = 1 + rnd() % (iter < 2000 ? 64 : iter < 2970 ? 5000 : 300000);
    int kind = (int)(rnd() % 5);
    double *v = malloc(n * sizeof *v), *orig = malloc(n * sizeof *orig);
    CU_ASSERT_FATAL(v != NULL && orig != NULL);
    for (size_t i = 0; i < n; i++)
      v[i] = orig[i] = rnd_value(kind);
    double want = ref_median(orig, n);
    double got = ds_median(v, n);
    if (got != want) {
      fprintf(stderr, "\n  iter %d n=%zu kind=%d: got %.17g want %.17g\n", iter, n, kind, got,
              want);
      CU_FAIL("median differs from the qsort reference");
    }
    CU_ASSERT(same_multiset(v, orig, n));
    free(v);
    free(orig);
  }
}

/* Orderings that defeat naive pivots: sorted, reversed, all equal, organ
 * pipe, sawtooth, median-of-3 killer-like, two values alternating. */
static void fill_pattern(double *v, size_t n, int p)
{
  for (size_t i = 0; i < n; i++) {
    switch (p) {
    case 0:
      v[i] = (double)i;
      break;
    case 1:
      v[i] = (double)(n - i);
      break;
    case 2:
      v[i] = 7.0;
      break;
    case 3:
      v[i] = (double)(i < n / 2 ? i : n - i);
      break;
    case 4:
      v[i] = (double)(i % 17);
      break;
    case 5:
      v[i] = (double)(i % 2 ? i : n + i);
      break;
    case 6:
      v[i] = i % 2 ? 1.0 : -1.0;
      break;
    default:
      v[i] = (double)((i * 7919) % n);
      break;
    }
  }
}

static void test_median_patterns(void)
{
  const size_t sizes[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 101, 1000, 1001, 65536, 65537};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    for (int p = 0; p < 8; p++) {
      size_t n = sizes[s];
      double *v = malloc(n * sizeof *v);
      CU_ASSERT_FATAL(v != NULL);
      fill_pattern(v, n, p);
      double want = ref_median(v, n);
      double got = ds_median(v, n);
      if (got != want)
        fprintf(stderr, "\n  n=%zu pattern=%d: got %.17g want %.17g\n", n, p, got, want);
      CU_ASSERT_EQUAL(got, want);
      free(v);
    }
  }
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1M values, as the query service sees them: correct, and timed (printed,
 * not asserted: this runs under sanitizers too). */
static void test_median_million(void)
{
  const size_t n = 1000000;
  double *v = malloc(n * sizeof *v);
  CU_ASSERT_FATAL(v != NULL);
  for (int p = 0; p < 9; p++) {
    if (p < 8)
      fill_pattern(v, n, p);
    else
      for (size_t i = 0; i < n; i++)
        v[i] = rnd_value(0);
    double want = ref_median(v, n);
    double t0 = now_s();
    double got = ds_median(v, n);
    double dt = now_s() - t0;
    CU_ASSERT_EQUAL(got, want);
    fprintf(stderr, "[median 1M pattern %d: %.1f ms] ", p, dt * 1e3);
  }
  free(v);
}

static void test_axis_compute(void)
{
  struct ds_axis_stats a;
  memset(&a, 0xff, sizeof a);
  ds_axis_compute(NULL, 0, &a);
  CU_ASSERT_EQUAL(a.count, 0);
  CU_ASSERT_EQUAL(a.min, 0);
  CU_ASSERT_EQUAL(a.max, 0);
  CU_ASSERT_EQUAL(a.sum, 0);
  CU_ASSERT_EQUAL(a.median, 0);

  double v1[] = {1, 7, 4};
  ds_axis_compute(v1, 3, &a);
  CU_ASSERT_EQUAL(a.count, 3);
  CU_ASSERT_EQUAL(a.min, 1);
  CU_ASSERT_EQUAL(a.max, 7);
  CU_ASSERT_EQUAL(a.sum, 12);
  CU_ASSERT_EQUAL(a.median, 4);

  double one[] = {-2.5};
  ds_axis_compute(one, 1, &a);
  CU_ASSERT(a.count == 1 && a.min == -2.5 && a.max == -2.5 && a.sum == -2.5 && a.median == -2.5);
}

struct sum_case {
  const char *name;
  size_t n;
  double v[MAXV];
  double sum;
};

static const struct sum_case sum_cases[] = {
    /* A naive left-to-right sum gets each of these wrong. */
    {"cancellation", 3, {1e16, 1.0, -1e16}, 1.0},
    {"neumaier", 4, {1.0, 1e100, 1.0, -1e100}, 2.0},
    {"tenths", 8, {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, 0.8},
    {"small after one",
     8,
     {1.0, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16},
     1.0000000000000007},
    /* Partial sums overflow, the total does not. */
    {"overflow then back", 3, {DBL_MAX, DBL_MAX, -DBL_MAX}, DBL_MAX},
    {"overflow negative", 3, {-DBL_MAX, -DBL_MAX, DBL_MAX}, -DBL_MAX},
    {"max plus small", 2, {DBL_MAX, -1}, DBL_MAX},
    {"signed zero", 2, {-0.0, 0.0}, 0.0},
    {NULL, 0, {0}, 0},
};

static void test_sum_table(void)
{
  for (const struct sum_case *c = sum_cases; c->name != NULL; c++) {
    double v[MAXV];
    memcpy(v, c->v, sizeof v);
    struct ds_axis_stats a;
    ds_axis_compute(v, c->n, &a);
    if (a.sum != c->sum)
      fprintf(stderr, "\n  %s: got %.17g want %.17g\n", c->name, a.sum, c->sum);
    CU_ASSERT_EQUAL(a.sum, c->sum);
  }
  /* A total truly beyond the double range is +-inf (printed as null). */
  double big[] = {DBL_MAX, DBL_MAX};
  struct ds_axis_stats a;
  ds_axis_compute(big, 2, &a);
  CU_ASSERT(isinf(a.sum) && a.sum > 0);
  CU_ASSERT_EQUAL(a.median, DBL_MAX);
}

/* Many values: the compensated sum equals the exactly rounded sum, which a
 * long double accumulation over integers-times-2^-k gives exactly here. */
static void test_sum_many(void)
{
  const size_t n = 200000;
  double *v = malloc(n * sizeof *v);
  CU_ASSERT_FATAL(v != NULL);
  long double exact = 0;
  for (size_t i = 0; i < n; i++) {
    v[i] = (double)(int64_t)(rnd() % 2000001 - 1000000) / 1024.0;
    exact += v[i]; /* exact: 64-bit mantissa, small integers / 1024 */
  }
  struct ds_axis_stats a;
  ds_axis_compute(v, n, &a);
  CU_ASSERT_EQUAL(a.sum, (double)exact);
  free(v);
}

static const struct ds_test_case cases[] = {
    {"median_table", test_median_table},
    {"median_random_vs_qsort", test_median_random_vs_qsort},
    {"median_patterns", test_median_patterns},
    {"median_million", test_median_million},
    {"axis_compute", test_axis_compute},
    {"sum_table", test_sum_table},
    {"sum_many", test_sum_many},
    {NULL, NULL},
};

DS_TEST_MAIN("stats", cases)
