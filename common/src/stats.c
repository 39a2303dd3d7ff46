/* Statistics per axis: min, max, a compensated sum and the exact median
 * (quickselect, in place, expected O(n)).  Their JSON form is written by
 * the query service (query_stats.c). */
#include "ds/stats.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ds/time.h"

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void insertion_sort(double *v, size_t lo, size_t hi)
{
  for (size_t i = lo + 1; i <= hi; i++) {
    double t = v[i];
    size_t j = i;
    while (j > lo && t < v[j - 1]) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = t;
  }
}

static void swap(double *v, size_t a, size_t b)
{
  double t = v[a];
  v[a] = v[b];
  v[b] = t;
}

/* A uniform-enough index in [lo, hi] from a local xorshift state. */
static size_t pick(uint64_t *state, size_t lo, size_t hi)
{
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return lo + (size_t)(x % (uint64_t)(hi - lo + 1));
}

/* Places in v[mid] a pivot for selecting k in [lo, hi] (size above
 * SAMPLE_MIN), Floyd-Rivest style: a random sample of about m^(2/3)
 * elements is gathered around position k, the sample is itself selected at
 * k, and its k-th value, nudged slightly toward the middle of the range,
 * becomes the pivot.  One partition of the whole range then usually leaves
 * only a small slice around k. */
#define SAMPLE_MIN 4096
static void select_range(double *v, size_t lo, size_t hi, size_t k, uint64_t *state);

static void sample_pivot(double *v, size_t lo, size_t hi, size_t k, size_t mid, uint64_t *state)
{
  double m = (double)(hi - lo + 1);
  double i = (double)(k - lo + 1);
  double z = log(m);
  double s = 0.5 * exp(2 * z / 3);
  double sd = 0.5 * sqrt(z * s * (m - s) / m) * (i < m / 2 ? -1 : 1);
  double l = (double)k - i * s / m + sd;
  double r = (double)k + (m - i) * s / m + sd;
  size_t sl = l <= (double)lo ? lo : (size_t)l;
  size_t sr = r >= (double)hi ? hi : (size_t)r;
  if (sl > k)
    sl = k;
  if (sr < k)
    sr = k;
  for (size_t p = sl; p <= sr; p++)
    swap(v, p, pick(state, lo, hi));
  select_range(v, sl, sr, k, state);
  swap(v, k, mid);
}

/* Rearranges v[lo..hi] so that v[k] holds the value it would hold if the
 * range were sorted, with smaller-or-equal values before it and
 * greater-or-equal after.  Quickselect with Hoare partitioning (balanced on
 * runs of equal values); the pivot comes from a sample for large ranges and
 * is the median of three pseudo-randomly placed elements otherwise (fixed
 * positions lose on structured input such as organ pipes).  After 2*log2(n)
 * rounds without convergence the rest is sorted, bounding the worst case at
 * O(n log n).  NaNs make the result meaningless but never take an index out
 * of bounds: every scan stops at an element that compares false. */
static void select_range(double *v, size_t lo, size_t hi, size_t k, uint64_t *state)
{
  unsigned budget = 8;
  for (size_t m = hi - lo + 1; m > 1; m >>= 1)
    budget += 2;

  while (hi > lo) {
    if (hi - lo < 16) {
      insertion_sort(v, lo, hi);
      return;
    }
    if (budget-- == 0) {
      qsort(v + lo, hi - lo + 1, sizeof *v, cmp_double);
      return;
    }
    /* The pivot ends up in v[mid], mid < hi, so each round shrinks the
     * range (see the partition's bounds below). */
    size_t mid = lo + (hi - lo) / 2;
    if (hi - lo >= SAMPLE_MIN) {
      sample_pivot(v, lo, hi, k, mid, state);
    } else {
      swap(v, lo, pick(state, lo, hi));
      swap(v, mid, pick(state, lo, hi));
      swap(v, hi, pick(state, lo, hi));
      if (v[mid] < v[lo])
        swap(v, mid, lo);
      if (v[hi] < v[mid])
        swap(v, hi, mid);
      if (v[mid] < v[lo])
        swap(v, mid, lo);
    }
    double pivot = v[mid];

    /* Hoare partition of [lo, hi].  The first scans stop at mid at the
     * latest; after each swap the swapped values stop the next scans.  Ends
     * with v[lo..j] <= pivot <= v[j+1..hi] and lo <= j < hi. */
    size_t i = lo, j = hi;
    for (;;) {
      while (v[i] < pivot)
        i++;
      while (pivot < v[j])
        j--;
      if (i >= j)
        break;
      swap(v, i, j);
      i++;
      j--;
    }
    if (k <= j)
      hi = j;
    else
      lo = j + 1;
  }
}

static void select_kth(double *v, size_t n, size_t k)
{
  uint64_t state = 0x9e3779b97f4a7c15u ^ (uint64_t)n;
  select_range(v, 0, n - 1, k, &state);
}

/* The mean of a and b without overflow, correctly rounded: a + b is exact or
 * rounded once, halving is exact unless subnormal (then a + b was exact); on
 * overflow both are large, so halving each first is exact. */
double ds_mean2(double a, double b)
{
  double s = a + b;
  if (isfinite(s))
    return s / 2;
  return a / 2 + b / 2;
}

double ds_select_kth(double *v, size_t n, size_t k)
{
  select_kth(v, n, k);
  return v[k];
}

double ds_median(double *v, size_t n)
{
  if (n == 0)
    return 0.0;
  size_t k = n / 2;
  select_kth(v, n, k);
  if (n % 2 == 1)
    return v[k];
  /* v[0..k) <= v[k]: the lower middle is their maximum. */
  double lower = v[0];
  for (size_t i = 1; i < k; i++)
    if (v[i] > lower)
      lower = v[i];
  return ds_mean2(lower, v[k]);
}

void ds_sum_init(struct ds_sum *s, double scale)
{
  *s = (struct ds_sum){.scale = scale};
}

/* Neumaier's compensated sum, each value multiplied by scale (a power of
 * two, so exact short of subnormals). */
void ds_sum_add(struct ds_sum *s, const double *v, size_t n)
{
  double sum = s->sum, c = s->c, scale = s->scale;
  for (size_t i = 0; i < n; i++) {
    double x = v[i] * scale;
    double t = sum + x;
    if (fabs(sum) >= fabs(x))
      c += (sum - t) + x;
    else
      c += (x - t) + sum;
    sum = t;
  }
  s->sum = sum;
  s->c = c;
}

double ds_sum_value(const struct ds_sum *s)
{
  return s->sum + s->c;
}

int ds_sum_scale_exp(uint64_t n)
{
  int e = 1;
  for (uint64_t m = n; m > 1; m >>= 1)
    e++;
  return e;
}

/* The sum, even when partial sums overflow though the total would not:
 * retry scaled down by 2^-(bits of n), then scale back up (which gives
 * +-inf only if the true total is beyond the double range). */
static double compensated_sum(const double *v, size_t n)
{
  struct ds_sum s;
  ds_sum_init(&s, 1.0);
  ds_sum_add(&s, v, n);
  double r = ds_sum_value(&s);
  if (isfinite(r) || n == 0)
    return r;
  int e = ds_sum_scale_exp(n);
  ds_sum_init(&s, ldexp(1.0, -e));
  ds_sum_add(&s, v, n);
  return ldexp(ds_sum_value(&s), e);
}

void ds_axis_compute(double *v, size_t n, struct ds_axis_stats *out)
{
  ds_axis_summary(v, n, out);
  if (n > 0)
    out->median = ds_median(v, n);
}

void ds_axis_summary(const double *v, size_t n, struct ds_axis_stats *out)
{
  out->count = n;
  out->median = 0.0;
  if (n == 0) {
    out->min = out->max = out->sum = 0.0;
    return;
  }
  double lo = v[0], hi = v[0];
  for (size_t i = 1; i < n; i++) {
    if (v[i] < lo)
      lo = v[i];
    if (v[i] > hi)
      hi = v[i];
  }
  out->min = lo;
  out->max = hi;
  out->sum = compensated_sum(v, n);
}
