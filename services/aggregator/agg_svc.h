/* The aggregator service.  Commands from control/recalculate are recorded
 * as runs by the subscriber's message callback before the broker is
 * acknowledged (agg_cmd.h); the main thread takes the recorded commands
 * from the inbox, starts queued runs one at a time, publishes status events
 * (its own and those its workers hand over through the outbox) with a
 * publish-only client, schedules periodic runs and logs stats.  The
 * workers (agg_worker.h) do the computing. */
#ifndef AGG_SVC_H
#define AGG_SVC_H

#include <libpq-fe.h>

#include "agg_admin.h"
#include "agg_cfg.h"
#include "agg_cmd.h"
#include "agg_inbox.h"
#include "agg_outbox.h"
#include "agg_worker.h"
#include "ds/backoff.h"
#include "ds/mqtt.h"
#include "ds/mqtt_async.h"

#define AGG_WORKERS_MAX 64

struct agg_svc {
  const struct agg_cfg *cfg; /* borrowed */
  char me[256];              /* client id of the subscriber (persistent session) */
  char pub_id[272];          /* client id of the status publisher: <me>-status */
  char filter[256];          /* subscription */
  PGconn *conn;              /* the main thread's */
  /* Commands arrive on sub's callback (Paho's thread), which may block
   * while it records one: the main thread makes no Paho call on sub
   * except connecting and subscribing, and publishes through pub. */
  struct ds_mqtta *sub;
  struct ds_mqtt *pub;
  bool sub_up;
  /* Reconnects of conn, of the subscriber session (connect + subscribe)
   * and of the publisher. */
  struct ds_backoff db_backoff, mqtt_backoff, pub_backoff;
  struct agg_cmd cmd; /* the callback's state; its thread only */
  struct agg_inbox inbox;
  bool inbox_ready;
  struct agg_outbox outbox;
  bool outbox_ready;
  struct agg_worker workers[AGG_WORKERS_MAX];
  /* The last run this instance saw finish: later "running" events of it
   * (a progress event that lost the race with the finish) are dropped. */
  char last_finished[DS_RECALC_REQUEST_ID_MAX + 1];
  /* Atomics: the admin thread reads them for /metrics. */
  atomic_llong commands, malformed, duplicates, published, publish_failed;
  struct agg_admin_gauges gauges;
  struct agg_admin_ctx admin_ctx;
  struct ds_admin *admin; /* NULL when ADMIN_PORT is 0 */
  int64_t next_poll_ms, next_stats_ms, next_queue_ms;
  long long last_slot;
};

/* Connects and starts the workers; logs event=ready.  The client id (cfg's
 * or a default) goes into svc->me.  DS_ESTOPPED when a stop came first. */
DS_MUSTCHECK int agg_svc_init(struct agg_svc *svc, const struct agg_cfg *cfg, char err[DS_ERRLEN]);
/* Runs until a stop is requested. */
void agg_svc_run(struct agg_svc *svc);
/* Joins the workers, publishes what they left, disconnects, frees. */
void agg_svc_cleanup(struct agg_svc *svc);

/* Acts on one command the receiver recorded (exposed for tests): publishes
 * the status of a malformed or repeated one, starts queued runs. */
void agg_svc_recorded(struct agg_svc *svc, const struct agg_recorded *r);

#endif
