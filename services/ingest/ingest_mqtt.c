/* Ingest's MQTT loop (see ingest_mqtt.h). */
#include "ingest_mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds/log.h"
#include "ds/mqtt.h"
#include "ds/signal.h"
#include "ds/time.h"
#include "ingest_parse.h"

/* See the shutdown path of ingest_mqtt_run. */
#define ACK_GRACE_MS 300

int ingest_mqtt_filter(const struct ingest_cfg *cfg, char *out, size_t out_len)
{
  int n;
  if (cfg->share_group != NULL && cfg->share_group[0] != '\0')
    n = snprintf(out, out_len, "$share/%s/%s", cfg->share_group, cfg->topic);
  else
    n = snprintf(out, out_len, "%s", cfg->topic);
  return (n < 0 || (size_t)n >= out_len) ? DS_ERANGE : DS_OK;
}

static void log_stats(const struct ingest_counters *c, struct ingest_queue *q)
{
  struct ds_logline l;
  if (!ds_log_begin(&l, DS_LOG_INFO, "stats"))
    return;
  uint64_t batches = atomic_load(&c->batches);
  uint64_t stored = atomic_load(&c->stored);
  ds_log_int(&l, "received", (long long)atomic_load(&c->received));
  ds_log_int(&l, "accepted", (long long)atomic_load(&c->accepted));
  ds_log_int(&l, "stored", (long long)stored);
  ds_log_int(&l, "rejected", (long long)atomic_load(&c->rejected));
  ds_log_int(&l, "batches", (long long)batches);
  ds_log_int(&l, "avg_batch", batches ? (long long)(stored / batches) : 0);
  ds_log_int(&l, "max_batch", (long long)atomic_load(&c->max_batch));
  ds_log_int(&l, "flush_failures", (long long)atomic_load(&c->flush_failures));
  ds_log_int(&l, "buffered", (long long)ingest_queue_weight(q));
  ds_log_end(&l);
}

/* Connects and subscribes, retrying until done or stopped. */
static int connect_and_subscribe(struct ds_mqtt *m, const struct ingest_cfg *cfg,
                                 const char *filter)
{
  for (;;) {
    int rc = ds_mqtt_connect_retry(m, (long)cfg->retry_max_ms, -1);
    if (rc != DS_OK)
      return rc;
    char err[DS_ERRLEN];
    rc = ds_mqtt_subscribe(m, filter, (int)cfg->qos, err);
    if (rc == DS_OK)
      return DS_OK;
    ds_log_msg(DS_LOG_WARN, "mqtt_subscribe_failed", "%s", err);
    if (!ds_signal_sleep_ms((long)cfg->retry_max_ms))
      return DS_ESTOPPED;
  }
}

/* Turns a received message into a queue item (and frees the message),
 * counting it; NULL only when out of memory, which is logged. */
static struct ingest_item *take_message(const struct ingest_cfg *cfg,
                                        struct ingest_counters *counters,
                                        struct ds_mqtt_message *msg, struct ds_sample *scratch)
{
  atomic_fetch_add(&counters->received, 1);
  struct ingest_item *it =
      ingest_parse_message(msg->topic, msg->topic_len, msg->payload, msg->payload_len,
                           ds_time_now_us(), (size_t)cfg->reject_keep_bytes, scratch);
  if (it == NULL) {
    ds_log_msg(DS_LOG_ERROR, "message_dropped", "out of memory (%zu bytes)", msg->payload_len);
  } else if (it->kind == INGEST_ITEM_REJECTED) {
    atomic_fetch_add(&counters->rejected, 1);
    struct ds_logline l;
    if (ds_log_begin(&l, DS_LOG_DEBUG, "message_rejected")) {
      ds_log_str(&l, "topic", it->topic);
      ds_log_int(&l, "bytes", (long long)msg->payload_len);
      ds_log_str(&l, "reason", it->reason);
      ds_log_end(&l);
    }
  } else {
    atomic_fetch_add(&counters->accepted, it->n);
  }
  ds_mqtt_message_free(msg);
  return it;
}

int ingest_mqtt_run(const struct ingest_cfg *cfg, struct ingest_queue *q,
                    struct ingest_counters *counters)
{
  char filter[768];
  char err[DS_ERRLEN];
  struct ds_mqtt *m = NULL;
  struct ds_sample *scratch = NULL;
  struct ingest_item *pending = NULL;
  int rc = ingest_mqtt_filter(cfg, filter, sizeof filter);
  if (rc != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "subscription filter too long");
    goto out;
  }
  scratch = malloc(DS_SAMPLES_MAX * sizeof *scratch);
  if (scratch == NULL) {
    rc = DS_ENOMEM;
    goto out;
  }
  struct ds_mqtt_opts o = {.url = cfg->mqtt_url,
                           .client_id = cfg->client_id,
                           .username = cfg->mqtt_username,
                           .password = cfg->mqtt_password,
                           .clean_session = cfg->clean_session,
                           .keepalive_s = 60,
                           .publish_only = false};
  rc = ds_mqtt_new(&o, &m, err);
  if (rc != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "%s", err);
    goto out;
  }
  bool ready_logged = false;
  int64_t next_stats = ds_time_mono_ms() + cfg->stats_period_s * 1000;
  while (!ds_signal_stop_requested()) {
    if (ds_time_mono_ms() >= next_stats) {
      log_stats(counters, q);
      next_stats = ds_time_mono_ms() + cfg->stats_period_s * 1000;
    }
    /* A message we could not queue yet: hold it, and receive nothing more,
     * until the writer makes room. */
    if (pending != NULL) {
      if (!ingest_queue_push(q, pending, 250))
        continue;
      pending = NULL;
    }
    if (!ds_mqtt_is_connected(m)) {
      if (ready_logged)
        ds_log_msg(DS_LOG_WARN, "mqtt_disconnected", "lost the broker; reconnecting");
      if (connect_and_subscribe(m, cfg, filter) != DS_OK)
        break;
      struct ds_logline l;
      if (ds_log_begin(&l, DS_LOG_INFO, ready_logged ? "mqtt_subscribed" : "ready")) {
        ds_log_str(&l, "broker", cfg->mqtt_url);
        ds_log_str(&l, "subscription", filter);
        ds_log_str(&l, "client_id", cfg->client_id);
        ds_log_end(&l);
      }
      ready_logged = true;
    }
    bool got = false;
    struct ds_mqtt_message msg;
    if (ds_mqtt_receive(m, 250, &got, &msg) != DS_OK || !got)
      continue;
    struct ingest_item *it = take_message(cfg, counters, &msg, scratch);
    if (it != NULL && !ingest_queue_push(q, it, 0))
      pending = it;
  }
  /* Paho may hold messages it has already acknowledged (those that arrived
   * while it waited for a SUBACK); take them before disconnecting.  Each
   * receive reads at most one more packet, so this is bounded. */
  for (int i = 0; i < 100 && ds_mqtt_is_connected(m); i++) {
    bool got = false;
    struct ds_mqtt_message msg;
    if (ds_mqtt_receive(m, 0, &got, &msg) != DS_OK || !got)
      break;
    struct ingest_item *it = take_message(cfg, counters, &msg, scratch);
    if (it != NULL)
      ingest_queue_push_force(q, it);
  }
  /* Give the broker time to read the acknowledgements we just sent before
   * the socket closes.  Closing a socket with unread data in it (the broker
   * keeps sending) makes the kernel send a reset, and a broker that has not
   * yet read our last PUBACKs then loses them and redelivers those messages
   * on our next session: stored twice.  We read nothing meanwhile, so
   * nothing more is acknowledged; the writer stores what we hold. */
  struct timespec grace = {0, ACK_GRACE_MS * 1000000L};
  nanosleep(&grace, NULL);
  /* Stop taking messages: the broker keeps queueing for our session while
   * we store what we hold. */
  ds_mqtt_free(m, 1000);
  m = NULL;
  /* The message received last is ours (the broker has its PUBACK): keep it
   * even past the bound, so the writer stores it before exiting. */
  if (pending != NULL)
    ingest_queue_push_force(q, pending);
  pending = NULL;
  rc = DS_OK;
out:
  ingest_item_free(pending);
  ds_mqtt_free(m, 1000);
  free(scratch);
  return rc;
}
