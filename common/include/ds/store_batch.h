/* Reading the samples of several devices in one statement, device by
 * device, for the aggregator's batched recalculation: one round trip and
 * one snapshot for a whole batch, memory of one device at a time.  The
 * single-scope reads (ranges, times, the chunk cache) are ds/store.h's. */
#ifndef DS_STORE_BATCH_H
#define DS_STORE_BATCH_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/store.h"

/* Called once per device that has samples, in ascending key order, with
 * every sample of it in v (ts not filled) and the newest sample time in
 * last_pg (PostgreSQL binary timestamptz: microseconds since 2000-01-01).
 * vrc is DS_OK, or the reason v could not hold them all (DS_ERANGE: more
 * than v->max samples; DS_ENOMEM): v is then empty.  v is the caller's,
 * borrowed for the call; fn may reorder it.  A return other than DS_OK
 * stops the fetch, which returns that code. */
typedef int (*ds_store_device_fn)(void *ctx, int32_t key, struct ds_values *v, int64_t last_pg,
                                  int vrc);

/* Every sample of the devices keys[0..nkeys) (sorted ascending, distinct),
 * both tables, all time, in one statement (one snapshot on plain
 * PostgreSQL; on Citus one per shard, as ds_store_fetch) in single-row
 * mode: libpq holds one chunk at a time, v one device.  v is reset before
 * each device.  Devices without samples are not reported.  DS_OK, DS_EDB
 * (detail in err), or fn's code. */
DS_MUSTCHECK int ds_store_fetch_devices(PGconn *conn, const int32_t *keys, size_t nkeys,
                                        struct ds_values *v, ds_store_device_fn fn, void *ctx,
                                        char err[DS_ERRLEN]);

#endif
