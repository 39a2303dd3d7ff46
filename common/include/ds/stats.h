/* Statistics per axis: count, min, max, sum and the exact median, and their
 * JSON form (the same shape everywhere in the HTTP API). */
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

/* Fills *out from one axis: min, max, a compensated (Neumaier) sum and the
 * median.  Reorders v.  n may be 0 (all zero).  The sum survives partial
 * sums that overflow; it is +-inf only when the true total is beyond the
 * double range. */
void ds_axis_compute(double *v, size_t n, struct ds_axis_stats *out);

/* Appends the statistics object (compact, members in this order):
 *   {"device_id": id-or-omitted, "start": ..|null, "end": ..|null,
 *    "count": N, "x": {"count","min","max","sum","median"}, "y": .., "z": ..}
 * key_name/key_value name the subject ("device_id", "dev-7"); key_name NULL
 * omits it (both are escaped).  start/end are DS_TIME_NONE for null.
 * Numbers read back to the same double; an axis with count 0 has min, max
 * and median null and sum 0; a non-finite sum is null.  On failure
 * (DS_ERANGE past the buffer's max, DS_ENOMEM) b is left as it was. */
DS_MUSTCHECK int ds_stats_to_json(struct ds_buf *b, const char *key_name, const char *key_value,
                                  int64_t start_us, int64_t end_us, const struct ds_stats *s);

#endif
