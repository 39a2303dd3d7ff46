/* Tests of the series' buckets computed in place (query_series.c) against
 * a brute-force reference: for each bucket, its samples gathered from an
 * untouched copy in read order, sorted with qsort for the median, min and
 * max by scanning, the sum in long double.  Samples in time order and
 * shuffled, empty buckets, duplicates, times out of the buckets.  And the
 * memory budget's blocks (query_budget.c): reuse and the bound on what is
 * kept. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds/stats.h"
#include "ds_test.h"
#include "query_budget.h"
#include "query_series.h"

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* The reference statistics of one axis over the samples of bucket b. */
static void reference(const double *v, const int64_t *ts, size_t n, int64_t lo, int64_t hi,
                      struct ds_axis_stats *out, long double *sum)
{
  double *s = malloc((n + 1) * sizeof *s);
  CU_ASSERT_FATAL(s != NULL);
  size_t k = 0;
  *sum = 0;
  for (size_t i = 0; i < n; i++)
    if (ts[i] >= lo && ts[i] < hi) {
      s[k++] = v[i];
      *sum += v[i];
    }
  memset(out, 0, sizeof *out);
  out->count = k;
  if (k > 0) {
    qsort(s, k, sizeof *s, cmp_double);
    out->min = s[0];
    out->max = s[k - 1];
    out->median = k % 2 ? s[k / 2] : s[k / 2 - 1] / 2 + s[k / 2] / 2;
  }
  free(s);
}

static void check_axis(const struct ds_axis_stats *got, const struct ds_axis_stats *want,
                       long double sum, int *bad)
{
  bool ok = got->count == want->count && got->min == want->min && got->max == want->max &&
            got->median == want->median &&
            fabsl((long double)got->sum - sum) <= 1e-9L * (1 + fabsl(sum));
  if (!ok && (*bad)++ < 5)
    fprintf(stderr, "count %llu/%llu min %g/%g max %g/%g median %.17g/%.17g sum %.17g/%.17Lg\n",
            (unsigned long long)got->count, (unsigned long long)want->count, got->min, want->min,
            got->max, want->max, got->median, want->median, got->sum, sum);
  CU_ASSERT(ok);
}

/* One random case: n samples over nb buckets of iv from first, in time
 * order or not, values from a narrow set (many duplicates) or wide. */
static void one_case(size_t n, size_t nb, int64_t first, int64_t iv, bool in_order, bool narrow,
                     int *bad)
{
  double *ax[3], *orig[3];
  int64_t *ts = malloc((n + 1) * sizeof *ts), *ts0 = malloc((n + 1) * sizeof *ts0);
  CU_ASSERT_FATAL(ts != NULL && ts0 != NULL);
  for (int a = 0; a < 3; a++) {
    ax[a] = malloc((n + 1) * sizeof(double));
    orig[a] = malloc((n + 1) * sizeof(double));
    CU_ASSERT_FATAL(ax[a] != NULL && orig[a] != NULL);
  }
  /* Some buckets left empty: times only in every other run of buckets. */
  for (size_t i = 0; i < n; i++) {
    int64_t b = (int64_t)(in_order ? i * nb / n : (size_t)rand() % nb);
    if (b % 5 == 3 && nb > 1)
      b = b - 1;
    ts0[i] = first + b * iv + (int64_t)((uint64_t)rand() % (uint64_t)iv);
  }
  if (in_order)
    qsort(ts0, n, sizeof *ts0, cmp_i64);
  for (size_t i = 0; i < n; i++)
    for (int a = 0; a < 3; a++)
      orig[a][i] = narrow ? (double)(rand() % 7) - 3 : ((double)rand() / RAND_MAX - 0.5) * 1e6;
  memcpy(ts, ts0, n * sizeof *ts);
  for (int a = 0; a < 3; a++)
    memcpy(ax[a], orig[a], n * sizeof(double));
  struct ds_stats *st = malloc(nb * sizeof *st);
  CU_ASSERT_FATAL(st != NULL);
  CU_ASSERT_EQUAL_FATAL(query_series_compute(ax[0], ax[1], ax[2], ts, n, first, iv, nb, st), DS_OK);
  uint64_t total = 0;
  for (size_t b = 0; b < nb; b++) {
    int64_t lo = first + (int64_t)b * iv;
    for (int a = 0; a < 3; a++) {
      struct ds_axis_stats want;
      long double sum;
      reference(orig[a], ts0, n, lo, lo + iv, &want, &sum);
      const struct ds_axis_stats *got = a == 0 ? &st[b].x : a == 1 ? &st[b].y : &st[b].z;
      check_axis(got, &want, sum, bad);
      if (a == 0)
        CU_ASSERT_EQUAL(st[b].count, want.count);
    }
    total += st[b].count;
  }
  CU_ASSERT_EQUAL(total, n);
  /* The values are all still there, each axis a permutation of its own. */
  for (int a = 0; a < 3; a++) {
    qsort(ax[a], n, sizeof(double), cmp_double);
    qsort(orig[a], n, sizeof(double), cmp_double);
    CU_ASSERT(memcmp(ax[a], orig[a], n * sizeof(double)) == 0);
  }
  free(st);
  for (int a = 0; a < 3; a++) {
    free(ax[a]);
    free(orig[a]);
  }
  free(ts);
  free(ts0);
}

static void test_against_reference(void)
{
  srand(4242);
  int bad = 0;
  for (int round = 0; round < 120; round++) {
    size_t n = (size_t)(rand() % 3000);
    size_t nb = 1 + (size_t)(rand() % 40);
    int64_t iv = 1 + rand() % 5000000;
    /* Before and after the epoch. */
    int64_t first = ((int64_t)(rand() % 2000) - 1000) * iv;
    one_case(n, nb, first, iv, round % 3 == 0, round % 2 == 0, &bad);
  }
  /* One bucket; many buckets with one sample or none. */
  one_case(5000, 1, 0, 1000000, false, true, &bad);
  one_case(50, 10000, 1795824000000000, 1000, false, false, &bad);
  CU_ASSERT_EQUAL(bad, 0);
}

/* Samples in time order are not moved: each bucket's sum is then exactly
 * ds_axis_compute's over that bucket's samples in read order. */
static void test_in_order_untouched(void)
{
  enum { N = 1000, NB = 7 };
  static double x[N], y[N], z[N], x0[N];
  static int64_t ts[N];
  srand(7);
  for (size_t i = 0; i < N; i++) {
    ts[i] = (int64_t)i * 1000;
    x[i] = x0[i] = (double)rand() / RAND_MAX * 1e10 + 0.1;
    y[i] = z[i] = 1;
  }
  qsort(ts, N, sizeof *ts, cmp_i64);
  struct ds_stats st[NB];
  int64_t iv = (N * 1000 + NB - 1) / NB;
  CU_ASSERT_EQUAL_FATAL(query_series_compute(x, y, z, ts, N, 0, iv, NB, st), DS_OK);
  for (size_t b = 0; b < NB; b++) {
    size_t lo = (size_t)((int64_t)b * iv + 999) / 1000,
           hi = (size_t)((int64_t)(b + 1) * iv + 999) / 1000;
    hi = hi > N ? N : hi;
    double tmp[N];
    memcpy(tmp, x0 + lo, (hi - lo) * sizeof *tmp);
    struct ds_axis_stats want;
    ds_axis_compute(tmp, hi - lo, &want);
    CU_ASSERT_EQUAL(st[b].x.count, want.count);
    CU_ASSERT(st[b].x.sum == want.sum);
    CU_ASSERT(st[b].x.median == want.median);
  }
}

static void test_bad_times(void)
{
  double x[3] = {1, 2, 3}, y[3] = {1, 2, 3}, z[3] = {1, 2, 3};
  struct ds_stats st[2];
  int64_t before[3] = {100, 99, 150};
  CU_ASSERT_EQUAL(query_series_compute(x, y, z, before, 3, 100, 50, 2, st), DS_EINVAL);
  int64_t after[3] = {100, 200, 150};
  CU_ASSERT_EQUAL(query_series_compute(x, y, z, after, 3, 100, 50, 2, st), DS_EINVAL);
  int64_t ok[3] = {199, 100, 150};
  CU_ASSERT_EQUAL_FATAL(query_series_compute(x, y, z, ok, 3, 100, 50, 2, st), DS_OK);
  CU_ASSERT_EQUAL(st[0].count, 1);
  CU_ASSERT_EQUAL(st[0].x.median, 2);
  CU_ASSERT_EQUAL(st[1].count, 2);
  CU_ASSERT_EQUAL(st[1].x.median, 2); /* (1 + 3) / 2 */
  CU_ASSERT_EQUAL(query_series_compute(x, y, z, ok, 0, 100, 50, 2, st), DS_OK);
  CU_ASSERT_EQUAL(st[0].count + st[1].count, 0);
}

/* Blocks: a block given back is handed out again; what is kept never
 * exceeds the budget's size; a block larger than the budget is not kept. */
static void test_budget_blocks(void)
{
  struct query_budget b;
  size_t mb = (size_t)1 << 20;
  CU_ASSERT_EQUAL_FATAL(query_budget_init(&b, 8 * mb), DS_OK);
  unsigned char *p = query_budget_block_get(&b, 3 * mb);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  memset(p, 7, 3 * mb);
  query_budget_block_put(&b, p);
  CU_ASSERT_EQUAL(b.nkept, 1);
  unsigned char *q = query_budget_block_get(&b, 2 * mb);
  CU_ASSERT_PTR_EQUAL(q, p);
  CU_ASSERT_EQUAL(q[3 * mb - 1], 7);
  CU_ASSERT_EQUAL(b.nkept, 0);
  /* Two more in use at once: all three are given back, not all kept. */
  void *r = query_budget_block_get(&b, 3 * mb), *s = query_budget_block_get(&b, mb);
  CU_ASSERT_FATAL(r != NULL && s != NULL && r != q && s != q);
  query_budget_block_put(&b, q);
  query_budget_block_put(&b, r);
  query_budget_block_put(&b, s);
  CU_ASSERT(b.kept_bytes <= 8 * mb && b.mapped == b.kept_bytes);
  CU_ASSERT(b.nkept >= 1 && b.nkept < 3);
  /* A new mapping unmaps kept blocks first: in use + kept stays within the
   * budget's size unless requests alone need more. */
  void *r2 = query_budget_block_get(&b, 7 * mb);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
  CU_ASSERT_EQUAL(b.nkept, 0);
  CU_ASSERT(b.mapped == 8 * mb);
  query_budget_block_put(&b, r2);
  CU_ASSERT_EQUAL(b.nkept, 1);
  void *big = query_budget_block_get(&b, 9 * mb);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  CU_ASSERT_EQUAL(b.nkept, 0);
  query_budget_block_put(&b, big);
  CU_ASSERT_EQUAL(b.nkept, 0);
  CU_ASSERT_EQUAL(b.mapped, 0);
  /* Many small blocks: at most QUERY_BUDGET_KEEP_MAX - 1 kept. */
  void *sm[10];
  for (int i = 0; i < 10; i++)
    sm[i] = query_budget_block_get(&b, 1000);
  for (int i = 0; i < 10; i++)
    query_budget_block_put(&b, sm[i]);
  CU_ASSERT(b.nkept < QUERY_BUDGET_KEEP_MAX && b.kept_bytes <= 8 * mb);
  CU_ASSERT_EQUAL(b.mapped, b.kept_bytes);
  query_budget_block_put(NULL, query_budget_block_get(NULL, 100));
  query_budget_cleanup(&b);
}

static const struct ds_test_case tests[] = {
    {"buckets vs brute force", test_against_reference},
    {"samples in time order stay in place", test_in_order_untouched},
    {"times outside the buckets", test_bad_times},
    {"budget blocks kept and bounded", test_budget_blocks},
    {NULL, NULL},
};

DS_TEST_MAIN("query_series", tests)
