/* Subscriber over Paho's MQTTAsync (see ds/mqtt_async.h).  Paho's calls
 * complete on its own threads; each blocking call here waits on a condition
 * variable for the success or failure callback. */
#include "ds/mqtt_async.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds/time.h"

struct ds_mqtta {
  MQTTAsync client;
  char *url, *client_id, *username, *password, *ca_file;
  bool clean_session;
  int keepalive_s;
  ds_mqtta_on_message on_message;
  void *ctx;
  atomic_bool connected;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  int pending; /* 0: waiting, 1: succeeded, -1: failed */
  int code;    /* failure code, or granted QoS */
  bool session_present;
  atomic_bool arrived; /* a message came in since the last connect call */
  char why[128];
  /* An unwaited SUBSCRIBE's failure (ds_mqtta_take_error). */
  bool sub_failed;
  char sub_why[160];
};

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

static void complete(struct ds_mqtta *m, int result, int code, const char *why)
{
  pthread_mutex_lock(&m->mu);
  m->pending = result;
  m->code = code;
  snprintf(m->why, sizeof m->why, "%s", why ? why : "");
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
}

static void on_success(void *ctx, MQTTAsync_successData *r)
{
  complete(ctx, 1, r ? r->alt.qos : 0, NULL);
}

static void on_connected(void *ctx, MQTTAsync_successData *r)
{
  struct ds_mqtta *m = ctx;
  pthread_mutex_lock(&m->mu);
  m->session_present = r != NULL && r->alt.connect.sessionPresent != 0;
  pthread_mutex_unlock(&m->mu);
  complete(ctx, 1, 0, NULL);
}

static void sub_failed(struct ds_mqtta *m, const char *why)
{
  pthread_mutex_lock(&m->mu);
  m->sub_failed = true;
  snprintf(m->sub_why, sizeof m->sub_why, "%s", why);
  pthread_mutex_unlock(&m->mu);
}

static void on_sub_success(void *ctx, MQTTAsync_successData *r)
{
  if (r != NULL && r->alt.qos == 0x80)
    sub_failed(ctx, "refused by broker (ACL?)");
}

static void on_sub_failure(void *ctx, MQTTAsync_failureData *r)
{
  sub_failed(ctx, r != NULL && r->code == 0x80 ? "refused by broker (ACL?)"
                  : r != NULL && r->message    ? r->message
                                               : "failed");
}

static void on_failure(void *ctx, MQTTAsync_failureData *r)
{
  complete(ctx, -1, r ? r->code : -1, r ? r->message : NULL);
}

static void on_lost(void *ctx, char *cause)
{
  struct ds_mqtta *m = ctx;
  (void)cause;
  atomic_store(&m->connected, false);
}

static int on_arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *pm)
{
  struct ds_mqtta *m = ctx;
  atomic_store(&m->arrived, true);
  struct ds_mqtta_msg msg = {
      .topic = topic,
      .topic_len = topic_len > 0 ? (size_t)topic_len : strlen(topic),
      .payload = pm->payload,
      .payload_len = pm->payloadlen > 0 ? (size_t)pm->payloadlen : 0,
      .qos = pm->qos,
      .dup = pm->dup != 0,
      .msgid = pm->msgid,
  };
  m->on_message(m->ctx, &msg);
  MQTTAsync_freeMessage(&pm);
  MQTTAsync_free(topic);
  return 1; /* taken: Paho sends the PUBACK now */
}

int ds_mqtta_new(const struct ds_mqtt_opts *opts, ds_mqtta_on_message on_message, void *ctx,
                 struct ds_mqtta **out, char err[DS_ERRLEN])
{
  if (ds_mqtt_check_tls(opts, err) != DS_OK)
    return DS_EINVAL;
  struct ds_mqtta *m = calloc(1, sizeof *m);
  if (m == NULL)
    return DS_ENOMEM;
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, NULL);
  m->url = dup_or_null(opts->url);
  m->client_id = dup_or_null(opts->client_id);
  m->username = dup_or_null(opts->username);
  m->password = dup_or_null(opts->password);
  m->ca_file = opts->ca_file && opts->ca_file[0] ? strdup(opts->ca_file) : NULL;
  m->clean_session = opts->clean_session;
  m->keepalive_s = opts->keepalive_s > 0 ? opts->keepalive_s : 30;
  m->on_message = on_message;
  m->ctx = ctx;
  if (m->url == NULL || m->client_id == NULL || on_message == NULL) {
    snprintf(err, DS_ERRLEN, "MQTT url, client id and message callback are required");
    ds_mqtta_free(m, 0);
    return DS_EINVAL;
  }
  int rc = MQTTAsync_create(&m->client, m->url, m->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
  if (rc != MQTTASYNC_SUCCESS) {
    snprintf(err, DS_ERRLEN, "cannot create MQTT client for %s: %s", m->url,
             MQTTAsync_strerror(rc));
    m->client = NULL;
    ds_mqtta_free(m, 0);
    return DS_EINVAL;
  }
  rc = MQTTAsync_setCallbacks(m->client, m, on_lost, on_arrived, NULL);
  if (rc != MQTTASYNC_SUCCESS) {
    snprintf(err, DS_ERRLEN, "MQTT callbacks: %s", MQTTAsync_strerror(rc));
    ds_mqtta_free(m, 0);
    return DS_EMQTT;
  }
  *out = m;
  return DS_OK;
}

/* Waits for the pending call's callback; 1, -1, or 0 on timeout. */
static int wait_done(struct ds_mqtta *m, int timeout_ms)
{
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  long ns = until.tv_nsec + (long)(timeout_ms % 1000) * 1000000L;
  until.tv_sec += timeout_ms / 1000 + ns / 1000000000L;
  until.tv_nsec = ns % 1000000000L;
  pthread_mutex_lock(&m->mu);
  while (m->pending == 0)
    if (pthread_cond_timedwait(&m->cv, &m->mu, &until) != 0)
      break;
  int r = m->pending;
  pthread_mutex_unlock(&m->mu);
  return r;
}

static void arm(struct ds_mqtta *m)
{
  pthread_mutex_lock(&m->mu);
  m->pending = 0;
  m->code = 0;
  m->why[0] = '\0';
  pthread_mutex_unlock(&m->mu);
}

int ds_mqtta_connect(struct ds_mqtta *m, int timeout_ms, bool *session_present, char err[DS_ERRLEN])
{
  *session_present = false;
  MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
  co.keepAliveInterval = m->keepalive_s;
  co.cleansession = m->clean_session ? 1 : 0;
  co.username = m->username;
  co.password = m->password;
  co.connectTimeout = timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1;
  co.MQTTVersion = MQTTVERSION_3_1_1;
  co.automaticReconnect = 0;
  /* TLS: as in ds_mqtt_connect (certificate chain and host name checked). */
  MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;
  if (ds_mqtt_url_is_tls(m->url)) {
    so.trustStore = m->ca_file;
    so.enableServerCertAuth = 1;
    so.verify = 1;
    co.ssl = &so;
  }
  co.onSuccess = on_connected;
  co.onFailure = on_failure;
  co.context = m;
  arm(m);
  atomic_store(&m->arrived, false);
  int rc = MQTTAsync_connect(m->client, &co);
  if (rc != MQTTASYNC_SUCCESS) {
    snprintf(err, DS_ERRLEN, "connect to %s as %s: %s", m->url, m->client_id,
             MQTTAsync_strerror(rc) ? MQTTAsync_strerror(rc) : "failed");
    return DS_EMQTT;
  }
  /* The success callback may come only after the first messages of a
   * resumed session, and the message callback may block (Paho holds its
   * own lock meanwhile, so no Paho call can be made here either): a
   * message that arrived proves the CONNACK was read. */
  int r = 0;
  int64_t until = ds_time_mono_ms() + timeout_ms + 1000;
  while (r == 0 && ds_time_mono_ms() < until) {
    r = wait_done(m, 20);
    if (r == 0 && atomic_load(&m->arrived)) {
      r = 1;
      pthread_mutex_lock(&m->mu);
      m->session_present = true; /* it had queued messages for us */
      pthread_mutex_unlock(&m->mu);
    }
  }
  if (r == 1) {
    atomic_store(&m->connected, true);
    pthread_mutex_lock(&m->mu);
    *session_present = m->session_present;
    pthread_mutex_unlock(&m->mu);
    return DS_OK;
  }
  int code = m->code;
  const char *why = r == 0      ? "no answer in time"
                    : code == 4 ? "bad user name or password"
                    : code == 5 ? "not authorised"
                    : code == 2 ? "client id rejected"
                    : code == 3 ? "server unavailable"
                    : m->why[0] ? m->why
                                : "failed";
  snprintf(err, DS_ERRLEN, "connect to %s as %s: %s", m->url, m->client_id, why);
  return DS_EMQTT;
}

int ds_mqtta_subscribe(struct ds_mqtta *m, const char *filter, int qos, int timeout_ms,
                       char err[DS_ERRLEN])
{
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.onSuccess = timeout_ms > 0 ? on_success : on_sub_success;
  ro.onFailure = timeout_ms > 0 ? on_failure : on_sub_failure;
  ro.context = m;
  if (timeout_ms <= 0) {
    pthread_mutex_lock(&m->mu);
    m->sub_failed = false;
    pthread_mutex_unlock(&m->mu);
  } else {
    arm(m);
  }
  int rc = MQTTAsync_subscribe(m->client, filter, qos, &ro);
  if (rc != MQTTASYNC_SUCCESS) {
    snprintf(err, DS_ERRLEN, "subscribe %s: %s", filter,
             MQTTAsync_strerror(rc) ? MQTTAsync_strerror(rc) : "failed");
    return DS_EMQTT;
  }
  if (timeout_ms <= 0)
    return DS_OK;
  int r = wait_done(m, timeout_ms);
  if (r == 1 && m->code != 0x80)
    return DS_OK;
  snprintf(err, DS_ERRLEN, "subscribe %s: %s", filter,
           r == 0                        ? "no answer in time"
           : (r == 1 || m->code == 0x80) ? "refused by broker (ACL?)"
                                         : (m->why[0] ? m->why : "failed"));
  return DS_EMQTT;
}

bool ds_mqtta_take_error(struct ds_mqtta *m, char err[DS_ERRLEN])
{
  pthread_mutex_lock(&m->mu);
  bool failed = m->sub_failed;
  if (failed)
    snprintf(err, DS_ERRLEN, "subscribe: %s", m->sub_why);
  m->sub_failed = false;
  pthread_mutex_unlock(&m->mu);
  return failed;
}

bool ds_mqtta_is_connected(struct ds_mqtta *m)
{
  /* Our own flag (set at connect, cleared by the connection-lost callback):
   * MQTTAsync_isConnected would wait for Paho's lock, held while a message
   * callback runs. */
  return m != NULL && m->client != NULL && atomic_load(&m->connected);
}

void ds_mqtta_disconnect(struct ds_mqtta *m, int timeout_ms)
{
  if (m == NULL || m->client == NULL)
    return;
  atomic_store(&m->connected, false);
  if (!MQTTAsync_isConnected(m->client))
    return;
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  d.timeout = timeout_ms;
  arm(m);
  d.onSuccess = on_success;
  d.onFailure = on_failure;
  d.context = m;
  if (MQTTAsync_disconnect(m->client, &d) == MQTTASYNC_SUCCESS)
    (void)wait_done(m, timeout_ms + 1000);
  atomic_store(&m->connected, false);
}

void ds_mqtta_free(struct ds_mqtta *m, int timeout_ms)
{
  if (m == NULL)
    return;
  if (m->client != NULL) {
    ds_mqtta_disconnect(m, timeout_ms);
    MQTTAsync_destroy(&m->client);
  }
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  free(m->url);
  free(m->client_id);
  free(m->username);
  free(m->password);
  free(m->ca_file);
  free(m);
}
