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
DS_MUSTCHECK int ds_store_fetch(PGconn *conn, const int32_t *keys, size_t nkeys,
                                int64_t start_us, int64_t end_us, bool want_ts,
                                struct ds_values *out, char err[DS_ERRLEN]);

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
