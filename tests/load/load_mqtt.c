/* The simulated devices (see load_mqtt.h). */
#include "load_mqtt.h"

#include <MQTTClient.h>
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
  MQTTClient client;
  pthread_mutex_t mu; /* guards outstanding; cv signals a PUBACK or a loss */
  pthread_cond_t cv;
  long outstanding;
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

static void on_delivered(void *ctx, MQTTClient_deliveryToken dt)
{
  (void)dt;
  struct worker *w = ctx;
  atomic_fetch_add(&w->acked, 1);
  pthread_mutex_lock(&w->mu);
  long before = w->outstanding--;
  if (before >= w->run->o->inflight || before == 1)
    pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static int on_arrived(void *ctx, char *topic, int len, MQTTClient_message *m)
{
  (void)ctx;
  (void)len;
  MQTTClient_freeMessage(&m);
  MQTTClient_free(topic);
  return 1;
}

static void on_lost(void *ctx, char *cause)
{
  struct worker *w = ctx;
  fprintf(stderr, "loadgen: connection %d lost: %s\n", w->idx, cause ? cause : "");
  atomic_store(&w->lost, 1);
  atomic_fetch_add(&w->run->errors[LOAD_ERR_CONN], 1);
  pthread_mutex_lock(&w->mu);
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Waits until fewer than limit messages are in flight (limit 1: none), at
 * most until deadline_ms (monotonic; 0 = none); false when the connection
 * is lost or the deadline passed. */
static bool wait_below(struct worker *w, long limit, double deadline_ms)
{
  pthread_mutex_lock(&w->mu);
  while (w->outstanding >= limit && !atomic_load(&w->lost) &&
         (deadline_ms == 0 || load_mono_ms() < deadline_ms)) {
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
    struct timespec ts = {0, (long)(wait * 1e6)};
    nanosleep(&ts, NULL);
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
      pthread_mutex_lock(&w->mu);
      w->outstanding++;
      pthread_mutex_unlock(&w->mu);
      MQTTClient_deliveryToken tok;
      int rc;
      while ((rc = MQTTClient_publish(w->client, topic, (int)len, payload, (int)o->qos, 0, &tok)) ==
             MQTTCLIENT_MAX_MESSAGES_INFLIGHT)
        usleep(50);
      load_rate_sent(&rate, 1);
      if (rc != MQTTCLIENT_SUCCESS) {
        pthread_mutex_lock(&w->mu);
        w->outstanding--;
        pthread_mutex_unlock(&w->mu);
        w->failed++;
        atomic_fetch_add(&run->errors[LOAD_ERR_PUBLISH], 1);
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
      done[j] = hi;
      run->dev_published[d] += hi - lo;
      w->sent_msgs++;
      w->sent_samples += hi - lo;
      atomic_fetch_add(&run->published, hi - lo);
      atomic_fetch_add(&run->messages, 1);
    }
    if (online < mine && finished == 0 && o->rate <= 0) {
      /* Ramping up at full speed: the online devices have had their turn. */
      struct timespec ts = {0, 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  (void)wait_below(w, 1, load_mono_ms() + 10000); /* the last PUBACKs */
out:
  free(done);
  free(payload);
  return NULL;
}

int load_mqtt_run(struct load_run *run, struct load_mqtt_totals *t)
{
  const struct load_opts *o = run->o;
  struct worker *ws = calloc((size_t)o->conns, sizeof *ws);
  if (!ws)
    return -1;
  char id[128];
  int rc = -1, started = 0;
  for (int i = 0; i < o->conns; i++) {
    struct worker *w = &ws[i];
    w->run = run;
    w->idx = i;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    snprintf(id, sizeof id, "ds-loadgen-%ld-%d", (long)getpid(), i);
    if (MQTTClient_create(&w->client, o->mqtt_url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS) {
      fprintf(stderr, "loadgen: bad broker URL %s\n", o->mqtt_url);
      goto out;
    }
    MQTTClient_setCallbacks(w->client, w, on_lost, on_arrived, on_delivered);
    MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
    co.keepAliveInterval = 60;
    co.cleansession = 1;
    co.maxInflightMessages = (int)o->inflight + 16;
    co.username = o->username;
    co.password = o->password;
    co.connectTimeout = 10;
    int crc = MQTTClient_connect(w->client, &co);
    if (crc != MQTTCLIENT_SUCCESS) {
      fprintf(stderr, "loadgen: connect to %s failed: rc %d\n", o->mqtt_url, crc);
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
    if (MQTTClient_isConnected(ws[i].client))
      MQTTClient_disconnect(ws[i].client, 1000);
    MQTTClient_destroy(&ws[i].client);
    pthread_mutex_destroy(&ws[i].mu);
    pthread_cond_destroy(&ws[i].cv);
  }
  free(ws);
  return rc;
}
