/* The simulated devices (see load_mqtt.h). */
#include "load_mqtt.h"

#include <mosquitto.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load_gen.h"
#include "load_rate.h"

struct worker {
  struct load_run *run;
  int idx;
  pthread_t thread;
  struct mosquitto *client;
  long outstanding; /* published, not yet acknowledged (or written, QoS 0) */
  int connack;      /* -1 none yet, else the CONNACK's code */
  atomic_llong acked;
  atomic_int lost;
  long long sent_msgs, sent_samples, failed;
  int err;
};

void load_put_sample(char *buf, size_t cap, size_t *len, double x, double y, double z,
                     long long ts_ms)
{
  int n;
  if (ts_ms >= 0)
    n = snprintf(buf + *len, cap - *len, "{\"x\":%.3f,\"y\":%.3f,\"z\":%.3f,\"ts\":%lld}", x, y, z,
                 ts_ms);
  else
    n = snprintf(buf + *len, cap - *len, "{\"x\":%.3f,\"y\":%.3f,\"z\":%.3f}", x, y, z);
  if (n > 0 && (size_t)n < cap - *len)
    *len += (size_t)n;
}

/* Everything below runs on the worker's own thread: it publishes and, in
 * between, runs the client's network I/O itself (mosquitto_loop), as
 * mosquitto_pub does.  With libmosquitto's own network thread every
 * publish woke that thread through a pipe: measured 2.7x the CPU of
 * mosquitto_pub per message. */

/* A QoS 1 message's PUBACK, or a QoS 0 message written. */
static void on_publish(struct mosquitto *m, void *ctx, int mid)
{
  (void)m;
  (void)mid;
  struct worker *w = ctx;
  atomic_fetch_add(&w->acked, 1);
  w->outstanding--;
}

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
  (void)m;
  struct worker *w = ctx;
  w->connack = rc;
}

static void on_disconnect(struct mosquitto *m, void *ctx, int rc)
{
  (void)m;
  struct worker *w = ctx;
  if (rc == 0 || atomic_load(&w->lost))
    return; /* ours, or already counted */
  fprintf(stderr, "loadgen: connection %d lost: %s\n", w->idx, mosquitto_strerror(rc));
  atomic_store(&w->lost, 1);
  atomic_fetch_add(&w->run->errors[LOAD_ERR_CONN], 1);
}

/* The client's network I/O for at most timeout_ms (it returns as soon as
 * something was read): PUBACKs, queued writes, keep-alive.  False once the
 * connection is gone. */
static bool net(struct worker *w, int timeout_ms)
{
  if (atomic_load(&w->lost))
    return false;
  int rc = mosquitto_loop(w->client, timeout_ms, 1);
  if (rc != MOSQ_ERR_SUCCESS) {
    on_disconnect(w->client, w, rc);
    return false;
  }
  return true;
}

/* Runs the network until fewer than limit messages are in flight (limit 1:
 * none), at most until deadline_ms (monotonic; 0 = none); false when the
 * connection is lost or the deadline passed. */
static bool wait_below(struct worker *w, long limit, double deadline_ms)
{
  while (w->outstanding >= limit) {
    if (deadline_ms != 0 && load_mono_ms() >= deadline_ms)
      return false;
    if (!net(w, 10))
      return false;
  }
  return true;
}

/* Builds the payload of device d's samples [lo, hi) into buf; returns its length. */
static size_t build_payload(const struct load_opts *o, long d, long long lo, long long hi,
                            char *buf, size_t cap)
{
  size_t len = 0;
  if (o->batch > 1)
    buf[len++] = '[';
  for (long long k = lo; k < hi; k++) {
    struct load_sample s =
        load_sample_at((uint32_t)d, (uint64_t)(o->first + k), o->ts_base_ms, o->ts_step_ms);
    if (k > lo)
      buf[len++] = ',';
    load_put_sample(buf, cap - 2, &len, s.x, s.y, s.z, o->no_ts ? -1 : (long long)s.ts_ms);
  }
  if (o->batch > 1)
    buf[len++] = ']';
  return len;
}

/* Sleeps until the rate allows a message, at most 50 ms at a time so that
 * the stop flag is seen. */
static void pace(struct worker *w, struct load_rate *rate)
{
  for (;;) {
    if (atomic_load(&w->run->stop))
      return;
    double now = load_mono_ms(), wait = load_rate_wait_ms(rate, now);
    if (wait <= 0)
      return;
    if (wait > 50)
      wait = 50;
    if (!net(w, wait < 1 ? 1 : (int)wait)) /* waits, reading PUBACKs meanwhile */
      return;
  }
}

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  struct load_run *run = w->run;
  const struct load_opts *o = run->o;
  long mine = (o->devices - w->idx + o->conns - 1) / o->conns; /* devices idx, idx+conns, ... */
  long long per_dev = o->samples > 0 ? o->samples / o->devices : INT64_MAX;
  size_t cap = (size_t)o->batch * LOAD_SAMPLE_TEXT_MAX + 4;
  char *payload = malloc(cap);
  long long *done = calloc((size_t)mine, sizeof *done); /* samples each device sent */
  char topic[LOAD_NAME_MAX + 32], name[LOAD_NAME_MAX + 1];
  if (!payload || !done) {
    w->err = 1;
    goto out;
  }
  double connect_deadline = load_mono_ms() + 10000;
  while (w->connack < 0 && load_mono_ms() < connect_deadline && net(w, 50))
    ;
  if (w->connack != 0) {
    fprintf(stderr, "loadgen: connection %d: %s\n", w->idx,
            w->connack < 0 ? "no CONNACK within 10 s" : mosquitto_connack_string(w->connack));
    atomic_fetch_add(&run->errors[LOAD_ERR_CONN], 1);
    atomic_store(&w->lost, 1);
    w->err = 1;
    goto out;
  }
  struct load_rate rate;
  load_rate_init(&rate, o->rate * (double)mine, o->ramp_s * 1000.0, run->start_mono_ms);
  long finished = 0;
  while (!w->err && finished < mine && !atomic_load(&run->stop)) {
    long online = load_rate_online(mine, o->ramp_s * 1000.0, run->start_mono_ms, load_mono_ms());
    finished = 0;
    for (long j = 0; j < mine && !w->err; j++) {
      if (done[j] >= per_dev) {
        finished++;
        continue;
      }
      if (j >= online)
        break;
      pace(w, &rate);
      if (atomic_load(&run->stop))
        break;
      long d = w->idx + j * o->conns;
      long long lo = done[j], hi = per_dev - lo < o->batch ? per_dev : lo + o->batch;
      size_t len = build_payload(o, d, lo, hi, payload, cap);
      if (load_device_name(o, d, name, sizeof name) < 0)
        abort(); /* the prefix length is checked by load_args_parse */
      snprintf(topic, sizeof topic, "devices/%s/data", name);
      if (!wait_below(w, o->inflight, 0)) {
        w->err = 1;
        break;
      }
      w->outstanding++;
      /* Written at once when the socket takes it; on_publish counts it done. */
      int rc = mosquitto_publish(w->client, NULL, topic, (int)len, payload, (int)o->qos, false);
      load_rate_sent(&rate, 1);
      if (rc != MOSQ_ERR_SUCCESS) {
        w->outstanding--;
        w->failed++;
        atomic_fetch_add(&run->errors[LOAD_ERR_PUBLISH], 1);
        fprintf(stderr, "loadgen: publish failed: %s\n", mosquitto_strerror(rc));
        if (w->failed > 100)
          w->err = 1;
        continue;
      }
      done[j] = hi;
      run->dev_published[d] += hi - lo;
      w->sent_msgs++;
      w->sent_samples += hi - lo;
      atomic_fetch_add(&run->published, hi - lo);
      atomic_fetch_add(&run->messages, 1);
    }
    if (online < mine && finished == 0 && o->rate <= 0) {
      /* Ramping up at full speed: the online devices have had their turn. */
      (void)net(w, 1);
    }
  }
  (void)wait_below(w, 1, load_mono_ms() + 10000); /* the last PUBACKs */
out:
  free(done);
  free(payload);
  return NULL;
}

/* host and port of a tcp:// or mqtt:// URL (or host:port); -1 otherwise. */
static int parse_url(const char *url, char *host, size_t cap, int *port)
{
  const char *p = url;
  if (strncmp(p, "tcp://", 6) == 0)
    p += 6;
  else if (strncmp(p, "mqtt://", 7) == 0)
    p += 7;
  else if (strstr(p, "://") != NULL)
    return -1;
  const char *colon = strrchr(p, ':');
  size_t n = colon ? (size_t)(colon - p) : strlen(p);
  long long v = 1883;
  if (n == 0 || n >= cap || (colon && parse_ll(colon + 1, 1, 65535, &v) != 0))
    return -1;
  memcpy(host, p, n);
  host[n] = '\0';
  *port = (int)v;
  return 0;
}

int load_mqtt_run(struct load_run *run, struct load_mqtt_totals *t)
{
  const struct load_opts *o = run->o;
  char host[256];
  int port;
  if (parse_url(o->mqtt_url, host, sizeof host, &port) != 0) {
    fprintf(stderr, "loadgen: --url %s: the devices speak tcp://host:port or mqtt://host:port\n",
            o->mqtt_url);
    return -1;
  }
  struct worker *ws = calloc((size_t)o->conns, sizeof *ws);
  if (!ws)
    return -1;
  char id[128];
  int rc = -1, started = 0;
  for (int i = 0; i < o->conns; i++) {
    struct worker *w = &ws[i];
    w->run = run;
    w->idx = i;
    w->connack = -1;
    snprintf(id, sizeof id, "ds-loadgen-%ld-%d", (long)getpid(), i);
    w->client = mosquitto_new(id, true, w);
    if (!w->client)
      goto out;
    mosquitto_int_option(w->client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* Our own window (outstanding) bounds what is queued; the library's
     * only has to let it through. */
    mosquitto_max_inflight_messages_set(w->client, (unsigned)o->inflight + 16);
    if (o->username)
      mosquitto_username_pw_set(w->client, o->username, o->password);
    mosquitto_publish_callback_set(w->client, on_publish);
    mosquitto_connect_callback_set(w->client, on_connect);
    mosquitto_disconnect_callback_set(w->client, on_disconnect);
    int crc = mosquitto_connect(w->client, host, port, 60);
    if (crc != MOSQ_ERR_SUCCESS) {
      fprintf(stderr, "loadgen: connect to %s failed: %s\n", o->mqtt_url, mosquitto_strerror(crc));
      atomic_fetch_add(&run->errors[LOAD_ERR_CONN], 1);
      goto out;
    }
  }
  for (; started < o->conns; started++)
    if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0)
      goto out;
  rc = 0;
out:
  if (rc != 0)
    atomic_store(&run->stop, 1);
  for (int i = 0; i < started; i++) {
    pthread_join(ws[i].thread, NULL);
    t->sent_msgs += ws[i].sent_msgs;
    t->sent_samples += ws[i].sent_samples;
    t->acked += atomic_load(&ws[i].acked);
    t->failed += ws[i].failed;
    t->failed_conn |= ws[i].err | atomic_load(&ws[i].lost);
  }
  for (int i = 0; i < o->conns; i++) {
    if (ws[i].client == NULL)
      continue;
    mosquitto_disconnect(ws[i].client);
    mosquitto_destroy(ws[i].client);
  }
  free(ws);
  return rc;
}
