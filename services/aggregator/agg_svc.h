/* The aggregator service: the main thread receives commands from
 * control/recalculate, records them as runs, starts queued runs one at a
 * time, publishes status events (its own and those its workers hand over
 * through the outbox), schedules periodic runs and logs stats.  The workers
 * (agg_worker.h) do the computing. */
#ifndef AGG_SVC_H
#define AGG_SVC_H

#include <libpq-fe.h>

#include "agg_cfg.h"
#include "agg_outbox.h"
#include "agg_worker.h"
#include "ds/backoff.h"
#include "ds/mqtt.h"

#define AGG_WORKERS_MAX 64

struct agg_svc {
  const struct agg_cfg *cfg; /* borrowed */
  char me[256];              /* client id */
  char filter[256];          /* subscription */
  PGconn *conn;
  struct ds_mqtt *mqtt;
  bool subscribed;
  /* Reconnects of conn and of the broker session (connect + subscribe). */
  struct ds_backoff db_backoff, mqtt_backoff;
  struct agg_outbox outbox;
  bool outbox_ready;
  struct agg_worker workers[AGG_WORKERS_MAX];
  /* The last run this instance saw finish: later "running" events of it
   * (a progress event that lost the race with the finish) are dropped. */
  char last_finished[DS_RECALC_REQUEST_ID_MAX + 1];
  long long commands, malformed, duplicates, published, publish_failed;
  int64_t next_poll_ms, next_stats_ms;
  long long last_slot;
};

/* Connects and starts the workers; logs event=ready.  The client id (cfg's
 * or a default) goes into svc->me.  DS_ESTOPPED when a stop came first. */
DS_MUSTCHECK int agg_svc_init(struct agg_svc *svc, const struct agg_cfg *cfg, char err[DS_ERRLEN]);
/* Runs until a stop is requested. */
void agg_svc_run(struct agg_svc *svc);
/* Joins the workers, publishes what they left, disconnects, frees. */
void agg_svc_cleanup(struct agg_svc *svc);

/* Handles one command payload (exposed for tests): records it and
 * publishes the resulting status. */
DS_MUSTCHECK int agg_svc_command(struct agg_svc *svc, const char *payload, size_t len);

#endif
