/* The decoded-chunk cache of the sample store (chunk_cache.c): a bounded,
 * thread-safe, in-process cache that ds_store_fetch_cached (ds/store.h)
 * reads through.  The query service keeps one per process. */
#ifndef DS_CHUNK_CACHE_H
#define DS_CHUNK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"

/* A bounded, thread-safe, in-process cache of decoded sample chunks keyed
 * by chunk_id, for ds_store_fetch_cached.  A chunk_id's content never
 * changes (compaction and merging insert new chunks and delete old ones),
 * so entries never go stale; least recently used ones are evicted past
 * max_bytes (each costs 32 bytes per sample plus a small header). */
struct ds_chunk_cache;

struct ds_chunk_cache_stats {
  uint64_t hits;      /* chunks a fetch took from the cache */
  uint64_t misses;    /* chunks a fetch read from the database */
  uint64_t inserts;   /* chunks listed */
  uint64_t evictions; /* chunks dropped for room */
  size_t entries, bytes, max_bytes;
};

/* A new, empty cache; *out freed by ds_chunk_cache_free.  DS_ENOMEM. */
DS_MUSTCHECK int ds_chunk_cache_new(size_t max_bytes, struct ds_chunk_cache **out);
/* Frees the cache; no fetch may be using it.  NULL ok. */
void ds_chunk_cache_free(struct ds_chunk_cache *c);
/* A consistent copy of the counters; all zero for NULL. */
void ds_chunk_cache_stats(struct ds_chunk_cache *c, struct ds_chunk_cache_stats *out);

#endif
