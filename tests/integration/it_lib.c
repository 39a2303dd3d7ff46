/* Helpers for integration scenarios: environment, checks, polling, stackctl,
 * an MQTT client over Paho (publish, subscribe, collect), libpq queries and
 * libcurl requests.  See it_lib.h. */
#include "it_lib.h"

#include <MQTTClient.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ds/mqtt.h"

#define IT_PARAMS_MAX 32
#define IT_CMD_MAX 4096

static int failures;

void it_fatal(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("FATAL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

void it_note(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("scenario: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void it_check_failed(const char *file, int line, const char *expr, bool fatal, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL %s:%d: (%s) ", file, line, expr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  failures++;
  if (fatal)
    exit(1);
}

int it_failures(void)
{
  return failures;
}

int it_finish(void)
{
  if (failures == 0)
    return 0;
  fprintf(stderr, "scenario: %d check(s) failed\n", failures);
  return 1;
}

/* ------------------------------------------------------------ environment */

const char *it_env_str(const char *name)
{
  const char *v = getenv(name);
  if (v == NULL || v[0] == '\0')
    it_fatal("%s is not set: run scenarios through tests/integration/run.sh", name);
  return v;
}

const char *it_env_or(const char *name, const char *def)
{
  const char *v = getenv(name);
  return v != NULL && v[0] != '\0' ? v : def;
}

long long it_env_int(const char *name, long long def, long long min, long long max)
{
  const char *v = getenv(name);
  if (v == NULL || v[0] == '\0')
    return def;
  char *end = NULL;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
    it_fatal("%s=%s: expected an integer in [%lld, %lld]", name, v, min, max);
  return n;
}

long long it_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long it_wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(long ms)
{
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

bool it_wait_until(bool (*pred)(void *ctx), void *ctx, long timeout_ms)
{
  long long deadline = it_mono_ms() + timeout_ms;
  long step = 20;
  for (;;) {
    if (pred(ctx))
      return true;
    if (it_mono_ms() >= deadline)
      return pred(ctx);
    it_sleep_ms(step);
    if (step < 250)
      step = step * 3 / 2;
  }
}

int it_stackctl(const char *fmt, ...)
{
  char args[IT_CMD_MAX / 2];
  char cmd[IT_CMD_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof args)
    it_fatal("it_stackctl: arguments too long");
  n = snprintf(cmd, sizeof cmd, "'%s' %s", it_env_str("DS_TEST_STACKCTL"), args);
  if (n < 0 || (size_t)n >= sizeof cmd)
    it_fatal("it_stackctl: command too long");
  it_note("stackctl %s", args);
  fflush(stdout);
  fflush(stderr);
  int st = system(cmd);
  if (st == -1)
    return -1;
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  return -1;
}

const char *it_run_tag(void)
{
  static char tag[48];
  if (tag[0] == '\0')
    snprintf(tag, sizeof tag, "%ld-%lld", (long)getpid(), it_wall_ms() % 100000000LL);
  return tag;
}

/* ------------------------------------------------------------ MQTT */

/* No callbacks: with callbacks, Paho's synchronous client runs one
 * background thread shared by every client of the process, and one client
 * disconnecting can stop it under another (seen: a publisher stuck for ever
 * waiting for acknowledgements).  Without them each call does its own
 * network I/O: MQTTClient_receive reads packets (acknowledgements included)
 * and incoming messages wait in our queue.  MQTTClient_waitForCompletion is
 * not used either: it polls in 100 ms steps (10 messages a second). */
/* Paho's synchronous client shares one network loop between the clients of
 * a process (a thread's receive may read another client's CONNACK): every
 * Paho call here holds this lock, so clients may live in different threads. */
static pthread_mutex_t paho_mu = PTHREAD_MUTEX_INITIALIZER;
static void lock(void)
{
  pthread_mutex_lock(&paho_mu);
}
static void unlock(void)
{
  pthread_mutex_unlock(&paho_mu);
}

struct it_qmsg {
  struct it_msg msg;
  struct it_qmsg *next;
};

struct it_mqtt {
  MQTTClient c;
  struct it_qmsg *head, *tail;
};

static void queue_push(struct it_mqtt *m, char *topic, int topic_len, MQTTClient_message *msg)
{
  struct it_qmsg *q = calloc(1, sizeof *q);
  if (q == NULL)
    it_fatal("out of memory");
  size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
  size_t pl = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
  q->msg.topic = malloc(tl + 1);
  q->msg.payload = malloc(pl + 1);
  if (q->msg.topic == NULL || q->msg.payload == NULL)
    it_fatal("out of memory");
  memcpy(q->msg.topic, topic, tl);
  q->msg.topic[tl] = '\0';
  if (pl > 0)
    memcpy(q->msg.payload, msg->payload, pl);
  q->msg.payload[pl] = '\0';
  q->msg.len = pl;
  MQTTClient_freeMessage(&msg);
  MQTTClient_free(topic);
  if (m->tail != NULL)
    m->tail->next = q;
  else
    m->head = q;
  m->tail = q;
}

/* Reads from the network for up to timeout_ms (one packet at most when a
 * message arrives).  Returns -1 when the connection is gone. */
static int pump(struct it_mqtt *m, unsigned long timeout_ms)
{
  char *topic = NULL;
  int topic_len = 0;
  MQTTClient_message *msg = NULL;
  lock();
  int r = MQTTClient_receive(m->c, &topic, &topic_len, &msg, timeout_ms);
  unlock();
  if (r != MQTTCLIENT_SUCCESS && r != MQTTCLIENT_TOPICNAME_TRUNCATED) {
    if (topic != NULL)
      MQTTClient_free(topic);
    return -1;
  }
  if (msg != NULL)
    queue_push(m, topic, topic_len, msg);
  else if (topic != NULL)
    MQTTClient_free(topic);
  return 0;
}

static void mqtt_free(struct it_mqtt *m)
{
  lock();
  MQTTClient_destroy(&m->c);
  unlock();
  struct it_qmsg *q = m->head;
  while (q != NULL) {
    struct it_qmsg *next = q->next;
    it_msg_cleanup(&q->msg);
    free(q);
    q = next;
  }
  free(m);
}

struct it_mqtt *it_mqtt_open_url(const char *url, const char *ca_file, const char *client_id,
                                 const char *username, const char *password, int *rc)
{
  struct it_mqtt *m = calloc(1, sizeof *m);
  if (m == NULL)
    it_fatal("out of memory");
  lock();
  int r = MQTTClient_create(&m->c, url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
  unlock();
  if (r != MQTTCLIENT_SUCCESS)
    it_fatal("MQTTClient_create(%s): %d", url, r);
  MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
  o.keepAliveInterval = 30;
  o.cleansession = 1;
  o.connectTimeout = 10;
  o.username = username;
  o.password = password;
  MQTTClient_SSLOptions so = MQTTClient_SSLOptions_initializer;
  if (ds_mqtt_url_is_tls(url)) {
    so.trustStore = ca_file;
    so.enableServerCertAuth = 1;
    so.verify = 1;
    o.ssl = &so;
  }
  lock();
  r = MQTTClient_connect(m->c, &o);
  unlock();
  if (rc != NULL)
    *rc = r;
  if (r != MQTTCLIENT_SUCCESS) {
    mqtt_free(m);
    return NULL;
  }
  return m;
}

struct it_mqtt *it_mqtt_open_as(const char *client_id, const char *username, const char *password,
                                int *rc)
{
  return it_mqtt_open_url(it_env_str("DS_TEST_MQTT_URL"), it_env_or("DS_TEST_MQTT_CA_FILE", NULL),
                          client_id, username, password, rc);
}

struct it_mqtt *it_mqtt_open(const char *client_id)
{
  int rc = 0;
  struct it_mqtt *m = it_mqtt_open_as(client_id, it_env_str("DS_TEST_MQTT_USERNAME"),
                                      it_env_str("DS_TEST_MQTT_PASSWORD"), &rc);
  if (m == NULL)
    it_fatal("MQTT connect as %s to %s: rc %d", client_id, it_env_str("DS_TEST_MQTT_URL"), rc);
  return m;
}

void it_mqtt_close(struct it_mqtt *m)
{
  if (m == NULL)
    return;
  lock();
  if (MQTTClient_isConnected(m->c))
    MQTTClient_disconnect(m->c, 2000);
  unlock();
  mqtt_free(m);
}

/* Whether tok is still waiting for its acknowledgement. */
static bool pending(struct it_mqtt *m, MQTTClient_deliveryToken tok)
{
  MQTTClient_deliveryToken *toks = NULL;
  lock();
  int r = MQTTClient_getPendingDeliveryTokens(m->c, &toks);
  unlock();
  if (r != MQTTCLIENT_SUCCESS || toks == NULL)
    return false;
  bool found = false;
  for (int i = 0; toks[i] != -1; i++)
    if (toks[i] == tok)
      found = true;
  MQTTClient_free(toks);
  return found;
}

int it_mqtt_publish(struct it_mqtt *m, const char *topic, const void *payload, size_t len, int qos)
{
  if (len > INT32_MAX)
    return -1;
  MQTTClient_deliveryToken tok = 0;
  lock();
  int r = MQTTClient_publish(m->c, topic, (int)len, payload, qos, 0, &tok);
  unlock();
  if (r != MQTTCLIENT_SUCCESS) {
    it_note("publish to %s failed: rc %d", topic, r);
    return -1;
  }
  if (qos == 0)
    return 0;
  long long deadline = it_mono_ms() + 10000;
  for (int spins = 0; pending(m, tok); spins++) {
    if (it_mono_ms() >= deadline) {
      it_note("publish to %s not acknowledged within 10 s", topic);
      return -1;
    }
    /* A local broker answers within microseconds: poll without waiting
     * first, then in 1 ms steps. */
    if (pump(m, spins < 50 ? 0 : 1) != 0) {
      it_note("publish to %s: connection lost", topic);
      return -1;
    }
  }
  return 0;
}

void it_mqtt_publish_str(struct it_mqtt *m, const char *topic, const char *payload, int qos)
{
  if (it_mqtt_publish(m, topic, payload, strlen(payload), qos) != 0)
    it_fatal("publish to %s failed", topic);
}

void it_mqtt_subscribe(struct it_mqtt *m, const char *filter, int qos)
{
  lock();
  int r = MQTTClient_subscribe(m->c, filter, qos);
  unlock();
  if (r != MQTTCLIENT_SUCCESS)
    it_fatal("subscribe %s: rc %d", filter, r);
}

int it_mqtt_next(struct it_mqtt *m, long timeout_ms, struct it_msg *out)
{
  long long deadline = it_mono_ms() + timeout_ms;
  while (m->head == NULL) {
    long long left = deadline - it_mono_ms();
    if (left <= 0)
      return 0;
    if (pump(m, (unsigned long)(left < 100 ? left : 100)) != 0)
      it_fatal("MQTT connection lost while waiting for messages");
  }
  struct it_qmsg *q = m->head;
  m->head = q->next;
  if (m->head == NULL)
    m->tail = NULL;
  *out = q->msg;
  free(q);
  return 1;
}

void it_msg_cleanup(struct it_msg *msg)
{
  free(msg->topic);
  free(msg->payload);
  msg->topic = msg->payload = NULL;
  msg->len = 0;
}

bool it_mqtt_collect(struct it_mqtt *m, long timeout_ms,
                     bool (*done)(const struct it_msgs *msgs, void *ctx), void *ctx,
                     struct it_msgs *out)
{
  long long deadline = it_mono_ms() + timeout_ms;
  for (;;) {
    if (done != NULL && done(out, ctx))
      return true;
    long left = (long)(deadline - it_mono_ms());
    if (left <= 0)
      return false;
    struct it_msg msg;
    if (it_mqtt_next(m, left < 250 ? left : 250, &msg) == 1) {
      if (out->n == out->cap) {
        size_t cap = out->cap != 0 ? out->cap * 2 : 16;
        struct it_msg *v = realloc(out->v, cap * sizeof *v);
        if (v == NULL)
          it_fatal("out of memory");
        out->v = v;
        out->cap = cap;
      }
      out->v[out->n++] = msg;
    }
  }
}

void it_msgs_cleanup(struct it_msgs *msgs)
{
  for (size_t i = 0; i < msgs->n; i++)
    it_msg_cleanup(&msgs->v[i]);
  free(msgs->v);
  msgs->v = NULL;
  msgs->n = msgs->cap = 0;
}

/* ------------------------------------------------------------ PostgreSQL */

PGconn *it_db_connect(void)
{
  PGconn *c = PQconnectdb(it_env_str("DS_TEST_DATABASE_URL"));
  if (PQstatus(c) != CONNECTION_OK)
    it_fatal("database connect: %s", PQerrorMessage(c));
  return c;
}

static PGresult *db_run(PGconn *c, const char *sql, int n, va_list ap)
{
  const char *params[IT_PARAMS_MAX];
  if (n < 0 || n > IT_PARAMS_MAX)
    it_fatal("it_db: %d parameters (max %d)", n, IT_PARAMS_MAX);
  for (int i = 0; i < n; i++)
    params[i] = va_arg(ap, const char *);
  for (int attempt = 0; attempt < 2; attempt++) {
    if (PQstatus(c) != CONNECTION_OK) {
      PQreset(c);
      if (PQstatus(c) != CONNECTION_OK)
        continue;
    }
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
      return r;
    PQclear(r);
    if (PQstatus(c) == CONNECTION_OK)
      break; /* a real SQL error: no retry */
  }
  it_note("query failed: %s -- %s", PQerrorMessage(c), sql);
  return NULL;
}

PGresult *it_db_try(PGconn *c, const char *sql, int n, ...)
{
  va_list ap;
  va_start(ap, n);
  PGresult *r = db_run(c, sql, n, ap);
  va_end(ap);
  return r;
}

PGresult *it_db_exec(PGconn *c, const char *sql, int n, ...)
{
  va_list ap;
  va_start(ap, n);
  PGresult *r = db_run(c, sql, n, ap);
  va_end(ap);
  if (r == NULL)
    it_fatal("query failed: %s", sql);
  return r;
}

static bool scalar_of(PGresult *r, long long *out)
{
  if (r == NULL || PQntuples(r) < 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0))
    return false;
  const char *v = PQgetvalue(r, 0, 0);
  char *end = NULL;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0')
    return false;
  *out = n;
  return true;
}

long long it_db_scalar_ll(PGconn *c, const char *sql, int n, ...)
{
  va_list ap;
  va_start(ap, n);
  PGresult *r = db_run(c, sql, n, ap);
  va_end(ap);
  long long v = 0;
  if (!scalar_of(r, &v))
    it_fatal("no integer from: %s", sql);
  PQclear(r);
  return v;
}

long long it_db_scalar_ll_or(PGconn *c, long long def, const char *sql, int n, ...)
{
  va_list ap;
  va_start(ap, n);
  PGresult *r = db_run(c, sql, n, ap);
  va_end(ap);
  long long v = def;
  if (!scalar_of(r, &v))
    v = def;
  PQclear(r);
  return v;
}

/* ------------------------------------------------------------ HTTP */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
  struct it_http_resp *r = ud;
  size_t n = size * nmemb;
  size_t room = IT_HTTP_BODY_MAX - r->len;
  size_t take = n < room ? n : room;
  if (take < n)
    r->truncated = true;
  if (take > 0) {
    char *b = realloc(r->body, r->len + take + 1);
    if (b == NULL)
      return 0;
    r->body = b;
    memcpy(r->body + r->len, data, take);
    r->len += take;
    r->body[r->len] = '\0';
  }
  return n;
}

int it_http(const char *method, const char *path, const char *body, bool auth,
            struct it_http_resp *out)
{
  static bool inited;
  if (!inited) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
      it_fatal("curl_global_init");
    inited = true;
  }
  memset(out, 0, sizeof *out);
  out->body = calloc(1, 1);
  if (out->body == NULL)
    it_fatal("out of memory");
  char url[4096];
  /* A full URL (another service's admin port) or a path of the query API. */
  bool full = strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0;
  int n = snprintf(url, sizeof url, "%s%s", full ? "" : it_env_str("DS_TEST_HTTP_URL"), path);
  if (n < 0 || (size_t)n >= sizeof url)
    it_fatal("it_http: URL too long");
  char authz[1024];
  n = snprintf(authz, sizeof authz, "Authorization: Bearer %s", it_env_str("DS_TEST_API_TOKEN"));
  if (n < 0 || (size_t)n >= sizeof authz)
    it_fatal("it_http: token too long");

  CURL *h = curl_easy_init();
  if (h == NULL)
    it_fatal("curl_easy_init");
  struct curl_slist *hdrs = NULL;
  if (body != NULL)
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
  if (auth)
    hdrs = curl_slist_append(hdrs, authz);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
  /* https:// URLs: the stack's private CA (certificate and host checked). */
  const char *ca = it_env_or("DS_TEST_TLS_CA_FILE", NULL);
  if (ca != NULL && ca[0] != '\0')
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  if (hdrs != NULL)
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  if (body != NULL) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  } else if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  }
  CURLcode cr = curl_easy_perform(h);
  int rc = 0;
  if (cr != CURLE_OK) {
    it_note("%s %s: %s", method, path, curl_easy_strerror(cr));
    out->status = 0;
    rc = -1;
  } else {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return rc;
}

void it_http_resp_cleanup(struct it_http_resp *r)
{
  free(r->body);
  r->body = NULL;
  r->len = 0;
}
