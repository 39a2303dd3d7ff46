/* Latency recorder (see load_lat.h).  Percentiles select with a partial
 * quickselect rather than a full sort: a second's window of a busy run
 * holds tens of thousands of values and the main thread asks for three
 * percentiles of it every second. */
#include "load_lat.h"

#include <math.h>
#include <stdlib.h>

int load_lat_init(struct load_lat *l, size_t cap)
{
  *l = (struct load_lat){.cap = cap ? cap : 1, .rng = UINT64_C(0x853c49e6748fea9b)};
  l->v = malloc(l->cap * sizeof *l->v);
  return l->v ? 0 : -1;
}

void load_lat_cleanup(struct load_lat *l)
{
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

void load_lat_reset(struct load_lat *l)
{
  l->n = 0;
  l->seen = 0;
  l->max = 0;
  l->sum = 0;
}

static uint64_t next_rand(uint64_t *s)
{
  /* xorshift64*: enough for choosing reservoir slots. */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

void load_lat_add(struct load_lat *l, double ms)
{
  l->seen++;
  l->sum += ms;
  if (ms > l->max || l->seen == 1)
    l->max = ms;
  if (l->n < l->cap) {
    l->v[l->n++] = ms;
    return;
  }
  /* Algorithm R: the seen-th value replaces a kept one with chance cap/seen. */
  uint64_t j = next_rand(&l->rng) % l->seen;
  if (j < l->cap)
    l->v[j] = ms;
}

double load_percentile_sorted(const double *sorted, size_t n, double p)
{
  double rank = ceil(p / 100.0 * (double)n);
  size_t i = rank < 1 ? 0 : (size_t)rank - 1;
  return sorted[i < n ? i : n - 1];
}

/* Moves the k-th smallest of v[0..n) to v[k] (Hoare's selection). */
static void select_kth(double *v, size_t n, size_t k)
{
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    double pivot = v[lo + (hi - lo) / 2];
    size_t i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot)
        i++;
      while (v[j] > pivot)
        j--;
      if (i <= j) {
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
        i++;
        if (j == 0)
          break;
        j--;
      }
    }
    if (k <= j)
      hi = j;
    else if (k >= i)
      lo = i;
    else
      return;
  }
}

double load_lat_percentile(struct load_lat *l, double p)
{
  if (l->n == 0)
    return 0;
  double rank = ceil(p / 100.0 * (double)l->n);
  size_t k = rank < 1 ? 0 : (size_t)rank - 1;
  if (k >= l->n)
    k = l->n - 1;
  select_kth(l->v, l->n, k);
  return l->v[k];
}
