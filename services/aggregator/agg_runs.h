/* The run queue: recalc_runs rows move queued -> running -> done | failed
 * (deploy/sql/003_aggregator.sql explains how several aggregators share
 * it).  Starting a run plans its work (one recalc_work row per device and
 * user to compute, see agg_work.h); finishing it happens when no work is
 * pending.  Recording a command and reading a run's status are the
 * protocol's own, in ds/recalc_status.h.  Every function takes a borrowed
 * connection; on DS_EDB the detail is in err and any transaction it opened
 * has been rolled back. */
#ifndef AGG_RUNS_H
#define AGG_RUNS_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "ds/err.h"
#include "ds/recalc.h"
#include "ds/recalc_status.h"

/* When no run is running, starts the oldest queued one (under an advisory
 * lock, so concurrent aggregators start one run at a time): validates its
 * command, decides which devices and users need computing, inserts their
 * work rows and marks it running.  *got tells whether a run changed state;
 * *st is its status then: running, failed (bad command, unknown device or
 * user) or done (nothing to compute: then there was no "running" event
 * yet, and the caller publishes one before the "done").  me (borrowed)
 * names this aggregator.  on_change (may be NULL) is called with *st after
 * the commit; the caller publishes from the thread that publishes every
 * other event, so "running" precedes "done". */
typedef void (*agg_runs_start_fn)(const struct ds_recalc_status *st, void *ctx);
DS_MUSTCHECK int agg_runs_start_next(PGconn *c, const char *me, agg_runs_start_fn on_change,
                                     void *ctx, bool *got, struct ds_recalc_status *st,
                                     char err[DS_ERRLEN]);

/* The oldest running run that still has pending work, into rid. */
DS_MUSTCHECK int agg_runs_active(PGconn *c, bool *got, char rid[DS_RECALC_REQUEST_ID_MAX + 1],
                                 char err[DS_ERRLEN]);

/* Finishes run rid if it is running and has no pending work left: done, or
 * failed when a work row failed.  *got tells whether this call finished it
 * (exactly one caller does); *st is then its final status. */
DS_MUSTCHECK int agg_runs_finish(PGconn *c, const char *rid, bool *got, struct ds_recalc_status *st,
                                 char err[DS_ERRLEN]);

/* Finishes any running run that has no pending work left (recovery after
 * an aggregator died between its last device and the finish).  Same outputs
 * as agg_runs_finish, for one run per call. */
DS_MUSTCHECK int agg_runs_finish_orphan(PGconn *c, bool *got, struct ds_recalc_status *st,
                                        char err[DS_ERRLEN]);

/* At most one caller per second gets *got true with the run's status, for a
 * progress event. */
DS_MUSTCHECK int agg_runs_progress(PGconn *c, const char *rid, bool *got,
                                   struct ds_recalc_status *st, char err[DS_ERRLEN]);

/* Records a queued run for the schedule slot now_s / interval_s (one run
 * per slot however many aggregators try). */
DS_MUSTCHECK int agg_runs_schedule(PGconn *c, long long slot, bool *inserted,
                                   struct ds_recalc_status *st, char err[DS_ERRLEN]);

/* LISTEN on the channel that agg_runs_start_next notifies when a run
 * starts, so idle workers wake at once instead of at their next poll. */
DS_MUSTCHECK int agg_runs_listen(PGconn *c, char err[DS_ERRLEN]);
/* Waits up to timeout_ms for a notification (or returns at once when one
 * is pending).  DS_OK whether or not one came; DS_EDB when broken. */
DS_MUSTCHECK int agg_runs_wait(PGconn *c, int timeout_ms, char err[DS_ERRLEN]);

#endif
