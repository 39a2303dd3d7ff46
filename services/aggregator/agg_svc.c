/* The aggregator's main thread (see agg_svc.h).  It is the only thread that
 * uses the MQTT client; workers hand their status events over through the
 * outbox.  Commands are recorded in recalc_runs before anything else, so a
 * command is never lost once recorded and never run twice (request_id is the
 * key). */
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

static void gen_request_id(char out[DS_RECALC_REQUEST_ID_MAX + 1])
{
  if (ds_recalc_request_id_new(out) == DS_OK)
    return;
  /* Unlikely; fall back to time and pid, still unique enough here. */
  unsigned char rnd[16] = {0};
  int64_t t = ds_time_now_us();
  pid_t p = getpid();
  memcpy(rnd, &t, sizeof t);
  memcpy(rnd + 8, &p, sizeof p < 8 ? sizeof p : 8);
  ds_recalc_request_id_format(rnd, out);
}

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
  if (event != NULL)
    log_status(event, st, strcmp(st->state, "failed") == 0 ? DS_LOG_WARN : DS_LOG_INFO);
  struct ds_buf b;
  ds_buf_init(&b, 4096);
  char err[DS_ERRLEN] = "";
  int rc = ds_recalc_status_json(&b, st);
  if (rc == DS_OK && !ds_mqtt_is_connected(svc->mqtt)) {
    rc = DS_EMQTT;
    snprintf(err, sizeof err, "broker not connected");
  }
  if (rc == DS_OK)
    rc = ds_mqtt_publish(svc->mqtt, DS_RECALC_STATUS_TOPIC, b.data, b.len, 1, false,
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

int agg_svc_command(struct agg_svc *svc, const char *payload, size_t len)
{
  struct ds_recalc_cmd cmd;
  char why[DS_ERRLEN] = "", err[DS_ERRLEN] = "";
  int prc = ds_recalc_cmd_parse(payload, len, &cmd, why);
  if (prc == DS_ENOMEM)
    return prc;
  svc->commands++;
  char rid[DS_RECALC_REQUEST_ID_MAX + 1];
  if (cmd.has_request_id)
    snprintf(rid, sizeof rid, "%s", cmd.request_id);
  else
    gen_request_id(rid);
  struct ds_buf what;
  ds_buf_init(&what, 2 * DS_RECALC_CMD_PAYLOAD_MAX + 64);
  int rc;
  if (prc == DS_OK) {
    rc = ds_recalc_cmd_to_json(&what, &cmd);
  } else {
    /* A malformed command is recorded as a JSON string of (the start of)
     * its bytes, escaped, so that any payload fits a text column. */
    svc->malformed++;
    rc = ds_buf_append_json_str(&what, payload ? payload : "", len > 1024 ? 1024 : len);
  }
  bool inserted = false;
  struct ds_recalc_status st;
  /* The broker has been acknowledged already: try hard to record it. */
  for (int attempt = 0; rc == DS_OK && attempt < 3; attempt++) {
    int erc = wait_db(svc);
    if (erc != DS_OK) {
      rc = erc;
      snprintf(err, sizeof err, "%s", ds_strerror(erc));
      break;
    }
    int rrc = ds_recalc_status_record(svc->conn, rid, what.data, prc == DS_OK ? NULL : why, svc->me,
                                      &inserted, &st, err);
    if (rrc == DS_OK || !ds_db_broken(svc->conn) || attempt == 2) {
      rc = rrc;
      break;
    }
  }
  ds_buf_cleanup(&what);
  if (rc != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "command_lost", "request_id=%s: %s", rid, err);
    return rc;
  }
  if (!inserted) {
    /* Same request_id again: never run twice; say where it stands. */
    svc->duplicates++;
    ds_log_msg(DS_LOG_INFO, "command_duplicate", "request_id=%s state=%s", rid, st.state);
    if (strcmp(st.state, "queued") != 0)
      publish_status(svc, &st, NULL);
    else
      start_runs(svc); /* e.g. recorded by POST /tasks/recalculate just before */
    return DS_OK;
  }
  if (prc != DS_OK) {
    publish_status(svc, &st, "run_failed");
    return DS_OK;
  }
  ds_log_msg(DS_LOG_INFO, "run_queued", "request_id=%s", rid);
  start_runs(svc);
  return DS_OK;
}

/* Makes sure the broker session is up and subscribed: one attempt
 * (connect if need be, then subscribe) when the backoff says one is due,
 * else DS_EMQTT at once.  A refused connection or subscription waits like
 * any other failure; the outage is logged once and the recovery once. */
static int ensure_mqtt(struct agg_svc *svc)
{
  if (ds_mqtt_is_connected(svc->mqtt) && svc->subscribed)
    return DS_OK;
  svc->subscribed = false;
  if (!ds_backoff_due(&svc->mqtt_backoff, ds_time_mono_ms()))
    return DS_EMQTT;
  char err[DS_ERRLEN] = "";
  const char *down = "mqtt_unavailable";
  int rc = DS_OK;
  if (!ds_mqtt_is_connected(svc->mqtt))
    rc = ds_mqtt_connect(svc->mqtt, err);
  if (rc == DS_OK) {
    down = "mqtt_subscribe_failed";
    rc = ds_mqtt_subscribe(svc->mqtt, svc->filter, 1, err);
  }
  if (rc != DS_OK) {
    if (ds_backoff_failed(&svc->mqtt_backoff, ds_time_mono_ms()))
      ds_log_msg(DS_LOG_WARN, down, "%s; retrying with backoff up to %ld ms", err,
                 svc->mqtt_backoff.max_ms);
    return DS_EMQTT;
  }
  svc->subscribed = true;
  if (ds_backoff_succeeded(&svc->mqtt_backoff))
    ds_log_msg(DS_LOG_INFO, "mqtt_connected", "subscribed to %s", svc->filter);
  return DS_OK;
}

int agg_svc_init(struct agg_svc *svc, const struct agg_cfg *cfg, char err[DS_ERRLEN])
{
  memset(svc, 0, sizeof *svc);
  svc->cfg = cfg;
  ds_backoff_init(&svc->db_backoff, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
  ds_backoff_init(&svc->mqtt_backoff, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
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
  int rc = agg_outbox_init(&svc->outbox);
  if (rc != DS_OK)
    return rc;
  svc->outbox_ready = true;
  struct ds_mqtt_opts mo = {.url = cfg->mqtt_url,
                            .client_id = svc->me,
                            .username = cfg->mqtt_username,
                            .password = cfg->mqtt_password,
                            .clean_session = false,
                            .keepalive_s = 30};
  if ((rc = ds_mqtt_new(&mo, &svc->mqtt, err)) != DS_OK)
    return rc;
  if ((rc = wait_db(svc)) != DS_OK) {
    snprintf(err, DS_ERRLEN, "stopped while waiting for the database");
    return rc;
  }
  while (ensure_mqtt(svc) != DS_OK)
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
    if (ensure_db(svc) != DS_OK) {
      /* Receive nothing while the database is away, so the broker keeps
       * queueing commands rather than this process holding one. */
      long left = ds_backoff_left_ms(&svc->db_backoff, ds_time_mono_ms());
      ds_signal_sleep_ms(left < svc->cfg->poll_ms ? left : (long)svc->cfg->poll_ms);
      continue;
    }
    if (ensure_mqtt(svc) != DS_OK) {
      /* Until the next attempt is due, keep the periodic work going. */
      long left = ds_backoff_left_ms(&svc->mqtt_backoff, ds_time_mono_ms());
      ds_signal_sleep_ms(left < svc->cfg->poll_ms ? left : (long)svc->cfg->poll_ms);
      continue;
    }
    bool got = false;
    struct ds_mqtt_message msg = {0};
    if (ds_mqtt_receive(svc->mqtt, 100, &got, &msg) != DS_OK) {
      /* The outage begins here: logged once, then reconnects back off. */
      if (ds_backoff_failed(&svc->mqtt_backoff, ds_time_mono_ms()))
        ds_log_msg(DS_LOG_WARN, "mqtt_lost", "connection to the broker lost; reconnecting");
      svc->subscribed = false;
      continue;
    }
    if (!got)
      continue;
    int rc = agg_svc_command(svc, msg.payload, msg.payload_len);
    ds_mqtt_message_free(&msg);
    if (rc != DS_OK && rc != DS_EDB)
      ds_log_msg(DS_LOG_ERROR, "command_error", "%s", ds_strerror(rc));
  }
}

void agg_svc_cleanup(struct agg_svc *svc)
{
  /* Workers finish the device in hand and leave the rest pending: the run
   * stays resumable by any aggregator. */
  for (long long i = 0; i < AGG_WORKERS_MAX; i++)
    agg_worker_join(&svc->workers[i], svc->cfg->shutdown_timeout_ms);
  if (svc->outbox_ready) {
    drain_outbox(svc);
    agg_outbox_cleanup(&svc->outbox);
    svc->outbox_ready = false;
  }
  ds_mqtt_free(svc->mqtt, 1000);
  svc->mqtt = NULL;
  if (svc->conn != NULL)
    PQfinish(svc->conn);
  svc->conn = NULL;
}
