/* Batched work of a running run: claiming several pending device rows in
 * one transaction (or one user row), holding their devices against the
 * compactor, and storing their snapshots with one statement each for the
 * snapshots, the done marks and the run's count.  A batch is one
 * transaction from claim to commit, so a killed aggregator's batch becomes
 * pending again as a whole; row locks (FOR UPDATE SKIP LOCKED, one
 * statement per row, sent in one pipeline: Citus locks rows only in
 * statements that name the distribution key) keep two workers off the same
 * row.  Every function takes a borrowed connection; on DS_EDB the detail is
 * in err and the caller rolls back. */
#ifndef AGG_BATCH_H
#define AGG_BATCH_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/stats.h"

/* Most rows one batch claims (AGGREGATOR_BATCH_DEVICES' upper bound). */
#define AGG_BATCH_MAX 1024

/* One claimed row and, for a device, what its computation gave. */
struct agg_batch_item {
  int32_t key;
  int code;        /* DS_OK: st (and last_pg when has_last) hold its snapshot; else why it failed */
  bool has_last;   /* the device had samples; last_pg is the newest one's time */
  int64_t last_pg; /* PostgreSQL binary timestamptz */
  struct ds_stats st;
};

struct agg_batch {
  char kind;                    /* 'd' (device keys) or 'u' (one user key) */
  size_t n, cap;                /* items claimed, room */
  struct agg_batch_item *items; /* cap entries, ascending keys */
  int32_t *cand;                /* scratch: candidate keys (2 * cap) */
};

/* Room for cap (1..AGG_BATCH_MAX) items.  DS_OK or DS_ENOMEM. */
DS_MUSTCHECK int agg_batch_init(struct agg_batch *b, size_t cap);
void agg_batch_cleanup(struct agg_batch *b);

/* Opens a transaction and claims up to want (at most b->cap) pending
 * device rows of run rid, in key order, skipping rows other workers hold;
 * when the first pending row it can take is a user's, that one alone
 * (b->kind 'u').  b->n > 0: the transaction stays open and the caller ends
 * it (agg_batch_store, agg_work_store_user, or ds_db_rollback); b->n == 0:
 * nothing was free, the transaction is closed. */
DS_MUSTCHECK int agg_batch_claim(PGconn *c, const char *rid, size_t want, struct agg_batch *b,
                                 char err[DS_ERRLEN]);

/* Takes the per-device compaction locks (agg_work_lock_device's, waiting)
 * of every device of b in one statement, in key order. */
DS_MUSTCHECK int agg_batch_lock_devices(PGconn *c, const struct agg_batch *b, char err[DS_ERRLEN]);

/* For a device batch: upserts the snapshots of the items with code DS_OK,
 * marks them done by me with their sample counts, marks the others failed
 * with their reason, adds the done ones to the run's devices_done, and
 * commits.  *done and *failed get how many of each.  DS_ECONFLICT (rolled
 * back) if a row was no longer pending, which the claim's locks exclude. */
DS_MUSTCHECK int agg_batch_store(PGconn *c, const char *rid, const struct agg_batch *b,
                                 const char *me, size_t *done, size_t *failed, char err[DS_ERRLEN]);

#endif
