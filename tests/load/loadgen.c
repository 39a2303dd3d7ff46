/* devicestats-loadgen: publishes the deterministic sample stream of
 * load_gen.h for N devices on devices/<name>/data, single objects or arrays,
 * through Paho MQTTClient connections (one publishing thread each) or
 * MQTTAsync, with many QoS 1 messages in flight, and prints one line with
 * its own rate (samples/s, first send to last PUBACK).  It replaces the Locust load test and drives
 * scripts/bench.sh. */
#include <MQTTAsync.h>
#include <MQTTClient.h>
#include <stdatomic.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load_args.h"
#include "load_gen.h"

#define MAX_CONNS 64
#define NAME_MAX_LEN 64
#define SAMPLE_TEXT_MAX 96 /* one {"x":..,"y":..,"z":..,"ts":..} object */

struct opts {
  const char *url;
  const char *prefix;
  const char *username;
  const char *password;
  long devices;
  long long samples; /* total, spread evenly over the devices */
  long long first;   /* index of each device's first sample (incremental runs) */
  long batch;        /* samples per message; 1 = a single object */
  long qos;
  long conns;
  long inflight; /* per connection */
  long long ts_base_ms;
  long long ts_step_ms;
  bool no_ts;
  bool async_api; /* MQTTAsync (one process-wide send thread) vs MQTTClient threads */
};

struct conn {
  MQTTAsync client;
  int idx;
  int state; /* 0 connecting, 1 connected, -1 failed */
  long outstanding;
};

/* Paho calls back on its own thread: counters live under one lock. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static long long g_acked_msgs, g_failed_msgs;
static struct conn g_conns[MAX_CONNS];

static double now_ms(clockid_t clk)
{
  struct timespec t;
  clock_gettime(clk, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void on_connect(void *ctx, MQTTAsync_successData *resp)
{
  (void)resp;
  struct conn *c = ctx;
  pthread_mutex_lock(&g_mu);
  c->state = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
  struct conn *c = ctx;
  fprintf(stderr, "loadgen: connection %d failed: %s (rc %d)\n", c->idx,
          resp && resp->message ? resp->message : "", resp ? resp->code : 0);
  pthread_mutex_lock(&g_mu);
  c->state = -1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void on_sent(void *ctx, MQTTAsync_successData *resp)
{
  (void)resp;
  struct conn *c = ctx;
  pthread_mutex_lock(&g_mu);
  c->outstanding--;
  g_acked_msgs++;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *resp)
{
  (void)resp;
  struct conn *c = ctx;
  pthread_mutex_lock(&g_mu);
  c->outstanding--;
  g_failed_msgs++;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void on_lost(void *ctx, char *cause)
{
  struct conn *c = ctx;
  fprintf(stderr, "loadgen: connection %d lost: %s\n", c->idx, cause ? cause : "");
  pthread_mutex_lock(&g_mu);
  c->state = -1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
  (void)ctx;
  (void)len;
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;
}

/* Appends one sample object to buf at *len (buf has room: callers size it
 * SAMPLE_TEXT_MAX per sample). */
static void put_sample(char *buf, size_t cap, size_t *len, const struct load_sample *s, bool ts)
{
  int n;
  if (ts)
    n = snprintf(buf + *len, cap - *len, "{\"x\":%.3f,\"y\":%.3f,\"z\":%.3f,\"ts\":%" PRId64 "}",
                 s->x, s->y, s->z, s->ts_ms);
  else
    n = snprintf(buf + *len, cap - *len, "{\"x\":%.3f,\"y\":%.3f,\"z\":%.3f}", s->x, s->y, s->z);
  if (n > 0 && (size_t)n < cap - *len)
    *len += (size_t)n;
}

static void usage(FILE *f)
{
  fprintf(f, "usage: devicestats-loadgen [options]\n"
             "  --url URL          broker (default $MQTT_URL or tcp://127.0.0.1:1883)\n"
             "  --devices N        devices (1000)\n"
             "  --samples N        samples in total, spread evenly over devices (1000000)\n"
             "  --first N          index of each device's first sample (0)\n"
             "  --batch N          samples per message, 1 = single object (1)\n"
             "  --qos N            0 or 1 (1)\n"
             "  --connections N    MQTT connections, devices split among them (1)\n"
             "  --inflight N       QoS 1 messages in flight per connection (100)\n"
             "  --prefix P         device names are P%%04u (ld-)\n"
             "  --ts-base MS       first timestamp, Unix ms (2026-11-28T00:00:00Z)\n"
             "  --ts-step MS       time between a device's samples (1000)\n"
             "  --no-ts            omit ts (ingest stamps the receive time)\n"
             "  --api sync|async   MQTTClient, one thread per connection (sync, default),\n"
             "                     or MQTTAsync (slower: one send thread for all)\n"
             "Credentials: $MQTT_USERNAME, $MQTT_PASSWORD.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
  static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                           {"devices", required_argument, NULL, 'd'},
                                           {"samples", required_argument, NULL, 's'},
                                           {"first", required_argument, NULL, 'F'},
                                           {"batch", required_argument, NULL, 'b'},
                                           {"qos", required_argument, NULL, 'q'},
                                           {"connections", required_argument, NULL, 'c'},
                                           {"inflight", required_argument, NULL, 'i'},
                                           {"prefix", required_argument, NULL, 'p'},
                                           {"ts-base", required_argument, NULL, 'B'},
                                           {"ts-step", required_argument, NULL, 'S'},
                                           {"no-ts", no_argument, NULL, 'n'},
                                           {"api", required_argument, NULL, 'A'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  const char *env_url = getenv("MQTT_URL");
  *o = (struct opts){.url = env_url && *env_url ? env_url : "tcp://127.0.0.1:1883",
                     .prefix = "ld-",
                     .username = getenv("MQTT_USERNAME"),
                     .password = getenv("MQTT_PASSWORD"),
                     .devices = 1000,
                     .samples = 1000000,
                     .batch = 1,
                     .qos = 1,
                     /* Measured best on 2 cores: Paho serialises its clients
                      * on one process-wide lock and searches the in-flight
                      * list linearly, so more connections or a larger
                      * window only cost CPU. */
                     .conns = 1,
                     .inflight = 100,
                     .ts_base_ms = LOAD_TS_BASE_MS,
                     .ts_step_ms = 1000};
  int ch;
  long long v;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    int bad = 0;
    switch (ch) {
    case 'u':
      o->url = optarg;
      break;
    case 'p':
      o->prefix = optarg;
      break;
    case 'n':
      o->no_ts = true;
      break;
    case 'A':
      bad = strcmp(optarg, "async") != 0 && strcmp(optarg, "sync") != 0;
      o->async_api = strcmp(optarg, "async") == 0;
      break;
    case 'd':
      bad = parse_ll(optarg, 1, 10000000, &v);
      o->devices = (long)v;
      break;
    case 's':
      bad = parse_ll(optarg, 1, INT64_C(1) << 40, &v);
      o->samples = v;
      break;
    case 'F':
      bad = parse_ll(optarg, 0, INT64_C(1) << 40, &v);
      o->first = v;
      break;
    case 'b':
      bad = parse_ll(optarg, 1, 1000, &v);
      o->batch = (long)v;
      break;
    case 'q':
      bad = parse_ll(optarg, 0, 1, &v);
      o->qos = (long)v;
      break;
    case 'c':
      bad = parse_ll(optarg, 1, MAX_CONNS, &v);
      o->conns = (long)v;
      break;
    case 'i':
      bad = parse_ll(optarg, 1, 65000, &v);
      o->inflight = (long)v;
      break;
    case 'B':
      bad = parse_ll(optarg, 0, INT64_C(1) << 50, &v);
      o->ts_base_ms = v;
      break;
    case 'S':
      bad = parse_ll(optarg, 0, INT64_C(1) << 32, &v);
      o->ts_step_ms = v;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      usage(stderr);
      return -1;
    }
    if (bad) {
      fprintf(stderr, "loadgen: bad option value: %s\n", optarg);
      return -1;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return -1;
  }
  if (strlen(o->prefix) > NAME_MAX_LEN - 8) {
    fprintf(stderr, "loadgen: --prefix too long\n");
    return -1;
  }
  return 0;
}

static int connect_all(const struct opts *o)
{
  char id[128];
  for (int i = 0; i < o->conns; i++) {
    struct conn *c = &g_conns[i];
    c->idx = i;
    snprintf(id, sizeof id, "ds-loadgen-%ld-%d", (long)getpid(), i);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.sendWhileDisconnected = 0;
    /* Paho counts queued commands against this bound even while connected. */
    co.maxBufferedMessages = (int)o->inflight * 2 + 100;
    int rc =
        MQTTAsync_createWithOptions(&c->client, o->url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
      fprintf(stderr, "loadgen: MQTTAsync_create: rc %d\n", rc);
      return -1;
    }
    MQTTAsync_setCallbacks(c->client, c, on_lost, on_message, NULL);
    MQTTAsync_connectOptions cn = MQTTAsync_connectOptions_initializer;
    cn.keepAliveInterval = 60;
    cn.cleansession = 1;
    cn.maxInflight = (int)o->inflight;
    cn.username = o->username && *o->username ? o->username : NULL;
    cn.password = o->password && *o->password ? o->password : NULL;
    cn.onSuccess = on_connect;
    cn.onFailure = on_connect_fail;
    cn.context = c;
    rc = MQTTAsync_connect(c->client, &cn);
    if (rc != MQTTASYNC_SUCCESS) {
      fprintf(stderr, "loadgen: MQTTAsync_connect: rc %d\n", rc);
      return -1;
    }
  }
  pthread_mutex_lock(&g_mu);
  int ok = 0;
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 30;
  for (;;) {
    int up = 0, bad = 0;
    for (int i = 0; i < o->conns; i++) {
      up += g_conns[i].state == 1;
      bad += g_conns[i].state < 0;
    }
    if (bad)
      break;
    if (up == o->conns) {
      ok = 1;
      break;
    }
    if (pthread_cond_timedwait(&g_cv, &g_mu, &dl) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&g_mu);
  if (!ok)
    fprintf(stderr, "loadgen: could not connect to %s\n", o->url);
  return ok ? 0 : -1;
}

/* Builds the payload of device d's samples [lo, hi) into buf; returns its length. */
static size_t build_payload(const struct opts *o, long d, long long lo, long long hi, char *buf,
                            size_t cap)
{
  size_t len = 0;
  if (o->batch > 1)
    buf[len++] = '[';
  for (long long k = lo; k < hi; k++) {
    struct load_sample s =
        load_sample_at((uint32_t)d, (uint64_t)(o->first + k), o->ts_base_ms, o->ts_step_ms);
    if (k > lo)
      buf[len++] = ',';
    put_sample(buf, cap - 2, &len, &s, !o->no_ts);
  }
  if (o->batch > 1)
    buf[len++] = ']';
  return len;
}

struct totals {
  long long sent_msgs, sent_samples, acked, failed;
  int failed_conn;
};

/* MQTTAsync: one thread feeds every connection; Paho's own send thread
 * writes.  Simple, but that single send thread caps the rate. */
static int run_async(const struct opts *o, struct totals *t)
{
  long long per_dev = o->samples / o->devices;
  long long rounds = (per_dev + o->batch - 1) / o->batch;
  size_t cap = (size_t)o->batch * SAMPLE_TEXT_MAX + 4;
  char *payload = malloc(cap);
  if (!payload)
    return -1;
  if (connect_all(o) != 0) {
    free(payload);
    return -1;
  }
  char topic[NAME_MAX_LEN + 32];
  for (long long r = 0; r < rounds && !t->failed_conn; r++) {
    long long lo = r * o->batch, hi = lo + o->batch < per_dev ? lo + o->batch : per_dev;
    for (long d = 0; d < o->devices; d++) {
      struct conn *c = &g_conns[d % o->conns];
      size_t len = build_payload(o, d, lo, hi, payload, cap);
      snprintf(topic, sizeof topic, "devices/%s%04ld/data", o->prefix, d);
      pthread_mutex_lock(&g_mu);
      while (c->outstanding >= o->inflight && c->state == 1)
        pthread_cond_wait(&g_cv, &g_mu);
      if (c->state != 1)
        t->failed_conn = 1;
      else
        c->outstanding++;
      pthread_mutex_unlock(&g_mu);
      if (t->failed_conn)
        break;
      MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
      ro.onSuccess = on_sent;
      ro.onFailure = on_send_fail;
      ro.context = c;
      MQTTAsync_message m = MQTTAsync_message_initializer;
      m.payload = payload;
      m.payloadlen = (int)len;
      m.qos = (int)o->qos;
      int rc = MQTTAsync_sendMessage(c->client, topic, &m, &ro);
      if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "loadgen: send failed: rc %d\n", rc);
        pthread_mutex_lock(&g_mu);
        c->outstanding--;
        g_failed_msgs++;
        pthread_mutex_unlock(&g_mu);
        continue;
      }
      t->sent_msgs++;
      t->sent_samples += hi - lo;
    }
  }
  pthread_mutex_lock(&g_mu);
  while (g_acked_msgs + g_failed_msgs < t->sent_msgs) {
    int any_up = 0;
    for (int i = 0; i < o->conns; i++)
      any_up |= g_conns[i].state == 1;
    if (!any_up)
      break;
    pthread_cond_wait(&g_cv, &g_mu);
  }
  t->acked = g_acked_msgs;
  t->failed = g_failed_msgs;
  pthread_mutex_unlock(&g_mu);
  for (int i = 0; i < o->conns; i++) {
    MQTTAsync_disconnectOptions dc = MQTTAsync_disconnectOptions_initializer;
    dc.timeout = 1000;
    if (g_conns[i].state == 1)
      (void)MQTTAsync_disconnect(g_conns[i].client, &dc);
  }
  usleep(200 * 1000);
  for (int i = 0; i < o->conns; i++)
    MQTTAsync_destroy(&g_conns[i].client);
  free(payload);
  return 0;
}

/* MQTTClient: one thread per connection publishes its share of the devices
 * itself (the socket write happens on the calling thread); Paho's receive
 * thread counts the PUBACKs through deliveryComplete. */
struct sworker {
  const struct opts *o;
  int idx;
  pthread_t thread;
  MQTTClient client;
  pthread_mutex_t mu; /* guards outstanding; cv signals a PUBACK or a loss */
  pthread_cond_t cv;
  long outstanding;
  atomic_llong acked;
  atomic_int lost;
  long long sent_msgs, sent_samples, failed;
  int err;
};

static void s_delivered(void *ctx, MQTTClient_deliveryToken dt)
{
  (void)dt;
  struct sworker *w = ctx;
  atomic_fetch_add(&w->acked, 1);
  pthread_mutex_lock(&w->mu);
  long before = w->outstanding--;
  if (before >= w->o->inflight || before == 1)
    pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Waits until fewer than limit messages are in flight (limit 1: none);
 * false when the connection is lost. */
static bool s_wait_below(struct sworker *w, long limit)
{
  pthread_mutex_lock(&w->mu);
  while (w->outstanding >= limit && !atomic_load(&w->lost)) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += 50 * 1000 * 1000;
    if (dl.tv_nsec >= 1000000000) {
      dl.tv_sec++;
      dl.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&w->cv, &w->mu, &dl);
  }
  bool ok = w->outstanding < limit;
  pthread_mutex_unlock(&w->mu);
  return ok;
}

static int s_arrived(void *ctx, char *topic, int len, MQTTClient_message *m)
{
  (void)ctx;
  (void)len;
  MQTTClient_freeMessage(&m);
  MQTTClient_free(topic);
  return 1;
}

static void s_lost(void *ctx, char *cause)
{
  struct sworker *w = ctx;
  fprintf(stderr, "loadgen: connection %d lost: %s\n", w->idx, cause ? cause : "");
  atomic_store(&w->lost, 1);
}

static void *s_run(void *arg)
{
  struct sworker *w = arg;
  const struct opts *o = w->o;
  long long per_dev = o->samples / o->devices;
  long long rounds = (per_dev + o->batch - 1) / o->batch;
  size_t cap = (size_t)o->batch * SAMPLE_TEXT_MAX + 4;
  char *payload = malloc(cap);
  char topic[NAME_MAX_LEN + 32];
  if (!payload) {
    w->err = 1;
    return NULL;
  }
  for (long long r = 0; r < rounds && !w->err; r++) {
    long long lo = r * o->batch, hi = lo + o->batch < per_dev ? lo + o->batch : per_dev;
    for (long d = w->idx; d < o->devices; d += o->conns) {
      size_t len = build_payload(o, d, lo, hi, payload, cap);
      snprintf(topic, sizeof topic, "devices/%s%04ld/data", o->prefix, d);
      if (!s_wait_below(w, o->inflight)) {
        w->err = 1;
        break;
      }
      pthread_mutex_lock(&w->mu);
      w->outstanding++;
      pthread_mutex_unlock(&w->mu);
      MQTTClient_deliveryToken tok;
      int rc;
      while ((rc = MQTTClient_publish(w->client, topic, (int)len, payload, (int)o->qos, 0, &tok)) ==
             MQTTCLIENT_MAX_MESSAGES_INFLIGHT)
        usleep(50);
      if (rc != MQTTCLIENT_SUCCESS) {
        pthread_mutex_lock(&w->mu);
        w->outstanding--;
        pthread_mutex_unlock(&w->mu);
        w->failed++;
        fprintf(stderr, "loadgen: publish failed: rc %d\n", rc);
        if (w->failed > 100)
          w->err = 1;
        continue;
      }
      if (o->qos == 0) { /* no PUBACK: done once written */
        pthread_mutex_lock(&w->mu);
        w->outstanding--;
        pthread_mutex_unlock(&w->mu);
        atomic_fetch_add(&w->acked, 1);
      }
      w->sent_msgs++;
      w->sent_samples += hi - lo;
    }
  }
  (void)s_wait_below(w, 1); /* the last PUBACKs */
  free(payload);
  return NULL;
}

static int run_sync(const struct opts *o, struct totals *t)
{
  struct sworker *ws = calloc((size_t)o->conns, sizeof *ws);
  if (!ws)
    return -1;
  char id[128];
  int rc = -1, started = 0;
  for (int i = 0; i < o->conns; i++) {
    struct sworker *w = &ws[i];
    w->o = o;
    w->idx = i;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    snprintf(id, sizeof id, "ds-loadgen-%ld-%d", (long)getpid(), i);
    if (MQTTClient_create(&w->client, o->url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS)
      goto out;
    MQTTClient_setCallbacks(w->client, w, s_lost, s_arrived, s_delivered);
    MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
    co.keepAliveInterval = 60;
    co.cleansession = 1;
    co.maxInflightMessages = (int)o->inflight + 16;
    co.username = o->username && *o->username ? o->username : NULL;
    co.password = o->password && *o->password ? o->password : NULL;
    int crc = MQTTClient_connect(w->client, &co);
    if (crc != MQTTCLIENT_SUCCESS) {
      fprintf(stderr, "loadgen: connect to %s failed: rc %d\n", o->url, crc);
      goto out;
    }
  }
  for (; started < o->conns; started++)
    if (pthread_create(&ws[started].thread, NULL, s_run, &ws[started]) != 0)
      goto out;
  rc = 0;
out:
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
    if (MQTTClient_isConnected(ws[i].client))
      MQTTClient_disconnect(ws[i].client, 1000);
    MQTTClient_destroy(&ws[i].client);
  }
  free(ws);
  return rc;
}

int main(int argc, char **argv)
{
  struct opts o;
  if (parse_args(argc, argv, &o) != 0)
    return 2;
  if (o.samples / o.devices < 1) {
    fprintf(stderr, "loadgen: fewer samples than devices\n");
    return 2;
  }
  if (o.conns > o.devices)
    o.conns = o.devices;
  struct totals t = {0};
  double t0 = now_ms(CLOCK_MONOTONIC), wall0 = now_ms(CLOCK_REALTIME);
  /* Connecting is part of the timed span: it is a few milliseconds, and the
   * bench measures the stores against the same start. */
  int rc = o.async_api ? run_async(&o, &t) : run_sync(&o, &t);
  double el = now_ms(CLOCK_MONOTONIC) - t0;
  if (rc != 0)
    return 1;
  double samples_ok =
      t.sent_msgs > 0 ? (double)t.sent_samples * (double)t.acked / (double)t.sent_msgs : 0;
  printf("loadgen samples=%lld messages=%lld acked=%lld failed=%lld elapsed_ms=%.1f "
         "rate=%.0f msg_rate=%.0f start_ms=%.0f end_ms=%.0f\n",
         t.sent_samples, t.sent_msgs, t.acked, t.failed, el, el > 0 ? samples_ok * 1000.0 / el : 0,
         el > 0 ? (double)t.acked * 1000.0 / el : 0, wall0, wall0 + el);
  fflush(stdout);
  return (t.failed == 0 && t.acked == t.sent_msgs && !t.failed_conn) ? 0 : 1;
}
