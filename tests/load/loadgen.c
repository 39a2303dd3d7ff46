/* devicestats-loadgen: publishes the deterministic sample stream of
 * load_gen.h for N devices on devices/<name>/data, single objects or arrays,
 * through several Paho MQTTAsync connections with many QoS 1 messages in
 * flight, and prints one line with its own rate (samples/s, first send to
 * last PUBACK).  It replaces the Locust load test and drives scripts/bench.sh. */
#include <MQTTAsync.h>
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

static double now_ms(clockid_t clk) {
  struct timespec t;
  clock_gettime(clk, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static void on_connect(void *ctx, MQTTAsync_successData *resp) {
  (void)resp;
  struct conn *c = ctx;
  pthread_mutex_lock(&g_mu);
  c->state = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *resp) {
  struct conn *c = ctx;
  fprintf(stderr, "loadgen: connection %d failed: %s (rc %d)\n", c->idx,
          resp && resp->message ? resp->message : "", resp ? resp->code : 0);
  pthread_mutex_lock(&g_mu);
  c->state = -1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void on_sent(void *ctx, MQTTAsync_successData *resp) {
  (void)resp;
  struct conn *c = ctx;
  pthread_mutex_lock(&g_mu);
  c->outstanding--;
  g_acked_msgs++;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *resp) {
  (void)resp;
  struct conn *c = ctx;
  pthread_mutex_lock(&g_mu);
  c->outstanding--;
  g_failed_msgs++;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void on_lost(void *ctx, char *cause) {
  struct conn *c = ctx;
  fprintf(stderr, "loadgen: connection %d lost: %s\n", c->idx, cause ? cause : "");
  pthread_mutex_lock(&g_mu);
  c->state = -1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m) {
  (void)ctx;
  (void)len;
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;
}

/* Appends one sample object to buf at *len (buf has room: callers size it
 * SAMPLE_TEXT_MAX per sample). */
static void put_sample(char *buf, size_t cap, size_t *len, const struct load_sample *s, bool ts) {
  int n;
  if (ts)
    n = snprintf(buf + *len, cap - *len, "{\"x\":%.3f,\"y\":%.3f,\"z\":%.3f,\"ts\":%" PRId64 "}",
                 s->x, s->y, s->z, s->ts_ms);
  else
    n = snprintf(buf + *len, cap - *len, "{\"x\":%.3f,\"y\":%.3f,\"z\":%.3f}", s->x, s->y, s->z);
  if (n > 0 && (size_t)n < cap - *len) *len += (size_t)n;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: devicestats-loadgen [options]\n"
          "  --url URL          broker (default $MQTT_URL or tcp://127.0.0.1:1883)\n"
          "  --devices N        devices (1000)\n"
          "  --samples N        samples in total, spread evenly over devices (1000000)\n"
          "  --first N          index of each device's first sample (0)\n"
          "  --batch N          samples per message, 1 = single object (1)\n"
          "  --qos N            0 or 1 (1)\n"
          "  --connections N    MQTT connections, devices split among them (4)\n"
          "  --inflight N       messages in flight per connection (1000)\n"
          "  --prefix P         device names are P%%04u (ld-)\n"
          "  --ts-base MS       first timestamp, Unix ms (2026-11-28T00:00:00Z)\n"
          "  --ts-step MS       time between a device's samples (1000)\n"
          "  --no-ts            omit ts (ingest stamps the receive time)\n"
          "Credentials: $MQTT_USERNAME, $MQTT_PASSWORD.\n");
}

static int parse_args(int argc, char **argv, struct opts *o) {
  static const struct option longopts[] = {
      {"url", required_argument, NULL, 'u'},         {"devices", required_argument, NULL, 'd'},
      {"samples", required_argument, NULL, 's'},     {"first", required_argument, NULL, 'F'},
      {"batch", required_argument, NULL, 'b'},       {"qos", required_argument, NULL, 'q'},
      {"connections", required_argument, NULL, 'c'}, {"inflight", required_argument, NULL, 'i'},
      {"prefix", required_argument, NULL, 'p'},      {"ts-base", required_argument, NULL, 'B'},
      {"ts-step", required_argument, NULL, 'S'},     {"no-ts", no_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
  const char *env_url = getenv("MQTT_URL");
  *o = (struct opts){.url = env_url && *env_url ? env_url : "tcp://127.0.0.1:1883",
                     .prefix = "ld-",
                     .username = getenv("MQTT_USERNAME"),
                     .password = getenv("MQTT_PASSWORD"),
                     .devices = 1000,
                     .samples = 1000000,
                     .batch = 1,
                     .qos = 1,
                     .conns = 4,
                     .inflight = 1000,
                     .ts_base_ms = LOAD_TS_BASE_MS,
                     .ts_step_ms = 1000};
  int ch;
  long long v;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    int bad = 0;
    switch (ch) {
    case 'u': o->url = optarg; break;
    case 'p': o->prefix = optarg; break;
    case 'n': o->no_ts = true; break;
    case 'd': bad = parse_ll(optarg, 1, 10000000, &v); o->devices = (long)v; break;
    case 's': bad = parse_ll(optarg, 1, INT64_C(1) << 40, &v); o->samples = v; break;
    case 'F': bad = parse_ll(optarg, 0, INT64_C(1) << 40, &v); o->first = v; break;
    case 'b': bad = parse_ll(optarg, 1, 1000, &v); o->batch = (long)v; break;
    case 'q': bad = parse_ll(optarg, 0, 1, &v); o->qos = (long)v; break;
    case 'c': bad = parse_ll(optarg, 1, MAX_CONNS, &v); o->conns = (long)v; break;
    case 'i': bad = parse_ll(optarg, 1, 65000, &v); o->inflight = (long)v; break;
    case 'B': bad = parse_ll(optarg, 0, INT64_C(1) << 50, &v); o->ts_base_ms = v; break;
    case 'S': bad = parse_ll(optarg, 0, INT64_C(1) << 32, &v); o->ts_step_ms = v; break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); return -1;
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

static int connect_all(const struct opts *o) {
  char id[128];
  for (int i = 0; i < o->conns; i++) {
    struct conn *c = &g_conns[i];
    c->idx = i;
    snprintf(id, sizeof id, "ds-loadgen-%ld-%d", (long)getpid(), i);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.sendWhileDisconnected = 0;
    int rc = MQTTAsync_createWithOptions(&c->client, o->url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                         &co);
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
    if (bad) break;
    if (up == o->conns) {
      ok = 1;
      break;
    }
    if (pthread_cond_timedwait(&g_cv, &g_mu, &dl) == ETIMEDOUT) break;
  }
  pthread_mutex_unlock(&g_mu);
  if (!ok) fprintf(stderr, "loadgen: could not connect to %s\n", o->url);
  return ok ? 0 : -1;
}

int main(int argc, char **argv) {
  struct opts o;
  if (parse_args(argc, argv, &o) != 0) return 2;
  long long per_dev = o.samples / o.devices;
  if (per_dev < 1) {
    fprintf(stderr, "loadgen: fewer samples than devices\n");
    return 2;
  }
  long long rounds = (per_dev + o.batch - 1) / o.batch;
  size_t cap = (size_t)o.batch * SAMPLE_TEXT_MAX + 4;
  char *payload = malloc(cap);
  if (!payload) return 1;
  if (connect_all(&o) != 0) return 1;

  char topic[NAME_MAX_LEN + 32];
  long long sent_msgs = 0, sent_samples = 0;
  double t0 = now_ms(CLOCK_MONOTONIC), wall0 = now_ms(CLOCK_REALTIME);
  int failed_conn = 0;
  for (long long r = 0; r < rounds && !failed_conn; r++) {
    long long lo = r * o.batch, hi = lo + o.batch < per_dev ? lo + o.batch : per_dev;
    for (long d = 0; d < o.devices; d++) {
      struct conn *c = &g_conns[d % o.conns];
      size_t len = 0;
      if (o.batch > 1) payload[len++] = '[';
      for (long long k = lo; k < hi; k++) {
        struct load_sample s =
            load_sample_at((uint32_t)d, (uint64_t)(o.first + k), o.ts_base_ms, o.ts_step_ms);
        if (k > lo) payload[len++] = ',';
        put_sample(payload, cap - 2, &len, &s, !o.no_ts);
      }
      if (o.batch > 1) payload[len++] = ']';
      snprintf(topic, sizeof topic, "devices/%s%04ld/data", o.prefix, d);

      pthread_mutex_lock(&g_mu);
      while (c->outstanding >= o.inflight && c->state == 1) pthread_cond_wait(&g_cv, &g_mu);
      if (c->state != 1) failed_conn = 1;
      else c->outstanding++;
      pthread_mutex_unlock(&g_mu);
      if (failed_conn) break;

      MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
      ro.onSuccess = on_sent;
      ro.onFailure = on_send_fail;
      ro.context = c;
      MQTTAsync_message m = MQTTAsync_message_initializer;
      m.payload = payload;
      m.payloadlen = (int)len;
      m.qos = (int)o.qos;
      int rc = MQTTAsync_sendMessage(c->client, topic, &m, &ro);
      if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "loadgen: send failed: rc %d\n", rc);
        pthread_mutex_lock(&g_mu);
        c->outstanding--;
        g_failed_msgs++;
        pthread_mutex_unlock(&g_mu);
        continue;
      }
      sent_msgs++;
      sent_samples += hi - lo;
    }
  }
  /* Wait for the last acknowledgements (QoS 0: the send completes locally). */
  pthread_mutex_lock(&g_mu);
  while (g_acked_msgs + g_failed_msgs < sent_msgs) {
    int any_up = 0;
    for (int i = 0; i < o.conns; i++) any_up |= g_conns[i].state == 1;
    if (!any_up) break;
    pthread_cond_wait(&g_cv, &g_mu);
  }
  long long acked = g_acked_msgs, failed = g_failed_msgs;
  pthread_mutex_unlock(&g_mu);
  double t1 = now_ms(CLOCK_MONOTONIC);
  double el = t1 - t0;
  double samples_ok = sent_msgs > 0 ? (double)sent_samples * (double)acked / (double)sent_msgs : 0;
  printf("loadgen samples=%lld messages=%lld acked=%lld failed=%lld elapsed_ms=%.1f "
         "rate=%.0f msg_rate=%.0f start_ms=%.0f end_ms=%.0f\n",
         sent_samples, sent_msgs, acked, failed, el, el > 0 ? samples_ok * 1000.0 / el : 0,
         el > 0 ? (double)acked * 1000.0 / el : 0, wall0, wall0 + el);
  fflush(stdout);

  for (int i = 0; i < o.conns; i++) {
    MQTTAsync_disconnectOptions dc = MQTTAsync_disconnectOptions_initializer;
    dc.timeout = 1000;
    if (g_conns[i].state == 1) (void)MQTTAsync_disconnect(g_conns[i].client, &dc);
  }
  usleep(200 * 1000);
  for (int i = 0; i < o.conns; i++) MQTTAsync_destroy(&g_conns[i].client);
  free(payload);
  return (failed == 0 && acked == sent_msgs && !failed_conn) ? 0 : 1;
}
