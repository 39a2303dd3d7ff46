/* Worker threads: each has its own database connection, waits for a running
 * run with pending work (woken by NOTIFY, else every poll_ms), claims a
 * batch of devices (up to AGGREGATOR_BATCH_DEVICES, about 1M samples) or
 * one user at a time (FOR UPDATE SKIP LOCKED), fetches them in one
 * statement, computes and stores their snapshots in the claiming
 * transaction (agg_batch.h, agg_work.h), and finishes the run when no work
 * is left (agg_runs.h).  Runs do not compact; worker 0 runs the periodic
 * compaction pass when idle.  A stop request is honoured between batches:
 * the batch in hand is finished and committed, the rest stays pending for
 * the next aggregator. */
#ifndef AGG_WORKER_H
#define AGG_WORKER_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "agg_batch.h"
#include "agg_cfg.h"
#include "agg_outbox.h"
#include "ds/backoff.h"
#include "ds/store.h"

/* Counters read by the main thread for event=stats (atomics, written only
 * by their worker). */
struct agg_worker_counters {
  atomic_llong devices;
  atomic_llong users;
  atomic_llong failed;
  atomic_llong samples;
  atomic_llong compacted_rows;
  atomic_llong db_errors;
};

struct agg_worker {
  int index;
  const struct agg_cfg *cfg; /* borrowed for the thread's life */
  const char *me;            /* this aggregator's client id, borrowed */
  struct agg_outbox *outbox; /* borrowed */
  struct agg_worker_counters counters;
  /* Owned by the thread: */
  pthread_t thread;
  bool started;
  PGconn *conn;
  struct ds_store_stmts store_stmts; /* the sample store's statements on conn */
  struct ds_backoff db_backoff;      /* reconnects of conn */
  /* For the main thread: a cancel handle of conn (replaced under
   * cancel_lock on reconnect) and whether the thread has ended. */
  pthread_mutex_t cancel_lock;
  PGcancel *cancel;
  atomic_bool exited;
  struct ds_values values;
  struct agg_batch batch; /* the items in hand */
  size_t batch_want;      /* devices the next claim asks for */
  size_t batch_single;    /* after a failed batch: claims left to make one item at a time */
  long long next_compact_ms;
  /* The last item whose processing hit a database error, and how often. */
  char fail_rid[DS_RECALC_REQUEST_ID_MAX + 1];
  char fail_kind;
  int32_t fail_key;
  int fail_count;
};

/* Starts the thread; w's cfg, me, outbox and index must be set. */
DS_MUSTCHECK int agg_worker_start(struct agg_worker *w);
/* Waits for the thread (it exits once ds_signal_stop_requested(), after
 * the device in hand); after timeout_ms, cancels its running statement so
 * that a blocked query cannot hold the shutdown. */
void agg_worker_join(struct agg_worker *w, long long timeout_ms);

/* One pass of compaction over the devices due (also used by tests): each
 * device's recent rows go into chunks, then its small chunks are merged
 * (agg_worker_merge_device).  Adds the rows moved to *rows and the chunks
 * merged away to *merged.  Returns DS_OK or DS_EDB / DS_ESTOPPED. */
DS_MUSTCHECK int agg_worker_compact_pass(PGconn *c, const struct agg_cfg *cfg, long long *rows,
                                         long long *merged, char err[DS_ERRLEN]);
/* Compacts one device's recent rows completely (chunks of chunk_rows). */
DS_MUSTCHECK int agg_worker_compact_device(PGconn *c, int32_t key, long long chunk_rows,
                                           long long *rows, char err[DS_ERRLEN]);
/* Merges a device's chunks of fewer than chunk_rows / 2 samples into chunks
 * of chunk_rows (ds_store_merge_chunks), a bounded number of times per call
 * so one device cannot hold a transaction for long; adds the chunks taken to
 * *merged.  Chunks locked by another transaction are left for later. */
DS_MUSTCHECK int agg_worker_merge_device(PGconn *c, int32_t key, long long chunk_rows,
                                         long long *merged, char err[DS_ERRLEN]);

#endif
