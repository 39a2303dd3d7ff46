/* Internals of the decoded-chunk cache (struct ds_chunk_cache, public part
 * in ds/chunk_cache.h), shared by chunk_cache.c and store.c only.  Entries are
 * immutable once made and reference counted: the cache holds one
 * reference while an entry is listed, each request one per pin. */
#ifndef DS_CHUNK_CACHE_INTERNAL_H
#define DS_CHUNK_CACHE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/chunk_cache.h"

/* Chunks smaller than this are not cached: they are cheap to transfer and
 * would make the per-device lists long. */
#define DS_CHUNK_CACHE_MIN_N 64
/* Most cached chunks one fetch pins (and names in its statement); the rest
 * are fetched as if not cached. */
#define DS_CHUNK_CACHE_PIN_MAX 256

/* One decoded chunk: times in PostgreSQL microseconds (since 2000). */
struct ds_chunk {
  int64_t id;
  int32_t device;
  int64_t first_ts, last_ts;
  size_t n;
  int64_t *ts;
  double *x, *y, *z;
  size_t bytes;  /* what it counts for against the cache's bound */
  unsigned refs; /* under the cache's mutex */
  bool listed;   /* in the cache's lists (holding one reference) */
  struct ds_chunk *lru_prev, *lru_next, *dev_next;
};

/* A new entry for n samples (arrays allocated, uninitialised) holding one
 * reference (the caller's); NULL when out of memory.  Freed by the last
 * dscc_release, or dscc_discard before it is ever shared. */
struct ds_chunk *dscc_chunk_new(int64_t id, int32_t device, int64_t first_ts, int64_t last_ts,
                                size_t n);
/* Frees an entry that was never inserted; NULL ok. */
void dscc_discard(struct ds_chunk *e);

/* Pins (takes a reference to) up to max cached entries of the devices
 * keys[0..nkeys) overlapping [start_pg, end_pg], most recently used first
 * in the lists, marking them recently used; pins[0..*npins) get them. */
void dscc_pin_range(struct ds_chunk_cache *c, const int32_t *keys, size_t nkeys, int64_t start_pg,
                    int64_t end_pg, struct ds_chunk **pins, size_t max, size_t *npins);
/* Lists e (the caller keeps its reference) unless it is too large, too
 * small or an entry with its id is listed already; evicts least recently
 * used entries past the bound. */
void dscc_insert(struct ds_chunk_cache *c, struct ds_chunk *e);
/* Drops one reference; the last frees.  NULL ok. */
void dscc_release(struct ds_chunk_cache *c, struct ds_chunk *e);
/* Unlists every entry (entries still pinned live until released). */
void dscc_clear(struct ds_chunk_cache *c);
/* Adds to the hit and miss counters. */
void dscc_count(struct ds_chunk_cache *c, uint64_t hits, uint64_t misses);

#endif
