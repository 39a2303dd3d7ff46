/* devicestats-sink: the broker ceiling of the ingest bench.  Subscribes the
 * same filter as ingest (devices/+/data, QoS 1), discards every message,
 * counts messages and samples (objects in the payload) and exits when it has
 * seen the expected number of samples, or after an idle gap.  Prints
 * "sink ready" once subscribed, then one result line. */
#include <MQTTClient.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load_args.h"

static atomic_llong g_msgs, g_samples;
static atomic_llong g_first_ms, g_last_ms; /* Unix ms; 0 = none yet */
static volatile sig_atomic_t g_stop;

static long long wall_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
  (void)sig;
  g_stop = 1;
}

static int on_message(void *ctx, char *topic, int len, MQTTClient_message *m)
{
  (void)ctx;
  (void)len;
  /* One sample per JSON object: count the opening braces (the load
   * generator's samples hold no nested objects). */
  long long n = 0;
  const char *p = m->payload;
  for (int i = 0; i < m->payloadlen; i++)
    n += p[i] == '{';
  long long now = wall_ms();
  long long zero = 0;
  atomic_compare_exchange_strong(&g_first_ms, &zero, now);
  atomic_store(&g_last_ms, now);
  atomic_fetch_add(&g_msgs, 1);
  atomic_fetch_add(&g_samples, n);
  MQTTClient_freeMessage(&m);
  MQTTClient_free(topic);
  return 1;
}

static void on_lost(void *ctx, char *cause)
{
  (void)ctx;
  fprintf(stderr, "sink: connection lost: %s\n", cause ? cause : "");
  g_stop = 1;
}

int main(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"url", required_argument, NULL, 'u'},       {"topic", required_argument, NULL, 't'},
      {"expect", required_argument, NULL, 'e'},    {"idle-ms", required_argument, NULL, 'i'},
      {"timeout-s", required_argument, NULL, 'T'}, {NULL, 0, NULL, 0}};
  const char *env_url = getenv("MQTT_URL");
  const char *url = env_url && *env_url ? env_url : "tcp://127.0.0.1:1883";
  const char *topic = "devices/+/data";
  const char *user = getenv("MQTT_USERNAME"), *pass = getenv("MQTT_PASSWORD");
  long long expect = 0, idle_ms = 10000, timeout_s = 3600;
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    int bad = 0;
    switch (ch) {
    case 'u':
      url = optarg;
      break;
    case 't':
      topic = optarg;
      break;
    case 'e':
      bad = parse_ll(optarg, 0, 1LL << 50, &expect);
      break;
    case 'i':
      bad = parse_ll(optarg, 1, 1LL << 30, &idle_ms);
      break;
    case 'T':
      bad = parse_ll(optarg, 1, 1LL << 30, &timeout_s);
      break;
    default:
      fprintf(stderr, "usage: devicestats-sink [--url U] [--topic F] [--expect SAMPLES] "
                      "[--idle-ms MS] [--timeout-s S]\n");
      return 2;
    }
    if (bad) {
      fprintf(stderr, "sink: bad option value: %s\n", optarg);
      return 2;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  char id[64];
  snprintf(id, sizeof id, "ds-sink-%ld", (long)getpid());
  MQTTClient c;
  if (MQTTClient_create(&c, url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTCLIENT_SUCCESS)
    return 1;
  MQTTClient_setCallbacks(c, NULL, on_lost, on_message, NULL);
  MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
  co.keepAliveInterval = 60;
  /* A clean session: a persistent one would make the broker queue the later
   * bench runs for this client after it has gone. */
  co.cleansession = 1;
  co.username = user && *user ? user : NULL;
  co.password = pass && *pass ? pass : NULL;
  int rc = MQTTClient_connect(c, &co);
  if (rc != MQTTCLIENT_SUCCESS) {
    fprintf(stderr, "sink: connect to %s failed: rc %d\n", url, rc);
    return 1;
  }
  rc = MQTTClient_subscribe(c, topic, 1);
  if (rc != MQTTCLIENT_SUCCESS) {
    fprintf(stderr, "sink: subscribe failed: rc %d\n", rc);
    return 1;
  }
  printf("sink ready\n");
  fflush(stdout);

  long long start = wall_ms();
  const char *why = "signal";
  while (!g_stop) {
    long long now = wall_ms(), last = atomic_load(&g_last_ms);
    if (expect > 0 && atomic_load(&g_samples) >= expect) {
      why = "expected";
      break;
    }
    if (last > 0 && now - last > idle_ms) {
      why = "idle";
      break;
    }
    if (now - start > timeout_s * 1000) {
      why = "timeout";
      break;
    }
    usleep(5000);
  }
  long long first = atomic_load(&g_first_ms), last = atomic_load(&g_last_ms);
  long long samples = atomic_load(&g_samples);
  double el = (double)(last - first);
  printf("sink samples=%lld messages=%lld first_ms=%lld last_ms=%lld rate=%.0f end=%s\n", samples,
         atomic_load(&g_msgs), first, last, el > 0 ? (double)samples * 1000.0 / el : 0, why);
  fflush(stdout);
  MQTTClient_disconnect(c, 1000);
  MQTTClient_destroy(&c);
  return (expect == 0 || samples >= expect) ? 0 : 1;
}
