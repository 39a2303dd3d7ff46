/* Maintenance of the sample tables (store_maint.c), used by the
 * aggregator: compaction of recent rows into chunks and merging of small
 * chunks.  Reading is in ds/store.h. */
#ifndef DS_STORE_MAINT_H
#define DS_STORE_MAINT_H

#include <libpq-fe.h>
#include <stdint.h>

#include "ds/err.h"

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
