/* A series' buckets in place (see query_series.h).
 *
 * Memory: the request reserved 32 bytes per sample (x, y, z and ts, in one
 * block of the budget; query_stats.c), and this needs no more: the bucket
 * numbers (4 bytes) are written over the times, then samples are grouped
 * by bucket by swapping them into place (an in-place counting sort, the
 * "American flag" permutation: each swap puts one sample where it
 * belongs), and each bucket's axes are summarised where they lie
 * (ds_axis_compute: quickselect for the median). */
#include "query_series.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Writes the bucket number of each sample over ts (4 bytes at byte 4*i,
 * which only ever overwrites times already read: byte 8*j for j <= i) and
 * counts each bucket's samples in cnt[b + 1].  Returns whether the numbers
 * never decrease (then the samples are grouped already), or sets *bad. */
static bool number_samples(int64_t *ts, size_t n, int64_t first, int64_t iv, size_t nb, size_t *cnt,
                           bool *bad)
{
  unsigned char *raw = (unsigned char *)ts;
  bool sorted = true;
  uint32_t prev = 0;
  /* The current bucket's bounds: samples in time order need no division. */
  int64_t lo = first, hi = first + iv;
  uint32_t cur = 0;
  *bad = false;
  for (size_t i = 0; i < n; i++) {
    int64_t t;
    memcpy(&t, raw + 8 * i, sizeof t);
    if (t < lo || t >= hi) {
      if (t < first || (uint64_t)(t - first) / (uint64_t)iv >= nb) {
        *bad = true;
        return false;
      }
      cur = (uint32_t)((uint64_t)(t - first) / (uint64_t)iv);
      lo = first + (int64_t)cur * iv;
      hi = lo + iv;
    }
    memcpy(raw + 4 * i, &cur, sizeof cur);
    cnt[cur + 1]++;
    sorted = sorted && cur >= prev;
    prev = cur;
  }
  return sorted;
}

static void swap_d(double *v, size_t i, size_t j)
{
  double t = v[i];
  v[i] = v[j];
  v[j] = t;
}

/* Groups the samples by bucket: off[b] is where bucket b starts; next is
 * scratch (nb entries). */
static void group(double *x, double *y, double *z, uint32_t *bk, const size_t *off, size_t *next,
                  size_t nb)
{
  memcpy(next, off, nb * sizeof *next);
  for (size_t b = 0; b < nb; b++) {
    while (next[b] < off[b + 1]) {
      size_t i = next[b];
      uint32_t k = bk[i];
      if (k == b) {
        next[b]++;
        continue;
      }
      /* Sample i belongs to bucket k: swap it with the first sample of k
       * not yet in place, which is then. */
      size_t j = next[k]++;
      swap_d(x, i, j);
      swap_d(y, i, j);
      swap_d(z, i, j);
      bk[i] = bk[j];
      bk[j] = k;
    }
  }
}

int query_series_compute(double *x, double *y, double *z, int64_t *ts, size_t n, int64_t first,
                         int64_t iv, size_t nb, struct ds_stats *st)
{
  if (nb > UINT32_MAX || iv <= 0)
    return DS_EINVAL;
  memset(st, 0, nb * sizeof *st);
  size_t *off = calloc(nb + 1, sizeof *off);
  size_t *next = NULL;
  int rc = DS_ENOMEM;
  if (off == NULL)
    goto out;
  bool bad;
  bool sorted = number_samples(ts, n, first, iv, nb, off, &bad);
  if (bad) {
    rc = DS_EINVAL;
    goto out;
  }
  for (size_t b = 0; b < nb; b++)
    off[b + 1] += off[b];
  /* The numbers were written through memcpy: read them as uint32_t now. */
  uint32_t *bk = (uint32_t *)(void *)ts;
  if (!sorted) {
    if ((next = malloc((nb + 1) * sizeof *next)) == NULL)
      goto out;
    group(x, y, z, bk, off, next, nb);
  }
  for (size_t b = 0; b < nb; b++) {
    size_t o = off[b], cnt = off[b + 1] - off[b];
    if (cnt == 0)
      continue;
    st[b].count = cnt;
    ds_axis_compute(x + o, cnt, &st[b].x);
    ds_axis_compute(y + o, cnt, &st[b].y);
    ds_axis_compute(z + o, cnt, &st[b].z);
  }
  rc = DS_OK;
out:
  free(off);
  free(next);
  return rc;
}
