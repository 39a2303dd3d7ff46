/* The shared sample-memory budget of devicestats-query: statistics
 * requests reserve the bytes their sample values will take before reading
 * them, and wait for their share, so concurrent large requests cannot push
 * the process past QUERY_MEM_BUDGET_MB. */
#ifndef QUERY_BUDGET_H
#define QUERY_BUDGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "ds/err.h"

struct query_budget {
  pthread_mutex_t mu;
  pthread_cond_t cv;  /* on CLOCK_MONOTONIC */
  size_t used, max;   /* bytes, under mu */
  atomic_int waiting; /* requests inside query_budget_acquire */
};

/* A budget of max bytes in b (caller's storage).  DS_OK or DS_ENOMEM. */
DS_MUSTCHECK int query_budget_init(struct query_budget *b, size_t max);
/* Frees what init made; no request may be using b. */
void query_budget_cleanup(struct query_budget *b);
/* Reserves bytes, waiting up to timeout_ms (a request larger than the
 * whole budget waits until it runs alone).  DS_OK or DS_ETIMEOUT.  No-op
 * (DS_OK) when b is NULL (unit tests). */
DS_MUSTCHECK int query_budget_acquire(struct query_budget *b, size_t bytes, int timeout_ms);
/* Gives back bytes taken by query_budget_acquire; NULL ok. */
void query_budget_release(struct query_budget *b, size_t bytes);
/* How many requests are waiting for their share now. */
int query_budget_waiting(struct query_budget *b);

#endif
