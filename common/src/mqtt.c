/* MQTT helpers over Paho's synchronous MQTTClient (see ds/mqtt.h). */
#include "ds/mqtt.h"

#include <MQTTClient.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ds/log.h"
#include "ds/retry.h"
#include "ds/time.h"

struct ds_mqtt {
  MQTTClient client;
  char *url, *client_id, *username, *password, *ca_file;
  bool clean_session;
  bool publish_only;
  int keepalive_s;
  /* Publish-only clients: Paho's thread bumps done_gen on every PUBACK and
   * on a lost connection, so a publisher waits for its token without
   * MQTTClient_waitForCompletion (which, with Paho's thread running, sleeps
   * 100 ms between checks: every QoS 1 publish took >= 100 ms). */
  pthread_mutex_t done_mu;
  pthread_cond_t done_cv; /* CLOCK_MONOTONIC */
  unsigned long done_gen;
  bool done_init;
};

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

/* Callbacks for publish-only clients: Paho then runs its own thread that
 * sends pings and handles acknowledgements. */
static int on_message(void *ctx, char *topic, int topic_len, MQTTClient_message *msg)
{
  (void)ctx;
  (void)topic_len;
  MQTTClient_freeMessage(&msg);
  MQTTClient_free(topic);
  return 1;
}

static void bump_done(struct ds_mqtt *m)
{
  pthread_mutex_lock(&m->done_mu);
  m->done_gen++;
  pthread_cond_broadcast(&m->done_cv);
  pthread_mutex_unlock(&m->done_mu);
}

/* Paho's thread, with Paho's mutex held: takes only ours (never the
 * other way round: waiters release ours before calling Paho). */
static void on_delivered(void *ctx, MQTTClient_deliveryToken dt)
{
  (void)dt;
  bump_done(ctx);
}

static void on_lost(void *ctx, char *cause)
{
  (void)cause;
  bump_done(ctx);
}

static int done_init(struct ds_mqtt *m)
{
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0)
    return DS_ENOMEM;
  int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (rc == 0)
    rc = pthread_cond_init(&m->done_cv, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0)
    return DS_ENOMEM;
  if (pthread_mutex_init(&m->done_mu, NULL) != 0) {
    pthread_cond_destroy(&m->done_cv);
    return DS_ENOMEM;
  }
  m->done_init = true;
  return DS_OK;
}

bool ds_mqtt_url_is_tls(const char *url)
{
  return url != NULL &&
         (strncasecmp(url, "ssl://", 6) == 0 || strncasecmp(url, "mqtts://", 8) == 0);
}

int ds_mqtt_check_tls(const struct ds_mqtt_opts *opts, char err[DS_ERRLEN])
{
  if (!ds_mqtt_url_is_tls(opts->url) || opts->ca_file == NULL || opts->ca_file[0] == '\0')
    return DS_OK;
  if (access(opts->ca_file, R_OK) != 0) {
    snprintf(err, DS_ERRLEN, "MQTT_CA_FILE %.200s cannot be read", opts->ca_file);
    return DS_EINVAL;
  }
  return DS_OK;
}

int ds_mqtt_new(const struct ds_mqtt_opts *opts, struct ds_mqtt **out, char err[DS_ERRLEN])
{
  if (ds_mqtt_check_tls(opts, err) != DS_OK)
    return DS_EINVAL;
  struct ds_mqtt *m = calloc(1, sizeof *m);
  if (m == NULL)
    return DS_ENOMEM;
  m->url = dup_or_null(opts->url);
  m->client_id = dup_or_null(opts->client_id);
  m->username = dup_or_null(opts->username);
  m->password = dup_or_null(opts->password);
  m->ca_file = opts->ca_file && opts->ca_file[0] ? strdup(opts->ca_file) : NULL;
  m->clean_session = opts->clean_session;
  m->publish_only = opts->publish_only;
  m->keepalive_s = opts->keepalive_s > 0 ? opts->keepalive_s : 30;
  if (m->url == NULL || m->client_id == NULL) {
    snprintf(err, DS_ERRLEN, "MQTT url and client id are required");
    ds_mqtt_free(m, 0);
    return DS_EINVAL;
  }
  int rc = MQTTClient_create(&m->client, m->url, m->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
  if (rc != MQTTCLIENT_SUCCESS) {
    snprintf(err, DS_ERRLEN, "cannot create MQTT client for %s: %s", m->url,
             MQTTClient_strerror(rc));
    m->client = NULL;
    ds_mqtt_free(m, 0);
    return DS_EINVAL;
  }
  if (m->publish_only) {
    if (done_init(m) != DS_OK) {
      snprintf(err, DS_ERRLEN, "cannot create the publisher's condition variable");
      ds_mqtt_free(m, 0);
      return DS_ENOMEM;
    }
    rc = MQTTClient_setCallbacks(m->client, m, on_lost, on_message, on_delivered);
    if (rc != MQTTCLIENT_SUCCESS) {
      snprintf(err, DS_ERRLEN, "MQTT callbacks: %s", MQTTClient_strerror(rc));
      ds_mqtt_free(m, 0);
      return DS_EMQTT;
    }
  }
  *out = m;
  return DS_OK;
}

void ds_mqtt_free(struct ds_mqtt *m, int timeout_ms)
{
  if (m == NULL)
    return;
  if (m->client != NULL) {
    if (MQTTClient_isConnected(m->client))
      MQTTClient_disconnect(m->client, timeout_ms);
    MQTTClient_destroy(&m->client);
  }
  free(m->url);
  free(m->client_id);
  free(m->username);
  free(m->password);
  free(m->ca_file);
  if (m->done_init) {
    pthread_cond_destroy(&m->done_cv);
    pthread_mutex_destroy(&m->done_mu);
  }
  free(m);
}

int ds_mqtt_connect(struct ds_mqtt *m, char err[DS_ERRLEN])
{
  MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
  co.keepAliveInterval = m->keepalive_s;
  co.cleansession = m->clean_session ? 1 : 0;
  co.username = m->username;
  co.password = m->password;
  co.connectTimeout = 5;
  co.MQTTVersion = MQTTVERSION_3_1_1;
  /* TLS: the broker's certificate must chain to ca_file (or the system's
   * CAs) and name the host of the URL. */
  MQTTClient_SSLOptions so = MQTTClient_SSLOptions_initializer;
  if (ds_mqtt_url_is_tls(m->url)) {
    so.trustStore = m->ca_file;
    so.enableServerCertAuth = 1;
    so.verify = 1;
    co.ssl = &so;
  }
  int rc = MQTTClient_connect(m->client, &co);
  if (rc != MQTTCLIENT_SUCCESS) {
    const char *why = rc == 4   ? "bad user name or password"
                      : rc == 5 ? "not authorised"
                      : rc == 2 ? "client id rejected"
                      : rc == 3 ? "server unavailable"
                                : MQTTClient_strerror(rc);
    snprintf(err, DS_ERRLEN, "connect to %s as %s: %s", m->url, m->client_id, why ? why : "failed");
    return DS_EMQTT;
  }
  return DS_OK;
}

static int connect_attempt(void *ctx, char err[DS_ERRLEN])
{
  return ds_mqtt_connect(ctx, err);
}

int ds_mqtt_connect_retry(struct ds_mqtt *m, long max_backoff_ms, long timeout_ms)
{
  return ds_retry(connect_attempt, m, "mqtt_unavailable", "mqtt_connected", max_backoff_ms,
                  timeout_ms);
}

bool ds_mqtt_is_connected(struct ds_mqtt *m)
{
  return m != NULL && m->client != NULL && MQTTClient_isConnected(m->client);
}

int ds_mqtt_subscribe(struct ds_mqtt *m, const char *filter, int qos, char err[DS_ERRLEN])
{
  int rc = MQTTClient_subscribe(m->client, filter, qos);
  /* Paho returns the granted QoS (0..2) as success; 0x80 is a refusal. */
  if (rc != MQTTCLIENT_SUCCESS && rc != qos) {
    snprintf(err, DS_ERRLEN, "subscribe %s: %s", filter,
             rc == 0x80 ? "refused by broker (ACL?)" : MQTTClient_strerror(rc));
    return DS_EMQTT;
  }
  return DS_OK;
}

int ds_mqtt_receive(struct ds_mqtt *m, int timeout_ms, bool *got, struct ds_mqtt_message *msg)
{
  char *topic = NULL;
  int topic_len = 0;
  MQTTClient_message *pm = NULL;
  *got = false;
  if (!MQTTClient_isConnected(m->client))
    return DS_EMQTT;
  int rc = MQTTClient_receive(m->client, &topic, &topic_len, &pm,
                              (unsigned long)(timeout_ms < 0 ? 0 : timeout_ms));
  if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
    if (pm != NULL)
      MQTTClient_freeMessage(&pm);
    if (topic != NULL)
      MQTTClient_free(topic);
    return DS_EMQTT;
  }
  if (pm == NULL) {
    if (topic != NULL)
      MQTTClient_free(topic);
    return MQTTClient_isConnected(m->client) ? DS_OK : DS_EMQTT;
  }
  msg->topic = topic;
  msg->topic_len = topic_len > 0 ? (size_t)topic_len : strlen(topic);
  msg->payload = pm->payload;
  msg->payload_len = pm->payloadlen > 0 ? (size_t)pm->payloadlen : 0;
  msg->qos = pm->qos;
  msg->impl = pm;
  *got = true;
  return DS_OK;
}

void ds_mqtt_message_free(struct ds_mqtt_message *msg)
{
  if (msg->impl != NULL) {
    MQTTClient_message *pm = msg->impl;
    MQTTClient_freeMessage(&pm);
  }
  if (msg->topic != NULL)
    MQTTClient_free(msg->topic);
  memset(msg, 0, sizeof *msg);
}

/* Whether tok is still waiting for its acknowledgement (Paho's list of
 * pending tokens, which it updates before calling on_delivered). */
static int token_pending(struct ds_mqtt *m, MQTTClient_deliveryToken tok, bool *pending)
{
  MQTTClient_deliveryToken *toks = NULL;
  int rc = MQTTClient_getPendingDeliveryTokens(m->client, &toks);
  if (rc != MQTTCLIENT_SUCCESS)
    return rc;
  *pending = false;
  for (size_t i = 0; toks != NULL && toks[i] != -1; i++)
    if (toks[i] == tok) {
      *pending = true;
      break;
    }
  MQTTClient_free(toks);
  return MQTTCLIENT_SUCCESS;
}

/* Waits until tok is acknowledged (MQTTCLIENT_SUCCESS), the connection is
 * lost (MQTTCLIENT_DISCONNECTED) or timeout_ms pass (MQTTCLIENT_FAILURE).
 * Woken by on_delivered/on_lost; rechecks every 50 ms regardless. */
static int wait_delivered(struct ds_mqtt *m, MQTTClient_deliveryToken tok, int timeout_ms)
{
  int64_t deadline = ds_time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    pthread_mutex_lock(&m->done_mu);
    unsigned long gen = m->done_gen;
    pthread_mutex_unlock(&m->done_mu);
    bool pending = true;
    int rc = token_pending(m, tok, &pending);
    if (rc != MQTTCLIENT_SUCCESS)
      return rc;
    if (!pending)
      return MQTTCLIENT_SUCCESS;
    if (!MQTTClient_isConnected(m->client))
      return MQTTCLIENT_DISCONNECTED;
    int64_t now = ds_time_mono_ms();
    if (now >= deadline)
      return MQTTCLIENT_FAILURE;
    int64_t until = deadline < now + 50 ? deadline : now + 50;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (until - now) * 1000000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&m->done_mu);
    while (m->done_gen == gen) {
      if (pthread_cond_timedwait(&m->done_cv, &m->done_mu, &ts) != 0)
        break;
    }
    pthread_mutex_unlock(&m->done_mu);
  }
}

int ds_mqtt_publish(struct ds_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                    bool retain, int timeout_ms, char err[DS_ERRLEN])
{
  if (len > (size_t)268435455) {
    snprintf(err, DS_ERRLEN, "payload too large for MQTT");
    return DS_EINVAL;
  }
  MQTTClient_message pm = MQTTClient_message_initializer;
  pm.payload = (void *)(uintptr_t)payload;
  pm.payloadlen = (int)len;
  pm.qos = qos;
  pm.retained = retain ? 1 : 0;
  MQTTClient_deliveryToken tok = 0;
  int rc = MQTTClient_publishMessage(m->client, topic, &pm, &tok);
  if (rc == MQTTCLIENT_SUCCESS && qos > 0) {
    rc = m->done_init ? wait_delivered(m, tok, timeout_ms)
                      : MQTTClient_waitForCompletion(m->client, tok, (unsigned long)timeout_ms);
    if (rc == MQTTCLIENT_FAILURE) {
      snprintf(err, DS_ERRLEN, "publish to %s: not acknowledged within %d ms", topic, timeout_ms);
      return DS_EMQTT;
    }
  }
  if (rc != MQTTCLIENT_SUCCESS) {
    snprintf(err, DS_ERRLEN, "publish to %s: %s", topic,
             MQTTClient_strerror(rc) ? MQTTClient_strerror(rc) : "failed");
    return DS_EMQTT;
  }
  return DS_OK;
}
