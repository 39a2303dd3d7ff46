/* Reading samples back for statistics, shared by the query service and the
 * aggregator.  Samples live in two tables (see deploy/sql/001_init.sql):
 * samples_recent, one row per sample as ingest COPYs them, and
 * sample_chunks, one row per device per compacted chunk holding arrays.
 * ds_store_fetch reads both, in binary, and returns plain value arrays. */
#ifndef DS_STORE_H
#define DS_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/stats.h"

/* Columns of samples; ts is filled only when asked for. */
struct ds_values {
  double *x, *y, *z;
  int64_t *ts; /* Unix microseconds, or NULL */
  size_t n, cap;
  size_t max; /* hard limit on n; DS_ERANGE past it */
};

void ds_values_init(struct ds_values *v, size_t max);
void ds_values_cleanup(struct ds_values *v);
void ds_values_reset(struct ds_values *v);

/* Looks up a device's integer key by name: DS_OK, DS_ENOTFOUND or DS_EDB. */
DS_MUSTCHECK int ds_store_device_key(PGconn *conn, const char *name, int32_t *key,
                                     char err[DS_ERRLEN]);

/* Appends to out every sample of the devices keys[0..nkeys) with
 * start_us <= ts < end_us (either bound may be DS_TIME_NONE), fetching ts
 * as well when want_ts.  Order is unspecified. */
DS_MUSTCHECK int ds_store_fetch(PGconn *conn, const int32_t *keys, size_t nkeys, int64_t start_us,
                                int64_t end_us, bool want_ts, struct ds_values *out,
                                char err[DS_ERRLEN]);

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

/* As ds_store_fetch (same samples, same errors, one statement and so one
 * snapshot), but chunks found in cache (borrowed; shared by any number of
 * threads) are not transferred: the statement names them and gets only
 * their metadata.  Chunks the range covers partially are decoded into the
 * cache.  cache NULL: exactly ds_store_fetch. */
DS_MUSTCHECK int ds_store_fetch_cached(PGconn *conn, struct ds_chunk_cache *cache,
                                       const int32_t *keys, size_t nkeys, int64_t start_us,
                                       int64_t end_us, bool want_ts, struct ds_values *out,
                                       char err[DS_ERRLEN]);

/* Statistics of every value in v (reorders its arrays). */
void ds_values_stats(struct ds_values *v, struct ds_stats *out);

/* Moves up to max_rows of a device's samples_recent rows into one chunk
 * (ds_compact in SQL); *moved gets how many.  Safe to run concurrently. */
DS_MUSTCHECK int ds_store_compact(PGconn *conn, int32_t key, int max_rows, int *moved,
                                  char err[DS_ERRLEN]);

/* Merges some of a device's small chunks (fewer than target / 2 samples)
 * into chunks of target samples (ds_merge_chunks in SQL, 004_chunk_merge.sql)
 * and sets *merged to how many chunks it took: 0 when fewer than two small
 * chunks were free to take.  Each call takes at most 64; call again while
 * *merged > 0 to merge them all.  Safe to run concurrently with readers,
 * compactors and other mergers (their chunks are skipped); the chunks stay
 * locked until the caller's transaction ends. */
DS_MUSTCHECK int ds_store_merge_chunks(PGconn *conn, int32_t key, int target, int *merged,
                                       char err[DS_ERRLEN]);

#endif
