/* Statistics per axis: count, min, max, sum and the exact median.  Their
 * JSON form, the same shape everywhere in the HTTP API, is written in one
 * place: services/query/query_stats.c. */
#ifndef DS_STATS_H
#define DS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ds/err.h"

struct ds_axis_stats {
  uint64_t count;
  double min, max, sum, median;
};

struct ds_stats {
  uint64_t count;
  struct ds_axis_stats x, y, z;
};

/* Exact median of v[0..n) (n > 0; 0 for n == 0): the middle value, or the
 * mean of the two middle values for even n, correctly rounded and without
 * overflow.  Reorders v.  Expected O(n) (quickselect with a sampled pivot,
 * about 6 ms for 1M random values), worst case O(n log n).  Values must be
 * finite; NaNs give a meaningless result but no crash. */
double ds_median(double *v, size_t n);

/* The k-th smallest of v[0..n) (k < n), which ends at v[k] with smaller
 * or equal values before it and greater or equal after.  Reorders v. */
double ds_select_kth(double *v, size_t n, size_t k);

/* The mean of a and b, correctly rounded and without overflow. */
double ds_mean2(double a, double b);

/* A compensated (Neumaier) running sum of values times scale (a power of
 * two).  Adding the same values in the same order, in any number of
 * calls, gives the same bits. */
struct ds_sum {
  double sum, c, scale;
};
void ds_sum_init(struct ds_sum *s, double scale);
void ds_sum_add(struct ds_sum *s, const double *v, size_t n);
double ds_sum_value(const struct ds_sum *s);
/* When the sum of n values at scale 1 overflowed: the e such that the sum
 * at scale 2^-e, times 2^e, is the true one (as ds_axis_compute does). */
int ds_sum_scale_exp(uint64_t n);

/* Fills *out from one axis: min, max, a compensated (Neumaier) sum and the
 * median.  Reorders v.  n may be 0 (all zero).  The sum survives partial
 * sums that overflow; it is +-inf only when the true total is beyond the
 * double range. */
void ds_axis_compute(double *v, size_t n, struct ds_axis_stats *out);

/* As ds_axis_compute without the median (left 0), and without reordering
 * v: the same count, min, max and sum, bit for bit. */
void ds_axis_summary(const double *v, size_t n, struct ds_axis_stats *out);

#endif
