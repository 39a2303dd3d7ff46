/* Tests for agg_snap: snapshot statistics over the same cases as the
 * query service's statistics (tests/unit/test_stats.c), and their SQL text
 * form, which must read back to exactly the same doubles. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agg_snap.h"
#include "ds_test.h"

#define MAXV 8

struct snap_case {
  const char *name;
  size_t n;
  double v[MAXV];
  double median, min, max, sum;
};

static const struct snap_case cases[] = {
    {"one", 1, {42.5}, 42.5, 42.5, 42.5, 42.5},
    {"one negative", 1, {-3.25}, -3.25, -3.25, -3.25, -3.25},
    {"odd", 3, {3, 1, 2}, 2, 1, 3, 6},
    {"odd unsorted", 5, {9, -1, 4, 7, 0}, 4, -1, 9, 19},
    {"even", 4, {4, 1, 3, 2}, 2.5, 1, 4, 10},
    {"even two", 2, {1, 2}, 1.5, 1, 2, 3},
    {"duplicates odd", 5, {5, 5, 5, 5, 5}, 5, 5, 5, 25},
    {"duplicates even", 4, {1, 2, 2, 3}, 2, 1, 3, 8},
    {"duplicates middle differ", 6, {7, 7, 7, 8, 8, 8}, 7.5, 7, 8, 45},
    {"negatives", 3, {-3, -1, -2}, -2, -3, -1, -6},
    {"negatives even", 4, {-4, -1, -3, -2}, -2.5, -4, -1, -10},
    {"mixed signs", 4, {-1, 1, -1, 1}, 0, -1, 1, 0},
    {"huge same", 2, {1e308, 1e308}, 1e308, 1e308, 1e308, INFINITY},
    {"huge opposite", 2, {-1e308, 1e308}, 0, -1e308, 1e308, 0},
    {"max and max/2", 2, {DBL_MAX, DBL_MAX / 2}, DBL_MAX * 0.75, DBL_MAX / 2, DBL_MAX, INFINITY},
    {"max odd", 3, {DBL_MAX, -DBL_MAX, 1}, 1, -DBL_MAX, DBL_MAX, 1},
    {"subnormal pair", 2, {5e-324, 1.5e-323}, 1e-323, 5e-324, 1.5e-323, 2e-323},
    {"rounding", 2, {0.1, 0.2}, 0.15000000000000002, 0.1, 0.2, 0.30000000000000004},
    {"large mantissa",
     2,
     {9007199254740993.0, 9007199254740995.0},
     9007199254740994.0,
     9007199254740993.0,
     9007199254740995.0,
     18014398509481988.0},
    {NULL, 0, {0}, 0, 0, 0, 0},
};

/* Fills v with the case on x, its negation on y and the case doubled on z
 * (finite cases only on z). */
static void fill(struct ds_values *v, const struct snap_case *c)
{
  ds_values_init(v, 1000);
  v->x = calloc(MAXV, sizeof(double));
  v->y = calloc(MAXV, sizeof(double));
  v->z = calloc(MAXV, sizeof(double));
  v->cap = MAXV;
  for (size_t i = 0; i < c->n; i++) {
    v->x[i] = c->v[i];
    v->y[i] = -c->v[i];
    v->z[i] = c->v[i] / 2;
  }
  v->n = c->n;
}

static void test_table(void)
{
  for (const struct snap_case *c = cases; c->name != NULL; c++) {
    struct ds_values v;
    fill(&v, c);
    struct ds_stats s;
    agg_snap_compute(&v, &s);
    CU_ASSERT_EQUAL(s.count, c->n);
    CU_ASSERT_EQUAL(s.x.count, c->n);
    CU_ASSERT_EQUAL(s.y.count, c->n);
    CU_ASSERT_EQUAL(s.z.count, c->n);
    if (s.x.median != c->median || s.x.min != c->min || s.x.max != c->max)
      fprintf(stderr, "\n  %s: median %.17g min %.17g max %.17g\n", c->name, s.x.median, s.x.min,
              s.x.max);
    CU_ASSERT_EQUAL(s.x.median, c->median);
    CU_ASSERT_EQUAL(s.x.min, c->min);
    CU_ASSERT_EQUAL(s.x.max, c->max);
    if (isfinite(c->sum))
      CU_ASSERT_EQUAL(s.x.sum, c->sum);
    CU_ASSERT_EQUAL(s.y.median, -c->median);
    CU_ASSERT_EQUAL(s.y.min, -c->max);
    CU_ASSERT_EQUAL(s.y.max, -c->min);
    CU_ASSERT_EQUAL(s.z.min, c->min / 2);
    CU_ASSERT_EQUAL(s.z.max, c->max / 2);
    ds_values_cleanup(&v);
  }
}

/* Every parameter reads back (strtod) to the computed double. */
static void check_params(const struct ds_stats *s)
{
  struct agg_snap_params sp;
  agg_snap_params(s, &sp);
  CU_ASSERT_EQUAL(strtoull(sp.p[0], NULL, 10), s->count);
  const struct ds_axis_stats *ax[3] = {&s->x, &s->y, &s->z};
  for (int a = 0; a < 3; a++) {
    const char *const *p = sp.p + 1 + a * 5;
    CU_ASSERT_EQUAL(strtoull(p[0], NULL, 10), ax[a]->count);
    const double want[4] = {ax[a]->min, ax[a]->max, ax[a]->sum, ax[a]->median};
    for (int i = 0; i < 4; i++) {
      if (!isfinite(want[i]))
        continue; /* an overflowing sum is the one non-finite value */
      CU_ASSERT_PTR_NOT_NULL_FATAL(p[i + 1]);
      double back = strtod(p[i + 1], NULL);
      if (memcmp(&back, &want[i], sizeof back) != 0)
        fprintf(stderr, "\n  param %s does not read back to %.17g\n", p[i + 1], want[i]);
      CU_ASSERT(memcmp(&back, &want[i], sizeof back) == 0);
    }
  }
}

static void test_params_round_trip(void)
{
  for (const struct snap_case *c = cases; c->name != NULL; c++) {
    struct ds_values v;
    fill(&v, c);
    struct ds_stats s;
    agg_snap_compute(&v, &s);
    check_params(&s);
    ds_values_cleanup(&v);
  }
  /* Awkward doubles directly. */
  const double odd[] = {0.1, 1.0 / 3, 5e-324, DBL_MAX, -DBL_MIN, 123456789.123456789, -0.0};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    struct ds_stats s = {.count = 1};
    s.x = (struct ds_axis_stats){1, odd[i], odd[i], odd[i], odd[i]};
    s.y = s.x;
    s.z = s.x;
    check_params(&s);
  }
}

static void test_empty(void)
{
  struct ds_values v;
  ds_values_init(&v, 10);
  struct ds_stats s;
  agg_snap_compute(&v, &s);
  CU_ASSERT_EQUAL(s.count, 0);
  struct agg_snap_params sp;
  agg_snap_params(&s, &sp);
  CU_ASSERT_STRING_EQUAL(sp.p[0], "0");
  for (int a = 0; a < 3; a++) {
    CU_ASSERT_STRING_EQUAL(sp.p[1 + a * 5], "0"); /* count */
    CU_ASSERT_PTR_NULL(sp.p[2 + a * 5]);          /* min */
    CU_ASSERT_PTR_NULL(sp.p[3 + a * 5]);          /* max */
    CU_ASSERT_PTR_NOT_NULL(sp.p[4 + a * 5]);      /* sum 0 */
    CU_ASSERT_PTR_NULL(sp.p[5 + a * 5]);          /* median */
  }
  ds_values_cleanup(&v);
}

static void test_large_random(void)
{
  /* 100001 values: the median is the 50001st smallest, checked by sorting. */
  size_t n = 100001;
  struct ds_values v;
  ds_values_init(&v, n);
  v.x = malloc(n * sizeof(double));
  v.y = malloc(n * sizeof(double));
  v.z = malloc(n * sizeof(double));
  double *ref = malloc(n * sizeof(double));
  CU_ASSERT_FATAL(v.x && v.y && v.z && ref);
  v.cap = v.n = n;
  uint64_t st = 12345;
  for (size_t i = 0; i < n; i++) {
    st = st * 6364136223846793005u + 1442695040888963407u;
    ref[i] = v.x[i] = (double)(st >> 11) / 9007199254740992.0 * 200 - 100;
    v.y[i] = (double)i;
    v.z[i] = 1;
  }
  struct ds_stats s;
  agg_snap_compute(&v, &s);
  size_t below = 0, equal = 0;
  for (size_t i = 0; i < n; i++) {
    below += ref[i] < s.x.median;
    equal += ref[i] == s.x.median;
  }
  CU_ASSERT(below <= n / 2 && below + equal > n / 2);
  CU_ASSERT_EQUAL(s.y.median, 50000);
  CU_ASSERT_EQUAL(s.y.sum, (double)n * (double)(n - 1) / 2);
  CU_ASSERT_EQUAL(s.z.sum, (double)n);
  free(ref);
  ds_values_cleanup(&v);
}

static const struct ds_test_case tests[] = {
    {"statistics table", test_table},
    {"parameters read back exactly", test_params_round_trip},
    {"no samples", test_empty},
    {"large random", test_large_random},
    {NULL, NULL},
};

DS_TEST_MAIN("agg_snap", tests)
