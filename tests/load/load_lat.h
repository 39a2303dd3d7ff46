/* Latency recorder of the load generator: keeps up to a bound of values
 * (milliseconds) exactly and, past it, a uniform sample of them (reservoir
 * sampling), so memory stays bounded on long runs; percentiles by the
 * nearest-rank method.  One thread at a time per recorder (callers lock). */
#ifndef LOAD_LAT_H
#define LOAD_LAT_H

#include <stddef.h>
#include <stdint.h>

struct load_lat {
  double *v; /* kept values; owned */
  size_t n, cap;
  uint64_t seen; /* values added since the last reset */
  double max, sum;
  uint64_t rng;
};

/* Keeps at most cap values (cap >= 1).  0, or -1 when out of memory. */
int load_lat_init(struct load_lat *l, size_t cap);
void load_lat_cleanup(struct load_lat *l);
/* Forgets every value (keeps the memory). */
void load_lat_reset(struct load_lat *l);
void load_lat_add(struct load_lat *l, double ms);

/* The p-th percentile (0 < p <= 100) of the kept values, nearest rank:
 * the smallest value with at least p % of the values at or below it.
 * 0 when empty.  Reorders the kept values. */
double load_lat_percentile(struct load_lat *l, double p);

/* Nearest-rank percentile of n sorted values (n > 0). */
double load_percentile_sorted(const double *sorted, size_t n, double p);

#endif
