/* Ingest's MQTT side (see ingest_mqtt.h). */
#include "ingest_mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds/backoff.h"
#include "ds/log.h"
#include "ds/mqtt_async.h"
#include "ds/sample.h"
#include "ds/signal.h"
#include "ds/time.h"

/* What the message callback needs; lives on ingest_mqtt_run's stack. */
struct receiver {
  const struct ingest_cfg *cfg;
  struct ingest_spool *spool;
  struct ingest_counters *counters;
  bool full_reported, write_failed_reported;
};

int ingest_mqtt_filter(const struct ingest_cfg *cfg, char *out, size_t out_len)
{
  int n;
  if (cfg->share_group != NULL && cfg->share_group[0] != '\0')
    n = snprintf(out, out_len, "$share/%s/%s", cfg->share_group, cfg->topic);
  else
    n = snprintf(out, out_len, "%s", cfg->topic);
  return (n < 0 || (size_t)n >= out_len) ? DS_ERANGE : DS_OK;
}

static void log_stats(const struct ingest_counters *c, struct ingest_spool *spool)
{
  struct ds_logline l;
  if (!ds_log_begin(&l, DS_LOG_INFO, "stats"))
    return;
  struct ingest_spool_stats st;
  ingest_spool_stats(spool, &st);
  uint64_t batches = atomic_load(&c->batches);
  uint64_t stored = atomic_load(&c->stored);
  ds_log_int(&l, "received", (long long)atomic_load(&c->received));
  ds_log_int(&l, "duplicates", (long long)atomic_load(&c->duplicates));
  ds_log_int(&l, "accepted", (long long)atomic_load(&c->accepted));
  ds_log_int(&l, "stored", (long long)stored);
  ds_log_int(&l, "rejected", (long long)atomic_load(&c->rejected));
  ds_log_int(&l, "batches", (long long)batches);
  ds_log_int(&l, "avg_batch", batches ? (long long)(stored / batches) : 0);
  ds_log_int(&l, "max_batch", (long long)atomic_load(&c->max_batch));
  ds_log_int(&l, "flush_failures", (long long)atomic_load(&c->flush_failures));
  ds_log_int(&l, "spool_pending", (long long)(st.next_seq - 1 - st.committed_seq));
  ds_log_int(&l, "spool_bytes", (long long)st.bytes);
  ds_log_int(&l, "spool_written_bytes", (long long)st.appended_bytes);
  ds_log_int(&l, "spool_unsynced_max", (long long)st.unsynced_max);
  ds_log_int(&l, "spool_full_waits", (long long)st.full_waits);
  ds_log_end(&l);
}

/* Paho's receive thread, before the PUBACK: the message must be in the
 * spool (or recognised as already there) when this returns. */
static void on_message(void *ctx, const struct ds_mqtta_msg *msg)
{
  struct receiver *r = ctx;
  atomic_fetch_add(&r->counters->received, 1);
  size_t keep = msg->payload_len;
  if (keep > DS_PAYLOAD_MAX) {
    /* Rejected as too large whatever it holds: keep what the rejected
     * table keeps. */
    size_t cap = (size_t)r->cfg->reject_keep_bytes;
    keep = cap < DS_PAYLOAD_MAX ? cap : DS_PAYLOAD_MAX;
  }
  struct ingest_spool_msg sm = {.topic = msg->topic,
                                .topic_len = msg->topic_len,
                                .payload = msg->payload,
                                .payload_len = keep,
                                .payload_size = msg->payload_len,
                                .recv_us = ds_time_now_us(),
                                .msgid = msg->msgid,
                                .qos = msg->qos,
                                .dup = msg->dup};
  if (ingest_spool_is_redelivery(r->spool, &sm)) {
    atomic_fetch_add(&r->counters->duplicates, 1);
    ds_log_msg(DS_LOG_DEBUG, "message_redelivered", "packet id %d already spooled", msg->msgid);
    return;
  }
  for (;;) {
    /* Once stopping, the bound no longer applies: this message is ours and
     * is written whatever the spool's size. */
    bool stopping = ds_signal_stop_requested();
    uint64_t seq = 0;
    char err[DS_ERRLEN];
    int rc = ingest_spool_append(r->spool, &sm, 250, stopping, &seq, err);
    if (rc == DS_OK) {
      if (r->full_reported || r->write_failed_reported)
        ds_log_msg(DS_LOG_INFO, "spool_resumed", "taking messages again");
      r->full_reported = r->write_failed_reported = false;
      return;
    }
    if (rc == DS_ERANGE) {
      if (!r->full_reported)
        ds_log_msg(DS_LOG_WARN, "spool_full",
                   "spool at INGEST_SPOOL_MAX_MB=%lld; not taking messages until the database "
                   "stores more (the broker holds them)",
                   r->cfg->spool_max_mb);
      r->full_reported = true;
      continue;
    }
    if (!r->write_failed_reported)
      ds_log_msg(DS_LOG_ERROR, "spool_write_failed",
                 "%s; not taking messages (the broker holds them) until it can be written", err);
    r->write_failed_reported = true;
    if (stopping) {
      /* Returning would acknowledge a message that is nowhere: leave
       * without acknowledging it, as a crash would; the broker redelivers
       * it to the next start. */
      ds_log_msg(DS_LOG_ERROR, "shutdown_unacknowledged",
                 "stopping with the spool unwritable; the broker keeps the message");
      _exit(1);
    }
    (void)ds_signal_sleep_ms(250);
  }
}

static void log_connected(const struct ingest_cfg *cfg, const char *filter, bool first)
{
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_INFO, first ? "ready" : "mqtt_subscribed")) {
    ds_log_str(&l, "broker", cfg->mqtt_url);
    ds_log_str(&l, "subscription", filter);
    ds_log_str(&l, "client_id", cfg->client_id);
    ds_log_end(&l);
  }
}

/* One connect-and-subscribe attempt; logs ready (or mqtt_subscribed) once
 * connected.  A resumed session already holds the subscription and the
 * broker starts sending its queue at once: the message callback may then
 * wait for room in the spool, and Paho's other calls wait for it.  So the
 * connection is announced first and the SUBSCRIBE sent without waiting for
 * its SUBACK (a refusal shows up through ds_mqtta_take_error). */
static int connect_once(struct ds_mqtta *m, const struct ingest_cfg *cfg, const char *filter,
                        bool first, char err[DS_ERRLEN])
{
  bool resumed = false;
  int rc = ds_mqtta_connect(m, 5000, &resumed, err);
  if (rc != DS_OK)
    return rc;
  if (resumed)
    log_connected(cfg, filter, first);
  rc = ds_mqtta_subscribe(m, filter, (int)cfg->qos, resumed ? 0 : 10000, err);
  if (rc != DS_OK) {
    ds_mqtta_disconnect(m, 1000);
    return rc;
  }
  if (!resumed)
    log_connected(cfg, filter, first);
  return DS_OK;
}

int ingest_mqtt_run(const struct ingest_cfg *cfg, struct ingest_spool *spool,
                    struct ingest_counters *counters)
{
  char filter[768];
  char err[DS_ERRLEN];
  struct ds_mqtta *m = NULL;
  struct receiver r = {.cfg = cfg, .spool = spool, .counters = counters};
  int rc = ingest_mqtt_filter(cfg, filter, sizeof filter);
  if (rc != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "subscription filter too long");
    return rc;
  }
  struct ds_mqtt_opts o = {.url = cfg->mqtt_url,
                           .client_id = cfg->client_id,
                           .username = cfg->mqtt_username,
                           .password = cfg->mqtt_password,
                           .clean_session = cfg->clean_session,
                           .keepalive_s = 60,
                           .ca_file = cfg->mqtt_ca_file};
  rc = ds_mqtta_new(&o, on_message, &r, &m, err);
  if (rc != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "%s", err);
    return rc;
  }
  struct ds_backoff b;
  ds_backoff_init(&b, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
  bool ever_connected = false, connected = false;
  int64_t next_stats = ds_time_mono_ms() + cfg->stats_period_s * 1000;
  while (!ds_signal_stop_requested()) {
    int64_t now = ds_time_mono_ms();
    if (now >= next_stats) {
      log_stats(counters, spool);
      next_stats = now + cfg->stats_period_s * 1000;
    }
    if (connected && ds_mqtta_take_error(m, err)) {
      atomic_store(&counters->mqtt_up, false);
      ds_log_msg(DS_LOG_WARN, "mqtt_subscribe_failed", "%s; reconnecting", err);
      ds_mqtta_disconnect(m, 1000);
      (void)ds_backoff_failed(&b, now);
      connected = false;
      continue;
    }
    if (connected && !ds_mqtta_is_connected(m)) {
      ds_log_msg(DS_LOG_WARN, "mqtt_disconnected", "lost the broker; reconnecting");
      connected = false;
    }
    atomic_store(&counters->mqtt_up, connected);
    if (connected || !ds_backoff_due(&b, now)) {
      long left = connected ? 250 : ds_backoff_left_ms(&b, now);
      (void)ds_signal_sleep_ms(left < 250 ? left : 250);
      continue;
    }
    if (connect_once(m, cfg, filter, !ever_connected, err) != DS_OK) {
      if (ds_backoff_failed(&b, ds_time_mono_ms()))
        ds_log_msg(DS_LOG_WARN, "mqtt_unavailable", "%s; retrying with backoff up to %ld ms", err,
                   b.max_ms);
      continue;
    }
    if (ds_backoff_succeeded(&b))
      ds_log_msg(DS_LOG_INFO, "mqtt_connected", "reachable again");
    ever_connected = connected = true;
    atomic_store(&counters->mqtt_up, true);
  }
  atomic_store(&counters->mqtt_up, false);
  /* No callback runs after the disconnect: everything the broker counts as
   * delivered is in the spool, and the broker queues the rest for our
   * session. */
  ds_mqtta_free(m, 1000);
  log_stats(counters, spool);
  return DS_OK;
}
