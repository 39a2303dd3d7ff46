/* Tests for ds/select.h: statistics over several passes in a small working
 * set must equal ds_axis_compute over the whole array, bit for bit, for
 * every distribution, size and working-set size, in a bounded number of
 * passes; a source that changes between passes is reported. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds/select.h"
#include "ds/stats.h"
#include "ds_test.h"

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static double unit(void)
{
  return (double)(rnd() >> 11) / 9007199254740992.0;
}

#define KINDS 9

/* A value of one of several distributions. */
static double value(int kind, size_t i)
{
  switch (kind) {
  case 0: /* uniform, as sensor readings */
    return unit() * 100;
  case 1: /* a narrow band: every value in a handful of top-16-bit buckets */
    return 20.0 + unit() * 0.001;
  case 2: /* few distinct values */
    return (double)(rnd() % 3);
  case 3: /* one value */
    return 7.25;
  case 4: /* signed zeros and subnormals */
    return rnd() % 2 ? -0.0 : 5e-324 * (double)(rnd() % 3);
  case 5: { /* any finite double */
    double d;
    do {
      uint64_t b = rnd();
      memcpy(&d, &b, sizeof d);
    } while (!isfinite(d));
    return d;
  }
  case 6: /* huge: the sum overflows at scale 1 */
    return DBL_MAX / 2 * (rnd() % 2 ? 1 : 0.75);
  case 7: /* ascending, negative to positive */
    return (double)i - 5000.5;
  default: /* two clusters far apart, the middle between them */
    return rnd() % 2 ? -1e6 + unit() : 1e6 + unit();
  }
}

/* Runs ds_sel over v in batches of random size until done; returns the
 * passes taken (0 on a failure). */
static int run(const double *v, size_t n, size_t cap, struct ds_axis_stats *out)
{
  void *mem = malloc(ds_sel_bytes(cap));
  CU_ASSERT_FATAL(mem != NULL);
  struct ds_sel s;
  ds_sel_init(&s, mem, cap);
  int passes = 0;
  while (!ds_sel_done(&s) && passes < 20) {
    ds_sel_pass_begin(&s);
    for (size_t i = 0; i < n;) {
      size_t m = 1 + rnd() % 700;
      m = m > n - i ? n - i : m;
      ds_sel_add(&s, v + i, m);
      i += m;
    }
    passes++;
    if (ds_sel_pass_end(&s) != DS_OK) {
      passes = 0;
      break;
    }
  }
  *out = s.st;
  free(mem);
  return passes;
}

static bool same(double a, double b)
{
  return a == b && signbit(a) == signbit(b);
}

static void check(int kind, size_t n, size_t cap)
{
  double *v = malloc((n + 1) * sizeof *v), *c = malloc((n + 1) * sizeof *c);
  CU_ASSERT_FATAL(v != NULL && c != NULL);
  for (size_t i = 0; i < n; i++)
    v[i] = value(kind, i);
  memcpy(c, v, n * sizeof *v);
  struct ds_axis_stats want, got;
  ds_axis_compute(c, n, &want);
  int passes = run(v, n, cap, &got);
  bool ok = passes >= 1 && passes <= 7 && got.count == want.count && same(got.min, want.min) &&
            same(got.max, want.max) && same(got.sum, want.sum) &&
            got.median == want.median; /* -0 and +0 are the same median */
  if (!ok)
    fprintf(stderr,
            "\n  kind %d n %zu cap %zu: passes %d count %llu/%llu min %.17g/%.17g max "
            "%.17g/%.17g sum %.17g/%.17g median %.17g/%.17g\n",
            kind, n, cap, passes, (unsigned long long)got.count, (unsigned long long)want.count,
            got.min, want.min, got.max, want.max, got.sum, want.sum, got.median, want.median);
  CU_ASSERT(ok);
  free(v);
  free(c);
}

static void test_all_fit(void)
{
  /* One pass when every value fits, including none at all. */
  for (int k = 0; k < KINDS; k++)
    for (size_t n = 0; n < 40; n++)
      check(k, n, 64);
  double v[3] = {3, 1, 2};
  struct ds_axis_stats st;
  CU_ASSERT_EQUAL(run(v, 3, 3, &st), 1);
  CU_ASSERT_EQUAL(st.median, 2);
}

static void test_multi_pass(void)
{
  static const size_t sizes[] = {2, 3, 17, 1000, 1001, 20000, 65537};
  static const size_t caps[] = {1, 2, 16, 999, 5000};
  for (int k = 0; k < KINDS; k++)
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
      for (size_t j = 0; j < sizeof caps / sizeof *caps; j++)
        check(k, sizes[i], caps[j]);
}

static void test_passes_bounded(void)
{
  /* Adversarial: a wide spread of keys and a middle pair in a crowded
   * narrow band, with a working set of one value. */
  size_t n = 50001;
  double *v = malloc(n * sizeof *v);
  CU_ASSERT_FATAL(v != NULL);
  for (size_t i = 0; i < n; i++)
    v[i] = i % 2 ? 1.0 + (double)(i % 97) * DBL_EPSILON : value(5, i);
  struct ds_axis_stats got;
  int passes = run(v, n, 1, &got);
  CU_ASSERT(passes >= 2 && passes <= 7);
  double *c = malloc(n * sizeof *c);
  CU_ASSERT_FATAL(c != NULL);
  memcpy(c, v, n * sizeof *c);
  CU_ASSERT_EQUAL(got.median, ds_median(c, n));
  free(c);
  free(v);
}

static void test_keys_order(void)
{
  static const double vals[] = {-INFINITY, -DBL_MAX, -1.5, -DBL_MIN, -5e-324, 0.0,
                                5e-324,    DBL_MIN,  1.0,  2.0,      DBL_MAX, INFINITY};
  size_t n = sizeof vals / sizeof *vals;
  for (size_t i = 0; i + 1 < n; i++)
    CU_ASSERT(ds_sel_key(vals[i]) < ds_sel_key(vals[i + 1]));
  for (size_t i = 0; i < n; i++)
    CU_ASSERT(same(ds_sel_value(ds_sel_key(vals[i])), vals[i]));
  CU_ASSERT_EQUAL(ds_sel_key(-0.0), ds_sel_key(0.0));
}

static void test_source_changed(void)
{
  double v[100];
  for (size_t i = 0; i < 100; i++)
    v[i] = (double)i;
  uint64_t mem[DS_SEL_BUCKETS + 4];
  struct ds_sel s;
  ds_sel_init(&s, mem, 4);
  ds_sel_pass_begin(&s);
  ds_sel_add(&s, v, 100);
  CU_ASSERT_EQUAL(ds_sel_pass_end(&s), DS_OK);
  CU_ASSERT(!ds_sel_done(&s));
  /* Fewer values in the second pass. */
  ds_sel_pass_begin(&s);
  ds_sel_add(&s, v, 99);
  CU_ASSERT_EQUAL(ds_sel_pass_end(&s), DS_EINVAL);
}

static const struct ds_test_case cases[] = {
    {"all_fit", test_all_fit},
    {"multi_pass", test_multi_pass},
    {"passes_bounded", test_passes_bounded},
    {"keys_order", test_keys_order},
    {"source_changed", test_source_changed},
    {NULL, NULL},
};

DS_TEST_MAIN("select", cases)
