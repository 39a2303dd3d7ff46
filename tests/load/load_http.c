/* The HTTP thread of devicestats-loadgen (see load_http.h).  Every client
 * (reader, seed user, marker) is a small state machine with one curl easy
 * handle and the time of its next action; one loop starts what is due,
 * drives the multi handle and waits in curl_multi_poll at most 50 ms. */
#include "load_http.h"

#include <MQTTClient.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load_mqtt.h"

#define RESP_KEEP 65536 /* bytes of an answer kept (markers parse it) */
#define MARKER_TIMEOUT_MS 30000.0
#define MARKER_POLL_MS 20.0
#define URL_MAX 512

enum kind { K_READER, K_SEED, K_MARKER };
enum state { S_IDLE, S_POST, S_GET, S_POLL };

struct client {
  enum kind kind;
  enum state state;
  CURL *e;
  double next_at; /* monotonic ms of its next action (S_IDLE) */
  double t0;      /* start of the request in flight */
  double pub_at;  /* marker: when it was published */
  bool polling;   /* marker: published, not yet visible */
  enum load_route route;
  long dev; /* seed: the device of this round */
  char url[URL_MAX];
  char body[LOAD_SAMPLE_TEXT_MAX + 4];
  char resp[RESP_KEEP];
  size_t resp_len;
};

struct ctx {
  struct load_http *h;
  struct load_run *run;
  const struct load_opts *o;
  CURLM *m;
  struct curl_slist *post_headers;
  struct client *cl;
  size_t ncl;
  MQTTClient mq; /* seed over MQTT and markers outside seed-over-HTTP; NULL otherwise */
  unsigned rng;
  long long seed_started;
  long long marker_base; /* the marker device's count before the run */
  long user_id;          /* users route: the user created for this run; 0 none */
  bool users_assigned;
  char range_q[128]; /* ?start=..&end=.. of the ranged and series routes */
};

static double uniform(unsigned *rng, double lo, double hi)
{
  return lo + (hi - lo) * ((double)rand_r(rng) / ((double)RAND_MAX + 1.0));
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
  struct client *c = ud;
  size_t len = sz * n;
  size_t room = sizeof c->resp - 1 - c->resp_len;
  size_t take = len < room ? len : room;
  memcpy(c->resp + c->resp_len, p, take);
  c->resp_len += take;
  c->resp[c->resp_len] = '\0';
  return len;
}

/* ------------------------------------------------------------ requests */

static void start_request(struct ctx *x, struct client *c, const char *path, bool post)
{
  snprintf(c->url, sizeof c->url, "%s%s", x->o->http_url, path);
  curl_easy_setopt(c->e, CURLOPT_URL, c->url);
  if (post) {
    curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->e, CURLOPT_HTTPHEADER, x->post_headers);
  } else {
    curl_easy_setopt(c->e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c->e, CURLOPT_HTTPHEADER, NULL);
  }
  c->resp_len = 0;
  c->resp[0] = '\0';
  c->t0 = load_mono_ms();
  curl_multi_add_handle(x->m, c->e);
}

static void random_sample(struct ctx *x, struct client *c)
{
  size_t len = 0;
  load_put_sample(c->body, sizeof c->body, &len, (double)(rand_r(&x->rng) % 200001 - 100000) / 1e3,
                  (double)(rand_r(&x->rng) % 200001 - 100000) / 1e3,
                  (double)(rand_r(&x->rng) % 200001 - 100000) / 1e3, -1);
}

/* Publishes c->body on device name's topic over the thread's MQTT client. */
static bool mqtt_publish(struct ctx *x, const char *name, const char *payload)
{
  char topic[LOAD_NAME_MAX + 32];
  snprintf(topic, sizeof topic, "devices/%s/data", name);
  MQTTClient_deliveryToken tok;
  int rc = MQTTClient_publish(x->mq, topic, (int)strlen(payload), payload, (int)x->o->qos, 0, &tok);
  if (rc != MQTTCLIENT_SUCCESS) {
    atomic_fetch_add(&x->run->errors[LOAD_ERR_PUBLISH], 1);
    return false;
  }
  return true;
}

static enum load_route pick_route(struct ctx *x)
{
  unsigned total = 0;
  for (int i = 0; i < LOAD_READ_ROUTES; i++)
    total += x->o->mix[i];
  unsigned r = (unsigned)rand_r(&x->rng) % total;
  for (int i = 0; i < LOAD_READ_ROUTES; i++) {
    if (r < x->o->mix[i])
      return (enum load_route)i;
    r -= x->o->mix[i];
  }
  return LOAD_RT_ALL;
}

/* The users route's user: created at the start, given the first ten
 * devices once they exist (a PUT for a device not stored yet is a 404). */
static void assign_user_devices(struct ctx *x)
{
  char url[URL_MAX], name[LOAD_NAME_MAX + 1];
  x->users_assigned = true;
  for (long d = 0; d < x->o->devices && d < 10; d++) {
    if (load_device_name(x->o, d, name, sizeof name) < 0)
      continue;
    snprintf(url, sizeof url, "%s/users/%ld/devices/%s", x->o->http_url, x->user_id, name);
    (void)load_http_fetch("PUT", url, NULL, x->o->token, NULL, 0, 5000);
  }
}

static void reader_next(struct ctx *x, struct client *c)
{
  char path[URL_MAX - 128], name[LOAD_NAME_MAX + 1];
  long d = (long)((unsigned)rand_r(&x->rng) % (unsigned)x->o->devices);
  if (load_device_name(x->o, d, name, sizeof name) < 0)
    return;
  c->route = pick_route(x);
  if (c->route == LOAD_RT_USERS && !x->users_assigned &&
      load_mono_ms() - x->run->start_mono_ms > 2000)
    assign_user_devices(x);
  switch (c->route) {
  case LOAD_RT_RANGE:
    snprintf(path, sizeof path, "/devices/%s/data%s", name, x->range_q);
    break;
  case LOAD_RT_SERIES:
    snprintf(path, sizeof path, "/devices/%s/series%s&interval=60s", name, x->range_q);
    break;
  case LOAD_RT_DEVICES:
    snprintf(path, sizeof path, "/devices?limit=100");
    break;
  case LOAD_RT_USERS:
    snprintf(path, sizeof path, "/users/%ld/data", x->user_id);
    break;
  default:
    snprintf(path, sizeof path, "/devices/%s/data/all", name);
    break;
  }
  c->state = S_GET;
  start_request(x, c, path, false);
}

static void seed_get(struct ctx *x, struct client *c)
{
  char path[URL_MAX - 128], name[LOAD_NAME_MAX + 1];
  if (load_device_name(x->o, c->dev, name, sizeof name) < 0)
    return;
  snprintf(path, sizeof path, "/devices/%s/data/all", name);
  c->route = LOAD_RT_ALL;
  c->state = S_GET;
  start_request(x, c, path, false);
}

static void seed_next(struct ctx *x, struct client *c)
{
  char path[URL_MAX - 128], name[LOAD_NAME_MAX + 1];
  if (x->o->samples > 0 && x->seed_started >= x->o->samples) {
    c->next_at = 1e300; /* this user is done */
    return;
  }
  x->seed_started++;
  c->dev = (long)((unsigned)rand_r(&x->rng) % (unsigned)x->o->devices);
  if (load_device_name(x->o, c->dev, name, sizeof name) < 0)
    return;
  random_sample(x, c);
  if (x->o->transport == LOAD_TR_HTTP) {
    snprintf(path, sizeof path, "/devices/%s/data", name);
    c->route = LOAD_RT_POST;
    c->state = S_POST;
    start_request(x, c, path, true);
    return;
  }
  if (mqtt_publish(x, name, c->body)) {
    x->run->dev_published[c->dev]++;
    atomic_fetch_add(&x->run->published, 1);
    atomic_fetch_add(&x->run->messages, 1);
  }
  seed_get(x, c);
}

static void marker_poll(struct ctx *x, struct client *c)
{
  char path[URL_MAX - 128];
  snprintf(path, sizeof path, "/devices/%s/data/all", x->h->marker_device);
  c->route = LOAD_RT_MARKER;
  c->state = S_POLL;
  start_request(x, c, path, false);
}

static void marker_next(struct ctx *x, struct client *c)
{
  static const char payload[] = "{\"x\":0,\"y\":0,\"z\":0}";
  c->pub_at = load_mono_ms();
  x->h->markers_sent++;
  if (!x->mq) { /* seed over HTTP: the marker goes the same way */
    char path[URL_MAX - 128];
    snprintf(path, sizeof path, "/devices/%s/data", x->h->marker_device);
    memcpy(c->body, payload, sizeof payload);
    c->route = LOAD_RT_MARKER;
    c->state = S_POST;
    start_request(x, c, path, true);
    return;
  }
  if (!mqtt_publish(x, x->h->marker_device, payload)) {
    x->h->markers_sent--;
    c->next_at = c->pub_at + x->o->marker_ms;
    return;
  }
  marker_poll(x, c);
}

/* ------------------------------------------------------------ answers */

static void count_error(struct ctx *x, long status)
{
  enum load_err e = status == 0     ? LOAD_ERR_HTTP_TRANSPORT
                    : status == 404 ? LOAD_ERR_HTTP_404
                    : status >= 500 ? LOAD_ERR_HTTP_5XX
                                    : LOAD_ERR_HTTP_4XX;
  atomic_fetch_add(&x->run->errors[e], 1);
}

static void on_done(struct ctx *x, struct client *c, CURLcode res)
{
  double now = load_mono_ms(), ms = now - c->t0;
  long status = 0;
  if (res == CURLE_OK)
    curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &status);
  bool ok = status >= 200 && status < 300;
  struct load_http *h = x->h;
  h->route_req[c->route]++;
  load_lat_add(&h->route_lat[c->route], ms);
  if (c->kind != K_MARKER) {
    atomic_fetch_add(&x->run->http_requests, 1);
    load_window_add(&x->run->http_win, ms);
    if (!ok) {
      h->route_err[c->route]++;
      count_error(x, status);
    }
  } else if (!ok && status != 404) { /* 404: the marker device has no sample yet */
    h->route_err[c->route]++;
    count_error(x, status);
  }

  switch (c->kind) {
  case K_READER:
    c->state = S_IDLE;
    c->next_at = now + x->o->reader_think_ms;
    break;
  case K_SEED:
    if (c->state == S_POST) {
      if (status == 202) {
        x->run->dev_published[c->dev]++;
        atomic_fetch_add(&x->run->published, 1);
        atomic_fetch_add(&x->run->messages, 1);
      }
      seed_get(x, c);
      return;
    }
    c->state = S_IDLE;
    c->next_at = now + 1000.0 * uniform(&x->rng, x->o->think_min_s, x->o->think_max_s);
    break;
  case K_MARKER:
    if (c->state == S_POST) {
      if (status != 202)
        h->markers_sent--;
      if (status == 202)
        marker_poll(x, c);
      else {
        c->state = S_IDLE;
        c->next_at = c->pub_at + x->o->marker_ms;
      }
      return;
    }
    long long n = status == 200 ? load_json_count(c->resp) : 0;
    if (n >= x->marker_base + h->markers_sent) {
      double lat = now - c->pub_at;
      h->markers_seen++;
      load_lat_add(&h->e2e, lat);
      load_window_add(&x->run->e2e_win, lat);
    } else if (now - c->pub_at > MARKER_TIMEOUT_MS) {
      atomic_fetch_add(&x->run->errors[LOAD_ERR_MARKER_TIMEOUT], 1);
    } else {
      c->state = S_IDLE; /* poll again shortly */
      c->polling = true;
      c->next_at = now + MARKER_POLL_MS;
      return;
    }
    c->polling = false;
    c->state = S_IDLE;
    c->next_at = c->pub_at + x->o->marker_ms;
    if (c->next_at < now)
      c->next_at = now;
    break;
  }
}

/* ------------------------------------------------------------ the thread */

static void start_due(struct ctx *x, struct client *c, double now)
{
  switch (c->kind) {
  case K_READER:
    reader_next(x, c);
    break;
  case K_SEED:
    seed_next(x, c);
    break;
  case K_MARKER:
    if (c->polling)
      marker_poll(x, c);
    else
      marker_next(x, c);
    break;
  }
  (void)now;
}

static void *http_main(void *arg)
{
  struct ctx *x = arg;
  struct load_run *run = x->run;
  const struct load_opts *o = x->o;
  double stop_at = 0;
  for (;;) {
    double now = load_mono_ms();
    bool stopping = atomic_load(&run->stop) != 0;
    if (stopping && stop_at == 0)
      stop_at = now;
    size_t busy = 0, seed_idle = 0, nseed = 0;
    double next = now + 50;
    for (size_t i = 0; i < x->ncl; i++) {
      struct client *c = &x->cl[i];
      if (c->state == S_IDLE) {
        /* Stopping: only a marker waiting to become visible goes on, 10 s. */
        bool may = !stopping || (c->kind == K_MARKER && c->polling && now - stop_at < 10000);
        if (may && c->next_at <= now) {
          start_due(x, c, now);
        } else if (may && c->next_at < next) {
          next = c->next_at;
        }
      }
      if (c->kind == K_SEED) {
        nseed++;
        seed_idle += c->state == S_IDLE && c->next_at > 1e299;
      }
      busy += c->state != S_IDLE;
    }
    if (nseed > 0 && seed_idle == nseed)
      atomic_store(&x->h->seed_done, 1);
    bool marker_waiting = false;
    for (size_t i = 0; i < x->ncl; i++)
      marker_waiting |= x->cl[i].kind == K_MARKER && x->cl[i].polling;
    if (stopping && busy == 0 && (!marker_waiting || now - stop_at >= 10000))
      break;
    int running = 0;
    curl_multi_perform(x->m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(x->m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      CURL *e = msg->easy_handle;
      CURLcode res = msg->data.result;
      struct client *c = NULL;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
      curl_multi_remove_handle(x->m, e);
      if (c)
        on_done(x, c, res);
    }
    double wait = next - load_mono_ms();
    int wait_ms = wait < 1 ? 1 : wait > 50 ? 50 : (int)wait;
    curl_multi_poll(x->m, NULL, 0, wait_ms, NULL);
  }
  (void)o;
  return NULL;
}

static void mq_lost(void *ctx, char *cause)
{
  struct ctx *x = ctx;
  fprintf(stderr, "loadgen: HTTP thread's MQTT connection lost: %s\n", cause ? cause : "");
  atomic_fetch_add(&x->run->errors[LOAD_ERR_CONN], 1);
}

static int mq_arrived(void *ctx, char *topic, int len, MQTTClient_message *m)
{
  (void)ctx;
  (void)len;
  MQTTClient_freeMessage(&m);
  MQTTClient_free(topic);
  return 1;
}

static void mq_delivered(void *ctx, MQTTClient_deliveryToken dt)
{
  (void)ctx;
  (void)dt;
}

/* The per-run setup the HTTP thread needs before its loop: clients, the
 * marker's base count, the users route's user, the MQTT client. */
static int setup(struct ctx *x)
{
  const struct load_opts *o = x->o;
  struct load_http *h = x->h;
  char url[URL_MAX], auth[512], *body = NULL;
  x->rng = o->seed_rng;
  if (o->scenario == LOAD_SC_SEED)
    snprintf(h->marker_device, sizeof h->marker_device, "loadgen-marker");
  else
    snprintf(h->marker_device, sizeof h->marker_device, "%smarker", o->prefix);

  /* The ranged and series routes: the first hour of the stream's
   * timestamps, or the last hour without them. */
  double start_ms = o->no_ts || o->scenario == LOAD_SC_SEED
                        ? load_wall_ms() - 3600e3
                        : (double)o->ts_base_ms + (double)o->first * (double)o->ts_step_ms;
  char a[32], b[32];
  time_t s0 = (time_t)(start_ms / 1000), s1 = s0 + 7200;
  struct tm tm;
  strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&s0, &tm));
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&s1, &tm));
  snprintf(x->range_q, sizeof x->range_q, "?start=%s&end=%s", a, b);

  x->post_headers = curl_slist_append(NULL, "Content-Type: application/json");
  if (o->token &&
      snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token) < (int)sizeof auth)
    x->post_headers = curl_slist_append(x->post_headers, auth);

  if (o->marker_ms > 0) {
    snprintf(url, sizeof url, "%s/devices/%s/data/all", o->http_url, h->marker_device);
    long st = load_http_fetch("GET", url, NULL, NULL, &body, RESP_KEEP, 10000);
    if (st != 200 && st != 404) {
      fprintf(stderr, "loadgen: GET %s: %s %ld\n", url, st ? "status" : "no answer", st);
      free(body);
      return -1;
    }
    x->marker_base = st == 200 ? load_json_count(body) : 0;
    free(body);
    body = NULL;
    if (x->marker_base < 0)
      x->marker_base = 0;
  }
  if (o->readers > 0 && o->mix[LOAD_RT_USERS] > 0) {
    char name[96];
    snprintf(name, sizeof name, "{\"name\":\"loadgen-%ld\"}", (long)getpid());
    snprintf(url, sizeof url, "%s/users", o->http_url);
    long st = load_http_fetch("POST", url, name, o->token, &body, RESP_KEEP, 10000);
    struct json_object *j = st == 201 && body ? json_tokener_parse(body) : NULL, *id;
    if (j && json_object_object_get_ex(j, "id", &id))
      x->user_id = (long)json_object_get_int64(id);
    json_object_put(j);
    free(body);
    if (x->user_id <= 0) {
      fprintf(stderr, "loadgen: POST %s: status %ld (the users route needs a user)\n", url, st);
      return -1;
    }
  }
  bool need_mqtt = o->scenario == LOAD_SC_DEVICES ? o->marker_ms > 0 : o->transport == LOAD_TR_MQTT;
  if (need_mqtt) {
    char id[64];
    snprintf(id, sizeof id, "ds-loadgen-%ld-http", (long)getpid());
    MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
    co.keepAliveInterval = 60;
    co.cleansession = 1;
    co.username = o->username;
    co.password = o->password;
    co.connectTimeout = 10;
    int rc = MQTTClient_create(&x->mq, o->mqtt_url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    /* With callbacks Paho reads PUBACKs on its own thread: without them a
     * QoS 1 publish is acknowledged only inside a later call, which then
     * blocks this thread and every request it drives. */
    if (rc == MQTTCLIENT_SUCCESS)
      rc = MQTTClient_setCallbacks(x->mq, x, mq_lost, mq_arrived, mq_delivered);
    if (rc == MQTTCLIENT_SUCCESS)
      rc = MQTTClient_connect(x->mq, &co);
    if (rc != MQTTCLIENT_SUCCESS) {
      fprintf(stderr, "loadgen: connect to %s failed: rc %d\n", o->mqtt_url, rc);
      atomic_fetch_add(&x->run->errors[LOAD_ERR_CONN], 1);
      return -1;
    }
  }

  size_t nseed = o->scenario == LOAD_SC_SEED ? (size_t)o->users : 0;
  x->ncl = (size_t)o->readers + nseed + (o->marker_ms > 0 ? 1 : 0);
  x->cl = calloc(x->ncl ? x->ncl : 1, sizeof *x->cl);
  x->m = curl_multi_init();
  if (!x->cl || !x->m)
    return -1;
  double now = load_mono_ms();
  for (size_t i = 0; i < x->ncl; i++) {
    struct client *c = &x->cl[i];
    c->kind = i < nseed ? K_SEED : i < nseed + (size_t)o->readers ? K_READER : K_MARKER;
    c->e = curl_easy_init();
    if (!c->e)
      return -1;
    curl_easy_setopt(c->e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->e, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c->e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c->e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->e, CURLOPT_PRIVATE, (char *)c);
    /* Seed users start together, as Locust's do; readers after the first
     * second (the devices exist by then); the marker at once. */
    c->next_at = c->kind == K_READER ? now + 1000 : now;
  }
  return 0;
}

int load_http_start(struct load_run *run, struct load_http *h)
{
  struct ctx *x = calloc(1, sizeof *x);
  if (!x)
    return -1;
  h->run = run;
  x->h = h;
  x->run = run;
  x->o = run->o;
  for (int i = 0; i < LOAD_RT_N; i++)
    if (load_lat_init(&h->route_lat[i], 200000) != 0)
      return -1;
  if (load_lat_init(&h->e2e, 100000) != 0)
    return -1;
  if (setup(x) != 0 || pthread_create(&h->thread, NULL, http_main, x) != 0) {
    h->setup_failed = 1;
    /* What setup made is freed by the caller's exit; the run does not start. */
    return -1;
  }
  h->started = true;
  h->ctx = x;
  return 0;
}

void load_http_join(struct load_http *h)
{
  if (!h->started)
    return;
  pthread_join(h->thread, NULL);
  h->started = false;
  struct ctx *x = h->ctx;
  for (size_t i = 0; i < x->ncl; i++) {
    if (x->cl[i].e) {
      curl_multi_remove_handle(x->m, x->cl[i].e);
      curl_easy_cleanup(x->cl[i].e);
    }
  }
  curl_multi_cleanup(x->m);
  curl_slist_free_all(x->post_headers);
  if (x->mq) {
    if (MQTTClient_isConnected(x->mq))
      MQTTClient_disconnect(x->mq, 1000);
    MQTTClient_destroy(&x->mq);
  }
  free(x->cl);
  free(x);
  h->ctx = NULL;
}

void load_http_cleanup(struct load_http *h)
{
  for (int i = 0; i < LOAD_RT_N; i++)
    load_lat_cleanup(&h->route_lat[i]);
  load_lat_cleanup(&h->e2e);
}
