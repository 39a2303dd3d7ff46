/* The aggregator's main thread (see agg_svc.h).  Commands are recorded in
 * recalc_runs by the subscriber's callback before the broker is
 * acknowledged (agg_cmd.c), so a command the broker delivered is never lost
 * and never run twice (request_id is the key); this thread acts on what was
 * recorded.  It alone publishes (workers hand their status events over
 * through the outbox), on a client of its own: the subscriber's Paho calls
 * wait while its callback blocks. */
#include "agg_svc.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agg_runs.h"
#include "ds/buf.h"
#include "ds/db.h"
#include "ds/log.h"
#include "ds/recalc.h"
#include "ds/signal.h"
#include "ds/time.h"

#define PUBLISH_TIMEOUT_MS 5000
/* How often the run queue is counted for /metrics (with an admin port). */
#define QUEUE_POLL_MS 5000

static void log_status(const char *event, const struct ds_recalc_status *st, enum ds_log_level lvl)
{
  struct ds_logline l;
  if (ds_log_begin(&l, lvl, event)) {
    ds_log_str(&l, "request_id", st->request_id);
    ds_log_str(&l, "state", st->state);
    ds_log_int(&l, "devices", st->devices);
    ds_log_int(&l, "elapsed_ms", st->elapsed_ms);
    if (strcmp(st->state, "failed") == 0)
      ds_log_str(&l, "error", st->error);
    ds_log_end(&l);
  }
}

/* Publishes a status event (QoS 1) and logs the transition. */
static void publish_status(struct agg_svc *svc, const struct ds_recalc_status *st,
                           const char *event)
{
  if (strcmp(st->state, "running") == 0 && strcmp(st->request_id, svc->last_finished) == 0)
    return; /* stale progress: the run is finished */
  if (strcmp(st->state, "done") == 0 || strcmp(st->state, "failed") == 0)
    snprintf(svc->last_finished, sizeof svc->last_finished, "%s", st->request_id);
  if (event != NULL) {
    bool failed = strcmp(st->state, "failed") == 0;
    log_status(event, st, failed ? DS_LOG_WARN : DS_LOG_INFO);
    if (failed || strcmp(st->state, "done") == 0)
      agg_admin_run_finished(&svc->gauges, !failed, st->elapsed_ms);
  }
  struct ds_buf b;
  ds_buf_init(&b, 4096);
  char err[DS_ERRLEN] = "";
  int rc = ds_recalc_status_json(&b, st);
  if (rc == DS_OK && !ds_mqtt_is_connected(svc->pub)) {
    rc = DS_EMQTT;
    snprintf(err, sizeof err, "broker not connected");
  }
  if (rc == DS_OK)
    rc = ds_mqtt_publish(svc->pub, DS_RECALC_STATUS_TOPIC, b.data, b.len, 1, false,
                         PUBLISH_TIMEOUT_MS, err);
  if (rc == DS_OK) {
    svc->published++;
  } else {
    svc->publish_failed++;
    ds_log_msg(DS_LOG_WARN, "status_publish_failed", "%s: %s", st->request_id, err);
  }
  ds_buf_cleanup(&b);
}

static const char *event_for(const struct ds_recalc_status *st)
{
  if (strcmp(st->state, "done") == 0)
    return "run_done";
  if (strcmp(st->state, "failed") == 0)
    return "run_failed";
  return NULL; /* progress: not logged */
}

/* Makes sure svc->conn works: one connection attempt when the backoff says
 * one is due, else DS_EDB at once.  The outage is logged once
 * (db_unavailable) and the recovery once (db_connected). */
static int ensure_db(struct agg_svc *svc)
{
  if (!ds_db_broken(svc->conn))
    return DS_OK;
  if (svc->conn != NULL)
    PQfinish(svc->conn);
  svc->conn = NULL;
  if (!ds_backoff_due(&svc->db_backoff, ds_time_mono_ms()))
    return DS_EDB;
  char err[DS_ERRLEN] = "";
  int rc = ds_db_connect(svc->cfg->database_url, "devicestats-aggregator", &svc->conn, err);
  if (rc != DS_OK) {
    if (ds_backoff_failed(&svc->db_backoff, ds_time_mono_ms()))
      ds_log_msg(DS_LOG_WARN, "db_unavailable", "%s; retrying with backoff up to %ld ms", err,
                 svc->db_backoff.max_ms);
    return rc;
  }
  if (ds_backoff_succeeded(&svc->db_backoff))
    ds_log_msg(DS_LOG_INFO, "db_connected", "reachable again");
  return DS_OK;
}

/* Waits for the database (DS_OK), or until a stop is requested
 * (DS_ESTOPPED). */
static int wait_db(struct agg_svc *svc)
{
  while (ensure_db(svc) != DS_OK)
    if (!ds_backoff_wait(&svc->db_backoff))
      return DS_ESTOPPED;
  return DS_OK;
}

static void on_started(const struct ds_recalc_status *st, void *ctx)
{
  struct agg_svc *svc = ctx;
  if (strcmp(st->state, "done") == 0) {
    /* A run with nothing to compute still reports running, then done. */
    struct ds_recalc_status run = *st;
    snprintf(run.state, sizeof run.state, "running");
    run.devices = 0;
    run.elapsed_ms = 0;
    publish_status(svc, &run, "run_started");
    publish_status(svc, st, event_for(st));
    return;
  }
  publish_status(svc, st, strcmp(st->state, "running") == 0 ? "run_started" : event_for(st));
}

/* Starts queued runs while none is running; a run with nothing to compute
 * is finished at once. */
static void start_runs(struct agg_svc *svc)
{
  char err[DS_ERRLEN] = "";
  for (int i = 0; i < 100 && !ds_signal_stop_requested(); i++) {
    bool got = false;
    struct ds_recalc_status st;
    if (agg_runs_start_next(svc->conn, svc->me, on_started, svc, &got, &st, err) != DS_OK) {
      ds_log_msg(DS_LOG_WARN, "db_error", "start run: %s", err);
      return;
    }
    if (!got)
      break;
  }
  /* Finishes a run with no work (nothing changed) and any run whose last
   * worker died before finishing it. */
  for (int i = 0; i < 100; i++) {
    bool got = false;
    struct ds_recalc_status st;
    if (agg_runs_finish_orphan(svc->conn, &got, &st, err) != DS_OK) {
      ds_log_msg(DS_LOG_WARN, "db_error", "finish run: %s", err);
      return;
    }
    if (!got)
      break;
    publish_status(svc, &st, event_for(&st));
  }
}

void agg_svc_recorded(struct agg_svc *svc, const struct agg_recorded *r)
{
  svc->commands++;
  if (r->malformed)
    svc->malformed++;
  if (!r->inserted) {
    /* Same request_id again: never run twice; say where it stands. */
    svc->duplicates++;
    ds_log_msg(DS_LOG_INFO, "command_duplicate", "request_id=%s state=%s", r->st.request_id,
               r->st.state);
    if (strcmp(r->st.state, "queued") != 0)
      publish_status(svc, &r->st, NULL);
    else if (ensure_db(svc) == DS_OK)
      start_runs(svc); /* e.g. recorded by POST /tasks/recalculate just before */
    return;
  }
  if (r->malformed) {
    publish_status(svc, &r->st, "run_failed");
    return;
  }
  ds_log_msg(DS_LOG_INFO, "run_queued", "request_id=%s", r->st.request_id);
  /* Without the database now, the next poll after it returns starts it. */
  if (ensure_db(svc) == DS_OK)
    start_runs(svc);
}

/* One connect-and-subscribe attempt of the subscriber.  A resumed session
 * already holds the subscription, and the broker sends what it queued at
 * once: the callback may then block recording a command, and Paho's other
 * calls wait for it.  So on a resumed session the SUBSCRIBE is sent
 * without waiting for its SUBACK (a refusal shows up through
 * ds_mqtta_take_error), as ingest does. */
static int connect_sub(struct agg_svc *svc, const char **down, char err[DS_ERRLEN])
{
  bool resumed = false;
  *down = "mqtt_unavailable";
  int rc = ds_mqtta_connect(svc->sub, 5000, &resumed, err);
  if (rc != DS_OK)
    return rc;
  *down = "mqtt_subscribe_failed";
  rc = ds_mqtta_subscribe(svc->sub, svc->filter, 1, resumed ? 0 : 10000, err);
  if (rc != DS_OK)
    ds_mqtta_disconnect(svc->sub, 1000);
  return rc;
}

/* Makes sure the subscriber session is up and subscribed: one attempt
 * (connect, then subscribe) when the backoff says one is due, else
 * DS_EMQTT at once.  A refused connection or subscription waits like any
 * other failure; the outage is logged once and the recovery once. */
static int ensure_sub(struct agg_svc *svc)
{
  char err[DS_ERRLEN] = "";
  if (svc->sub_up && ds_mqtta_take_error(svc->sub, err)) {
    (void)ds_backoff_failed(&svc->mqtt_backoff, ds_time_mono_ms());
    ds_log_msg(DS_LOG_WARN, "mqtt_subscribe_failed", "%s; reconnecting with backoff up to %ld ms",
               err, svc->mqtt_backoff.max_ms);
    ds_mqtta_disconnect(svc->sub, 1000);
    svc->sub_up = false;
  }
  if (svc->sub_up && !ds_mqtta_is_connected(svc->sub)) {
    /* The outage begins here: logged once, then reconnects back off. */
    if (ds_backoff_failed(&svc->mqtt_backoff, ds_time_mono_ms()))
      ds_log_msg(DS_LOG_WARN, "mqtt_lost", "connection to the broker lost; reconnecting");
    svc->sub_up = false;
  }
  if (svc->sub_up)
    return DS_OK;
  if (!ds_backoff_due(&svc->mqtt_backoff, ds_time_mono_ms()))
    return DS_EMQTT;
  const char *down = "mqtt_unavailable";
  if (connect_sub(svc, &down, err) != DS_OK) {
    if (ds_backoff_failed(&svc->mqtt_backoff, ds_time_mono_ms()))
      ds_log_msg(DS_LOG_WARN, down, "%s; retrying with backoff up to %ld ms", err,
                 svc->mqtt_backoff.max_ms);
    return DS_EMQTT;
  }
  svc->sub_up = true;
  if (ds_backoff_succeeded(&svc->mqtt_backoff))
    ds_log_msg(DS_LOG_INFO, "mqtt_connected", "subscribed to %s", svc->filter);
  return DS_OK;
}

/* The same for the status publisher (clean session, nothing to subscribe). */
static int ensure_pub(struct agg_svc *svc)
{
  if (ds_mqtt_is_connected(svc->pub))
    return DS_OK;
  if (!ds_backoff_due(&svc->pub_backoff, ds_time_mono_ms()))
    return DS_EMQTT;
  char err[DS_ERRLEN] = "";
  if (ds_mqtt_connect(svc->pub, err) != DS_OK) {
    if (ds_backoff_failed(&svc->pub_backoff, ds_time_mono_ms()))
      ds_log_msg(DS_LOG_WARN, "mqtt_unavailable",
                 "status publisher: %s; retrying with backoff up to %ld ms", err,
                 svc->pub_backoff.max_ms);
    return DS_EMQTT;
  }
  if (ds_backoff_succeeded(&svc->pub_backoff))
    ds_log_msg(DS_LOG_INFO, "mqtt_connected", "status publisher reachable again");
  return DS_OK;
}

/* For /health and /metrics: what the main thread sees now. */
static void update_up(struct agg_svc *svc)
{
  atomic_store(&svc->gauges.mqtt_up, svc->sub_up && ds_mqtt_is_connected(svc->pub));
  atomic_store(&svc->gauges.db_up, !ds_db_broken(svc->conn));
}

/* The admin port answers from the start (503 until connected). */
static int start_admin(struct agg_svc *svc, char err[DS_ERRLEN])
{
  const struct agg_cfg *cfg = svc->cfg;
  agg_admin_gauges_init(&svc->gauges);
  svc->admin_ctx = (struct agg_admin_ctx){&svc->gauges,     &svc->commands,  &svc->malformed,
                                          &svc->duplicates, &svc->published, &svc->publish_failed,
                                          svc->workers,     cfg->workers};
  if (cfg->admin_port <= 0)
    return DS_OK;
  char aerr[DS_ERRLEN] = "";
  int rc = ds_admin_start(cfg->admin_addr, (int)cfg->admin_port, "aggregator", agg_admin_health,
                          agg_admin_metrics, &svc->admin_ctx, &svc->admin, aerr);
  if (rc != DS_OK) {
    snprintf(err, DS_ERRLEN, "admin port: %s", aerr);
    return rc;
  }
  ds_log_msg(DS_LOG_INFO, "admin_listening", "GET /health and /metrics on %s:%lld", cfg->admin_addr,
             cfg->admin_port);
  return DS_OK;
}

int agg_svc_init(struct agg_svc *svc, const struct agg_cfg *cfg, char err[DS_ERRLEN])
{
  memset(svc, 0, sizeof *svc);
  svc->cfg = cfg;
  int rc = start_admin(svc, err);
  if (rc != DS_OK)
    return rc;
  ds_backoff_init(&svc->db_backoff, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
  ds_backoff_init(&svc->mqtt_backoff, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
  ds_backoff_init(&svc->pub_backoff, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
  if (cfg->client_id != NULL && cfg->client_id[0] != '\0') {
    snprintf(svc->me, sizeof svc->me, "%s", cfg->client_id);
  } else {
    char host[128] = "localhost";
    if (gethostname(host, sizeof host) != 0)
      snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(svc->me, sizeof svc->me, "devicestats-aggregator-%s", host);
  }
  if (agg_cfg_filter(cfg, svc->filter, sizeof svc->filter) != DS_OK) {
    snprintf(err, DS_ERRLEN, "AGGREGATOR_GROUP: '%.64s' is not a valid group name", cfg->group);
    return DS_EINVAL;
  }
  rc = agg_outbox_init(&svc->outbox);
  if (rc != DS_OK)
    return rc;
  svc->outbox_ready = true;
  if ((rc = agg_inbox_init(&svc->inbox)) != DS_OK)
    return rc;
  svc->inbox_ready = true;
  agg_cmd_init(&svc->cmd, cfg, svc->me, &svc->inbox);
  snprintf(svc->pub_id, sizeof svc->pub_id, "%s-status", svc->me);
  struct ds_mqtt_opts po = {.url = cfg->mqtt_url,
                            .client_id = svc->pub_id,
                            .username = cfg->mqtt_username,
                            .password = cfg->mqtt_password,
                            .clean_session = true,
                            .keepalive_s = 30,
                            .publish_only = true,
                            .ca_file = cfg->mqtt_ca_file};
  if ((rc = ds_mqtt_new(&po, &svc->pub, err)) != DS_OK)
    return rc;
  struct ds_mqtt_opts so = po;
  so.client_id = svc->me;
  so.clean_session = false; /* the broker keeps commands sent while we are away */
  so.publish_only = false;
  if ((rc = ds_mqtta_new(&so, agg_cmd_on_message, &svc->cmd, &svc->sub, err)) != DS_OK)
    return rc;
  if ((rc = wait_db(svc)) != DS_OK) {
    snprintf(err, DS_ERRLEN, "stopped while waiting for the database");
    return rc;
  }
  while (ensure_pub(svc) != DS_OK)
    if (!ds_backoff_wait(&svc->pub_backoff)) {
      snprintf(err, DS_ERRLEN, "stopped while waiting for the broker");
      return DS_ESTOPPED;
    }
  while (ensure_sub(svc) != DS_OK)
    if (!ds_backoff_wait(&svc->mqtt_backoff)) {
      snprintf(err, DS_ERRLEN, "stopped while waiting for the broker");
      return DS_ESTOPPED;
    }
  for (long long i = 0; i < cfg->workers && i < AGG_WORKERS_MAX; i++) {
    struct agg_worker *w = &svc->workers[i];
    w->index = (int)i;
    w->cfg = cfg;
    w->me = svc->me;
    w->outbox = &svc->outbox;
    if ((rc = agg_worker_start(w)) != DS_OK) {
      snprintf(err, DS_ERRLEN, "cannot start worker %lld", i);
      return rc;
    }
  }
  update_up(svc);
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_INFO, "ready")) {
    ds_log_str(&l, "client_id", svc->me);
    ds_log_str(&l, "subscription", svc->filter);
    ds_log_str(&l, "broker", cfg->mqtt_url);
    ds_log_int(&l, "workers", cfg->workers);
    ds_log_end(&l);
  }
  return DS_OK;
}

static void drain_outbox(struct agg_svc *svc)
{
  struct ds_recalc_status st;
  while (agg_outbox_pop(&svc->outbox, &st))
    publish_status(svc, &st, event_for(&st));
}

static void log_stats(struct agg_svc *svc)
{
  long long dev = 0, usr = 0, failed = 0, samples = 0, compacted = 0, dberr = 0;
  for (long long i = 0; i < svc->cfg->workers && i < AGG_WORKERS_MAX; i++) {
    struct agg_worker_counters *c = &svc->workers[i].counters;
    dev += atomic_load(&c->devices);
    usr += atomic_load(&c->users);
    failed += atomic_load(&c->failed);
    samples += atomic_load(&c->samples);
    compacted += atomic_load(&c->compacted_rows);
    dberr += atomic_load(&c->db_errors);
  }
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_INFO, "stats")) {
    ds_log_int(&l, "commands", svc->commands);
    ds_log_int(&l, "malformed", svc->malformed);
    ds_log_int(&l, "duplicates", svc->duplicates);
    ds_log_int(&l, "devices_computed", dev);
    ds_log_int(&l, "users_computed", usr);
    ds_log_int(&l, "items_failed", failed);
    ds_log_int(&l, "samples_read", samples);
    ds_log_int(&l, "compacted_rows", compacted);
    ds_log_int(&l, "db_errors", dberr);
    ds_log_int(&l, "published", svc->published);
    ds_log_int(&l, "publish_failed", svc->publish_failed);
    ds_log_int(&l, "status_dropped", (long long)agg_outbox_dropped(&svc->outbox));
    ds_log_end(&l);
  }
}

static void periodic(struct agg_svc *svc)
{
  int64_t now = ds_time_mono_ms();
  if (now >= svc->next_stats_ms) {
    if (svc->next_stats_ms != 0)
      log_stats(svc);
    svc->next_stats_ms = now + svc->cfg->stats_period_s * 1000;
  }
  if (now < svc->next_poll_ms)
    return;
  svc->next_poll_ms = now + svc->cfg->poll_ms;
  drain_outbox(svc);
  if (ensure_db(svc) != DS_OK)
    return;
  if (svc->admin != NULL && now >= svc->next_queue_ms) {
    char err[DS_ERRLEN] = "";
    svc->next_queue_ms = now + QUEUE_POLL_MS;
    if (agg_admin_poll_queue(svc->conn, &svc->gauges, err) != DS_OK)
      ds_log_msg(DS_LOG_WARN, "db_error", "%s", err);
  }
  if (svc->cfg->interval_s > 0) {
    /* One run per slot of the wall clock, whichever aggregator is first. */
    long long slot = ds_time_now_us() / 1000000 / svc->cfg->interval_s;
    if (slot != svc->last_slot) {
      bool inserted = false;
      struct ds_recalc_status st;
      char err[DS_ERRLEN] = "";
      if (agg_runs_schedule(svc->conn, slot, &inserted, &st, err) != DS_OK)
        ds_log_msg(DS_LOG_WARN, "db_error", "schedule: %s", err);
      else
        svc->last_slot = slot;
      if (inserted)
        ds_log_msg(DS_LOG_INFO, "run_queued", "request_id=%s source=schedule", st.request_id);
    }
  }
  start_runs(svc);
}

void agg_svc_run(struct agg_svc *svc)
{
  svc->last_slot = svc->cfg->interval_s > 0 ? ds_time_now_us() / 1000000 / svc->cfg->interval_s : 0;
  while (!ds_signal_stop_requested()) {
    periodic(svc);
    (void)ensure_pub(svc);
    /* While the callback waits for the database, this may wait for it too
     * (Paho's lock): nothing here needs the database meanwhile. */
    (void)ensure_sub(svc);
    update_up(svc);
    struct agg_recorded r;
    while (agg_inbox_pop(&svc->inbox, &r))
      agg_svc_recorded(svc, &r);
    (void)agg_inbox_wait(&svc->inbox, 100);
  }
}

void agg_svc_cleanup(struct agg_svc *svc)
{
  ds_admin_stop(svc->admin);
  svc->admin = NULL;
  /* No command is taken from here on: the disconnect waits for a callback
   * under way, which returns once its command is recorded. */
  ds_mqtta_free(svc->sub, 1000);
  svc->sub = NULL;
  agg_cmd_cleanup(&svc->cmd);
  /* Workers finish the device in hand and leave the rest pending: the run
   * stays resumable by any aggregator. */
  for (long long i = 0; i < AGG_WORKERS_MAX; i++)
    agg_worker_join(&svc->workers[i], svc->cfg->shutdown_timeout_ms);
  if (svc->outbox_ready) {
    drain_outbox(svc);
    agg_outbox_cleanup(&svc->outbox);
    svc->outbox_ready = false;
  }
  if (svc->inbox_ready) {
    /* Recorded but not acted on: statuses of failed or repeated commands
     * still go out; queued runs wait for the next aggregator's poll. */
    struct agg_recorded r;
    while (agg_inbox_pop(&svc->inbox, &r))
      if (r.malformed || strcmp(r.st.state, "queued") != 0)
        publish_status(svc, &r.st, r.malformed && r.inserted ? "run_failed" : NULL);
    agg_inbox_cleanup(&svc->inbox);
    svc->inbox_ready = false;
  }
  ds_mqtt_free(svc->pub, 1000);
  svc->pub = NULL;
  if (svc->conn != NULL)
    PQfinish(svc->conn);
  svc->conn = NULL;
}
