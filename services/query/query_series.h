/* The statistics of a series' buckets, computed in the memory the samples
 * were read into: no copy of an axis, no per-bucket allocation.  Pure: no
 * I/O, no clock.  Used by GET /devices/{id}/series (query_stats.c). */
#ifndef QUERY_SERIES_H
#define QUERY_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/stats.h"

/* Fills st[0..nb) with the statistics of the samples of each bucket
 * (bucket b: first + b*iv <= ts < first + (b+1)*iv; empty ones all zero)
 * from n samples x, y, z, ts (ts: Unix microseconds, each inside
 * [first, first + nb*iv)).  The medians are exact.
 *
 * Reorders x, y and z (grouped by bucket, in place) and overwrites ts: its
 * memory holds the samples' bucket numbers afterwards.  When the samples
 * come in time order (as chunks are read) nothing moves, and each bucket's
 * sum is taken in that order; otherwise the grouping is not stable and a
 * sum may differ from one in read order in its last bit.
 *
 * DS_OK; DS_ENOMEM (two arrays of nb + 1 offsets); DS_EINVAL when a ts is
 * outside the buckets or nb is above UINT32_MAX (a caller's bug). */
DS_MUSTCHECK int query_series_compute(double *x, double *y, double *z, int64_t *ts, size_t n,
                                      int64_t first, int64_t iv, size_t nb, struct ds_stats *st);

#endif
