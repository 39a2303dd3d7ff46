/* Per-device work of a running run: claiming one recalc_work row (a device
 * or a user), locking devices against the compactor, reading a user's
 * devices, storing a snapshot and marking the row done or failed, and the
 * devices due for compaction.  The claim's transaction stays open while the
 * item is computed (agg_worker.c), so a killed aggregator's item becomes
 * pending again.  Every function takes a borrowed connection; on DS_EDB the
 * detail is in err and any transaction it opened has been rolled back. */
#ifndef AGG_WORK_H
#define AGG_WORK_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/stats.h"

/* Opens a transaction and claims one pending work row of run rid
 * (FOR UPDATE SKIP LOCKED).  When *got, the transaction stays open and the
 * caller ends it with agg_work_store_* or agg_work_fail or ds_db_rollback;
 * else it is closed.  *kind is 'd' (device key) or 'u' (user key). */
DS_MUSTCHECK int agg_work_claim(PGconn *c, const char *rid, bool *got, char *kind, int32_t *key,
                                char err[DS_ERRLEN]);

/* The device keys of user key (sorted), newly allocated into *keys (caller
 * frees); *n may be 0. */
DS_MUSTCHECK int agg_work_user_devices(PGconn *c, int32_t user, int32_t **keys, size_t *n,
                                       char err[DS_ERRLEN]);

/* Upserts the snapshot of device key (or user key with its devices
 * keys[0..nkeys)), marks the claimed work row done by me, counts it in the
 * run, and commits. */
DS_MUSTCHECK int agg_work_store_device(PGconn *c, const char *rid, int32_t key,
                                       const struct ds_stats *s, const char *me,
                                       char err[DS_ERRLEN]);
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
