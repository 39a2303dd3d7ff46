/* Per-item work of a running run: locking devices against the compactor,
 * reading a user's devices, storing a user's snapshot and marking its row
 * done, marking a row failed, and the devices due for compaction.  Rows are
 * claimed by agg_batch_claim (agg_batch.h), whose transaction stays open
 * while the item is computed (agg_worker.c), so a killed aggregator's item
 * becomes pending again.  Every function takes a borrowed connection; on DS_EDB the
 * detail is in err and any transaction it opened has been rolled back. */
#ifndef AGG_WORK_H
#define AGG_WORK_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/stats.h"

/* The device keys of user key (sorted), newly allocated into *keys (caller
 * frees); *n may be 0. */
DS_MUSTCHECK int agg_work_user_devices(PGconn *c, int32_t user, int32_t **keys, size_t *n,
                                       char err[DS_ERRLEN]);

/* Upserts the snapshot of user key with its devices keys[0..nkeys), marks
 * the claimed work row done by me, and commits. */
DS_MUSTCHECK int agg_work_store_user(PGconn *c, const char *rid, int32_t key, const int32_t *keys,
                                     size_t nkeys, const struct ds_stats *s, const char *me,
                                     char err[DS_ERRLEN]);

/* Marks a work row failed with reason (in its own transaction when none is
 * open) and commits. */
DS_MUSTCHECK int agg_work_fail(PGconn *c, const char *rid, char kind, int32_t key,
                               const char *reason, const char *me, char err[DS_ERRLEN]);

/* Takes the per-device compaction lock (a transaction-level advisory lock;
 * a transaction must be open): waiting for it, or only when free (try; *got
 * then tells).  Compaction and snapshot computing of a device hold it, so no
 * compaction moves rows between a snapshot's two reads. */
DS_MUSTCHECK int agg_work_lock_device(PGconn *c, int32_t key, bool try_only, bool *got,
                                      char err[DS_ERRLEN]);

/* Devices whose recent rows are due for compaction: at least min_rows of
 * them, or the oldest older than max_age_s.  *keys newly allocated. */
DS_MUSTCHECK int agg_work_compact_candidates(PGconn *c, long long min_rows, long long max_age_s,
                                             int32_t **keys, size_t *n, char err[DS_ERRLEN]);

#endif
