/* The aggregator's SQL: the run queue (recalc_runs), the per-run work queue
 * (recalc_work), snapshots and compaction candidates.  Tables are in
 * deploy/sql/003_aggregator.sql, which also explains how several aggregators
 * share the work.  Every function takes a borrowed connection; on DS_EDB the
 * detail is in err and any transaction it opened has been rolled back. */
#ifndef AGG_DB_H
#define AGG_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/recalc.h"
#include "ds/recalc_status.h"
#include "ds/stats.h"

/* When no run is running, starts the oldest queued one (under an advisory
 * lock, so concurrent aggregators start one run at a time): validates its
 * command, decides which devices and users need computing, inserts their
 * work rows and marks it running.  *got tells whether a run changed state;
 * *st is its status then: running, failed (bad command, unknown device or
 * user) or done (nothing to compute: then there was no "running" event
 * yet, and the caller publishes one before the "done").  me
 * names this aggregator.  on_change (may be NULL) is called with *st after
 * the commit; the caller publishes from the thread that publishes every
 * other event, so "running" precedes "done". */
typedef void (*agg_db_start_fn)(const struct ds_recalc_status *st, void *ctx);
DS_MUSTCHECK int agg_db_start_next(PGconn *c, const char *me, agg_db_start_fn on_change, void *ctx,
                                   bool *got, struct ds_recalc_status *st, char err[DS_ERRLEN]);

/* The oldest running run that still has pending work, into rid. */
DS_MUSTCHECK int agg_db_active_run(PGconn *c, bool *got, char rid[DS_RECALC_REQUEST_ID_MAX + 1],
                                   char err[DS_ERRLEN]);

/* Opens a transaction and claims one pending work row of run rid
 * (FOR UPDATE SKIP LOCKED).  When *got, the transaction stays open and the
 * caller ends it with agg_db_store_* or agg_db_fail_item or agg_db_rollback;
 * else it is closed.  *kind is 'd' (device key) or 'u' (user key). */
DS_MUSTCHECK int agg_db_claim(PGconn *c, const char *rid, bool *got, char *kind, int32_t *key,
                              char err[DS_ERRLEN]);

/* The device keys of user key (sorted), newly allocated into *keys (caller
 * frees); *n may be 0. */
DS_MUSTCHECK int agg_db_user_devices(PGconn *c, int32_t user, int32_t **keys, size_t *n,
                                     char err[DS_ERRLEN]);

/* Upserts the snapshot of device key (or user key with its devices
 * keys[0..nkeys)), marks the claimed work row done by me, counts it in the
 * run, and commits. */
DS_MUSTCHECK int agg_db_store_device(PGconn *c, const char *rid, int32_t key,
                                     const struct ds_stats *s, const char *me, char err[DS_ERRLEN]);
DS_MUSTCHECK int agg_db_store_user(PGconn *c, const char *rid, int32_t key, const int32_t *keys,
                                   size_t nkeys, const struct ds_stats *s, const char *me,
                                   char err[DS_ERRLEN]);

/* Marks a work row failed with reason (in its own transaction when none is
 * open) and commits. */
DS_MUSTCHECK int agg_db_fail_item(PGconn *c, const char *rid, char kind, int32_t key,
                                  const char *reason, const char *me, char err[DS_ERRLEN]);

/* Rolls back the open transaction, if any (errors ignored). */
void agg_db_rollback(PGconn *c);

/* Finishes run rid if it is running and has no pending work left: done, or
 * failed when a work row failed.  *got tells whether this call finished it
 * (exactly one caller does); *st is then its final status. */
DS_MUSTCHECK int agg_db_finish(PGconn *c, const char *rid, bool *got, struct ds_recalc_status *st,
                               char err[DS_ERRLEN]);

/* Finishes any running run that has no pending work left (recovery after
 * an aggregator died between its last device and the finish).  Same outputs
 * as agg_db_finish, for one run per call. */
DS_MUSTCHECK int agg_db_finish_orphan(PGconn *c, bool *got, struct ds_recalc_status *st,
                                      char err[DS_ERRLEN]);

/* At most one caller per second gets *got true with the run's status, for a
 * progress event. */
DS_MUSTCHECK int agg_db_progress(PGconn *c, const char *rid, bool *got, struct ds_recalc_status *st,
                                 char err[DS_ERRLEN]);

/* Devices whose recent rows are due for compaction: at least min_rows of
 * them, or the oldest older than max_age_s.  *keys newly allocated. */
DS_MUSTCHECK int agg_db_compact_candidates(PGconn *c, long long min_rows, long long max_age_s,
                                           int32_t **keys, size_t *n, char err[DS_ERRLEN]);

/* Inserts a queued run for the schedule slot now_s / interval_s (one run per
 * slot however many aggregators try). */
DS_MUSTCHECK int agg_db_schedule(PGconn *c, long long slot, bool *inserted,
                                 struct ds_recalc_status *st, char err[DS_ERRLEN]);

/* Takes the per-device compaction lock (a transaction-level advisory lock;
 * a transaction must be open): waiting for it, or only when free (try; *got
 * then tells).  Compaction and snapshot computing of a device hold it, so no
 * compaction moves rows between a snapshot's two reads. */
DS_MUSTCHECK int agg_db_lock_device(PGconn *c, int32_t key, bool try_only, bool *got,
                                    char err[DS_ERRLEN]);

/* LISTEN on the channel that agg_db_start_next notifies when a run starts,
 * so idle workers wake at once instead of at their next poll. */
DS_MUSTCHECK int agg_db_listen(PGconn *c, char err[DS_ERRLEN]);
/* Waits up to timeout_ms for a notification (or returns at once when one
 * is pending).  DS_OK whether or not one came; DS_EDB when broken. */
DS_MUSTCHECK int agg_db_wait(PGconn *c, int timeout_ms, char err[DS_ERRLEN]);

#endif
