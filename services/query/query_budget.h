/* The shared sample-memory budget of devicestats-query: statistics
 * requests reserve the bytes their sample values will take before reading
 * them, and wait for their share, so concurrent large requests cannot push
 * the process past QUERY_MEM_BUDGET_MB.
 *
 * The budget also hands out the memory itself, as blocks: a block given
 * back is kept for the next request (up to the budget's size in all)
 * instead of being unmapped, because touching fresh pages is what large
 * requests spent most of their time on (a page fault costs ~45 us on the
 * virtual machines this runs on: ~0.4 s for the 32 MB of a million
 * samples, more than reading and summarising them).  Kept memory is thus
 * bounded by QUERY_MEM_BUDGET_MB as the memory in use is. */
#ifndef QUERY_BUDGET_H
#define QUERY_BUDGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "ds/err.h"

#define QUERY_BUDGET_KEEP_MAX 8 /* blocks kept at most */

struct query_budget {
  pthread_mutex_t mu;
  pthread_cond_t cv;  /* on CLOCK_MONOTONIC */
  size_t used, max;   /* bytes, under mu */
  atomic_int waiting; /* requests inside query_budget_acquire */
  /* Blocks given back, under mu, and their bytes; mapped: the bytes of
   * every block, in use or kept (blocks are kept only while mapped <= max). */
  void *kept[QUERY_BUDGET_KEEP_MAX];
  size_t nkept, kept_bytes, mapped;
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
/* Memory for at least bytes (aligned for any type), newly allocated: a
 * kept block when one is large enough (the smallest such), else a new
 * mapping (huge pages advised).  NULL when out of memory.  b may be NULL
 * (nothing kept).  Give it back with query_budget_block_put.  Reserve the
 * bytes with query_budget_acquire first: the block is their memory. */
void *query_budget_block_get(struct query_budget *b, size_t bytes);
/* Takes back a block of query_budget_block_get (NULL ok): kept while all
 * mapped blocks, in use or kept, stay within the budget's size (the
 * smallest kept go first), else unmapped; a new mapping also unmaps kept
 * blocks first.  So keeping adds nothing to the memory that requests use
 * at most. */
void query_budget_block_put(struct query_budget *b, void *p);
/* How many requests are waiting for their share now. */
int query_budget_waiting(struct query_budget *b);

#endif
