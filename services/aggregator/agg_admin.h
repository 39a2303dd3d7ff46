/* The aggregator's admin endpoint (ADMIN_PORT): GET /health (200 while the
 * command subscriber, the status publisher and the main database
 * connection are up, else 503 saying which is down) and GET /metrics
 * (commands, runs finished and their durations, devices and users
 * computed, the run queue and pending work items, broker/db up) as
 * Prometheus text.  Served on the admin thread from atomics that the main
 * thread and the workers write. */
#ifndef AGG_ADMIN_H
#define AGG_ADMIN_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "agg_worker.h"
#include "ds/admin.h"

/* Written by the main thread only; read by the admin thread. */
struct agg_admin_gauges {
  atomic_bool mqtt_up, db_up;
  atomic_llong runs_done, runs_failed;
  atomic_llong run_ms_sum;  /* elapsed_ms of the runs finished, summed */
  atomic_llong last_run_ms; /* elapsed_ms of the last run finished; -1 none */
  /* From the database (agg_admin_poll_queue); -1 until first read. */
  atomic_llong runs_queued, runs_running, work_pending;
};

struct agg_admin_ctx {
  struct agg_admin_gauges *g;   /* borrowed */
  const atomic_llong *commands; /* borrowed: agg_svc's counters */
  const atomic_llong *malformed, *duplicates, *published, *publish_failed;
  struct agg_worker *workers; /* borrowed, nworkers of them */
  long long nworkers;
};

/* Sets every gauge to its starting value (down, none, unknown). */
void agg_admin_gauges_init(struct agg_admin_gauges *g);
/* Counts a finished run (state done or failed) of elapsed_ms. */
void agg_admin_run_finished(struct agg_admin_gauges *g, bool done, long long elapsed_ms);
/* Reads the run queue and the pending work items on c into g.  DS_OK or
 * DS_EDB with err set. */
DS_MUSTCHECK int agg_admin_poll_queue(PGconn *c, struct agg_admin_gauges *g, char err[DS_ERRLEN]);

bool agg_admin_health(void *ctx, char *detail, size_t cap);
int agg_admin_metrics(void *ctx, struct ds_buf *out);

#endif
