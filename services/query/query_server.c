/* The HTTP server of devicestats-query: libmicrohttpd glue (thread pool,
 * limits, request bodies, bearer-token checks, dispatch, responses) and the
 * lifecycle (start, run loop, shutdown).  The parts it owns live in their
 * own units: query_db.c, query_budget.c, query_metrics.c, query_log.c,
 * query_mqtt.c. */
#include "query_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ds/chunk_cache.h"
#include "ds/log.h"
#include "ds/signal.h"
#include "ds/time.h"
#include "query_budget.h"
#include "query_db.h"
#include "query_http.h"
#include "query_routes.h"
#include "query_log.h"
#include "query_metrics.h"
#include "query_mqtt.h"

#define RESP_MAX (64u * 1024 * 1024)

struct query_server {
  const struct query_cfg *cfg;
  struct ds_mqtt *mqtt; /* borrowed; NULL: no broker */
  struct MHD_Daemon *daemon;
  MHD_socket listen_fd;
  unsigned port;
  atomic_int active; /* requests between their first callback and completion */
  atomic_bool stopping;
  /* What init made, for free (a partly started server is freed too). */
  bool db_ok, budget_ok, log_ok;
  struct query_db db;
  struct query_budget budget;
  struct query_log log;
  struct query_mqtt keeper;
  struct ds_chunk_cache *chunks; /* decoded sample chunks; NULL: disabled */
  struct query_metrics metrics;
};

struct query_metrics *query_server_metrics(struct query_server *s)
{
  return s != NULL ? &s->metrics : NULL;
}

struct query_budget *query_server_budget(struct query_server *s)
{
  return s != NULL ? &s->budget : NULL;
}

struct ds_chunk_cache *query_server_chunk_cache(struct query_server *s)
{
  return s != NULL ? s->chunks : NULL;
}

bool query_server_mqtt_up(struct query_server *s)
{
  return s != NULL && query_mqtt_up(&s->keeper);
}

/* Per HTTP request (MHD's con_cls), created when the request line has been
 * read (on_uri) or, failing that, by the first on_request call. */
struct conn_state {
  bool started;   /* on_request has seen it */
  size_t uri_len; /* raw request target, up to QUERY_SERVER_URI_MAX + 1 */
  int64_t t0_us;
  struct ds_buf body;
  bool too_large;
  size_t discarded; /* body bytes dropped after too_large */
  int route;        /* index in query_routes, or -1 */
  int status;
};

unsigned query_server_port(const struct query_server *s)
{
  return s->port;
}

/* ---- requests ---- */

/* Constant-time check of "Bearer <token>" (time depends only on lengths). */
static bool auth_ok(const char *header, const char *token)
{
  if (token == NULL || token[0] == '\0' || header == NULL)
    return false;
  static const char prefix[] = "Bearer ";
  if (strncmp(header, prefix, sizeof prefix - 1) != 0)
    return false;
  const char *given = header + sizeof prefix - 1;
  size_t gl = strlen(given), tl = strlen(token);
  unsigned char diff = gl != tl;
  for (size_t i = 0; i < tl; i++)
    diff |= (unsigned char)token[i] ^ (unsigned char)(i < gl ? given[i] : 0);
  return diff == 0;
}

/* A read route's token: API_READ_TOKEN, or the write token. */
static bool read_auth_ok(struct MHD_Connection *c, const struct query_cfg *cfg)
{
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  return auth_ok(h, cfg->api_read_token) || auth_ok(h, cfg->api_token);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
  (void)kind;
  struct query_http_req *req = cls;
  if (req->n_query >= QUERY_HTTP_QUERY_PARAMS_MAX) {
    req->n_query = QUERY_HTTP_QUERY_PARAMS_MAX + 1; /* marks "too many" */
    return MHD_NO;
  }
  req->query[req->n_query].key = key;
  req->query[req->n_query].value = value;
  req->n_query++;
  return MHD_YES;
}

static enum MHD_Result respond(struct query_server *s, struct MHD_Connection *c,
                               struct conn_state *cs, struct query_http_req *req, const char *allow)
{
  size_t len = req->out->len;
  char *data = ds_buf_take(req->out);
  struct MHD_Response *r = MHD_create_response_from_buffer(len, data != NULL ? data : (void *)"",
                                                           data != NULL ? MHD_RESPMEM_MUST_FREE
                                                                        : MHD_RESPMEM_PERSISTENT);
  if (r == NULL) {
    free(data);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type",
                          req->content_type != NULL ? req->content_type : "application/json");
  for (size_t i = 0; i < req->n_headers_out; i++)
    MHD_add_response_header(r, req->headers_out[i].key, req->headers_out[i].value);
  if (query_http_header_out(req, "Cache-Control") == NULL)
    MHD_add_response_header(r, "Cache-Control", "no-store");
  if (allow != NULL && allow[0] != '\0')
    MHD_add_response_header(r, "Allow", allow);
  if (req->status == 401)
    MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
  if (atomic_load(&s->stopping))
    MHD_add_response_header(r, "Connection", "close");
  cs->status = req->status;
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)req->status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result dispatch(struct query_server *s, struct MHD_Connection *c, const char *url,
                                const char *method, struct conn_state *cs)
{
  struct ds_buf out;
  ds_buf_init(&out, RESP_MAX);
  struct query_http_req req = {
      .method = method,
      .path = url,
      .body = cs->body.data,
      .body_len = cs->body.len,
      .cfg = s->cfg,
      .mqtt = s->mqtt,
      .server = s,
      .thread = query_db_thread(&s->db),
      .out = &out,
      .status = 200,
      .content_type = "application/json",
  };
  char allow[64] = "";
  int rc = DS_OK;
  int r =
      query_http_route_match(query_routes, query_routes_n, method, url, &req, allow, sizeof allow);
  cs->route = r;
  if (r == -404) {
    rc = query_http_error(&req, 404, "not_found", "no such route");
  } else if (r == -405) {
    rc = query_http_error(&req, 405, "method_not_allowed", "the route does not take this method");
  } else {
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &req);
    req.accept_encoding = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    req.if_none_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    const struct query_http_route *route = &query_routes[r];
    if (req.n_query > QUERY_HTTP_QUERY_PARAMS_MAX) {
      rc = query_http_error(&req, 400, "bad_request", "too many query parameters");
    } else if ((route->flags & QUERY_HTTP_ROUTE_WRITE) &&
               !auth_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
                        s->cfg->api_token)) {
      rc = query_http_error(&req, 401, "unauthorized",
                            s->cfg->api_token == NULL || s->cfg->api_token[0] == '\0'
                                ? "write routes are disabled: API_TOKEN is not set"
                                : "this route needs Authorization: Bearer <API_TOKEN>");
    } else if ((route->flags & QUERY_HTTP_ROUTE_READ) && s->cfg->api_read_token != NULL &&
               s->cfg->api_read_token[0] != '\0' && !read_auth_ok(c, s->cfg)) {
      rc = query_http_error(&req, 401, "unauthorized",
                            "this route needs Authorization: Bearer <API_READ_TOKEN>");
    } else if (req.thread == NULL) {
      rc = DS_ENOMEM;
    } else {
      rc = route->handler(&req);
    }
    /* A handler that failed half-way may leave a transaction open. */
    query_db_thread_idle(req.thread);
  }
  if (rc != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "request_failed", "%s %s: %s", method, url, ds_strerror(rc));
    ds_buf_cleanup(&out);
    ds_buf_init(&out, 4096);
    if (query_http_error(&req, 500, "internal", ds_strerror(rc)) != DS_OK)
      return MHD_NO;
  }
  enum MHD_Result ret = respond(s, c, cs, &req, r == -405 ? allow : NULL);
  ds_buf_cleanup(&out);
  return ret;
}

static enum MHD_Result simple_error(struct query_server *s, struct MHD_Connection *c,
                                    struct conn_state *cs, int status, const char *code,
                                    const char *detail)
{
  struct ds_buf out;
  ds_buf_init(&out, 4096);
  struct query_http_req req = {.out = &out, .status = status};
  if (query_http_error(&req, status, code, detail) != DS_OK) {
    ds_buf_cleanup(&out);
    return MHD_NO;
  }
  enum MHD_Result ret = respond(s, c, cs, &req, NULL);
  ds_buf_cleanup(&out);
  return ret;
}

static struct conn_state *conn_new(struct query_server *s)
{
  struct conn_state *cs = calloc(1, sizeof *cs);
  if (cs == NULL)
    return NULL;
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
    cs->t0_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
  cs->route = -1;
  ds_buf_init(&cs->body, (size_t)s->cfg->body_max);
  atomic_fetch_add(&s->active, 1);
  return cs;
}

/* MHD's URI log callback: the raw request target, before it is split and
 * decoded, so its length is the one the client sent.  The state returned
 * becomes the request's con_cls (on_completed frees it). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
  (void)c;
  struct conn_state *cs = conn_new(cls);
  if (cs != NULL)
    cs->uri_len = strnlen(uri, QUERY_SERVER_URI_MAX + 1);
  return cs;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
  (void)kind;
  size_t *n = cls;
  *n += strlen(key) + 2 + (value != NULL ? strlen(value) : 0) + 2;
  return *n > QUERY_SERVER_HEADERS_MAX ? MHD_NO : MHD_YES;
}

/* The first call for a request: our size limits, then the declared body. */
static enum MHD_Result on_first_call(struct query_server *s, struct MHD_Connection *c,
                                     struct conn_state *cs)
{
  cs->started = true;
  if (cs->uri_len > QUERY_SERVER_URI_MAX)
    return simple_error(s, c, cs, 414, "uri_too_long",
                        "the request target (path and query) is longer than 8192 bytes");
  size_t hdr = 0;
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &hdr);
  if (hdr > QUERY_SERVER_HEADERS_MAX)
    return simple_error(s, c, cs, 431, "headers_too_large",
                        "the request headers are larger than 16384 bytes");
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  if (cl != NULL) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (errno != 0 || end == cl || n > (unsigned long long)s->cfg->body_max)
      cs->too_large = true;
  }
  if (cs->too_large)
    return simple_error(s, c, cs, 413, "too_large", "the request body is too large");
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
  (void)version;
  struct query_server *s = cls;
  struct conn_state *cs = *con_cls;
  if (cs == NULL) {
    cs = conn_new(s);
    if (cs == NULL)
      return MHD_NO;
    *con_cls = cs;
  }
  if (!cs->started)
    return on_first_call(s, c, cs);
  if (*upload_size > 0) {
    /* A chunked body can outgrow the limit only while it arrives: MHD does
     * not take an answer mid-upload, so the rest is discarded (up to a
     * bound, then the connection is closed) and 413 answered at the end. */
    if (cs->status == 0 && !cs->too_large &&
        ds_buf_append(&cs->body, upload, *upload_size) != DS_OK)
      cs->too_large = true;
    if (cs->too_large || cs->status != 0) {
      cs->discarded += *upload_size;
      if (cs->discarded > 16 * (size_t)s->cfg->body_max)
        return MHD_NO;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (cs->status != 0)
    return MHD_YES; /* answered already (a limit on the first call) */
  if (cs->too_large)
    return simple_error(s, c, cs, 413, "too_large", "the request body is too large");
  return dispatch(s, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  (void)c;
  (void)toe;
  struct query_server *s = cls;
  struct conn_state *cs = *con_cls;
  if (cs == NULL)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t dur = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - cs->t0_us;
  query_metrics_record(&s->metrics, cs->route, cs->status, dur);
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_DEBUG, "request")) {
    ds_log_str(&l, "route",
               cs->route >= 0 && (size_t)cs->route < query_routes_n
                   ? query_routes[cs->route].pattern
                   : "-");
    ds_log_int(&l, "status", cs->status);
    ds_log_dbl(&l, "dur_ms", (double)dur / 1000.0);
    ds_log_end(&l);
  }
  ds_buf_cleanup(&cs->body);
  free(cs);
  *con_cls = NULL;
  atomic_fetch_sub(&s->active, 1);
}

/* ---- lifecycle ---- */

int query_server_start(const struct query_cfg *cfg, struct ds_mqtt *mqtt, struct query_server **out,
                       char err[DS_ERRLEN])
{
  struct query_server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, DS_ERRLEN, "out of memory");
    return DS_ENOMEM;
  }
  if (query_routes_n > QUERY_METRICS_ROUTES_MAX) {
    snprintf(err, DS_ERRLEN, "routing table larger than QUERY_METRICS_ROUTES_MAX");
    free(s);
    return DS_ERANGE;
  }
  s->cfg = cfg;
  s->mqtt = mqtt;
  s->listen_fd = MHD_INVALID_SOCKET;
  query_mqtt_init(&s->keeper, mqtt, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
  s->db_ok = query_db_init(&s->db, cfg, &s->metrics) == DS_OK;
  s->budget_ok = query_budget_init(&s->budget, (size_t)cfg->mem_budget_mb * 1024 * 1024) == DS_OK;
  s->log_ok = query_log_init(&s->log) == DS_OK;
  if (!s->db_ok || !s->budget_ok || !s->log_ok) {
    snprintf(err, DS_ERRLEN, "out of memory");
    query_server_free(s);
    return DS_ENOMEM;
  }
  if (cfg->chunk_cache_mb > 0 &&
      ds_chunk_cache_new((size_t)cfg->chunk_cache_mb * 1024 * 1024, &s->chunks) != DS_OK) {
    snprintf(err, DS_ERRLEN, "out of memory");
    query_server_free(s);
    return DS_ENOMEM;
  }
  struct sockaddr_in a4 = {0};
  struct sockaddr_in6 a6 = {0};
  const struct sockaddr *sa;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (inet_pton(AF_INET, cfg->http_addr, &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)cfg->http_port);
    sa = (const struct sockaddr *)&a4;
  } else if (inet_pton(AF_INET6, cfg->http_addr, &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons((uint16_t)cfg->http_port);
    sa = (const struct sockaddr *)&a6;
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, DS_ERRLEN, "HTTP_ADDR: not an IP address: %.64s", cfg->http_addr);
    query_server_free(s);
    return DS_EINVAL;
  }
  s->daemon = MHD_start_daemon(
      flags | MHD_USE_EPOLL, (uint16_t)cfg->http_port, NULL, NULL, on_request, s,
      MHD_OPTION_EXTERNAL_LOGGER, query_log_mhd, &s->log, MHD_OPTION_SOCK_ADDR, sa,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)cfg->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)QUERY_SERVER_MHD_POOL_BYTES,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
      MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
  if (s->daemon == NULL) {
    snprintf(err, DS_ERRLEN, "cannot listen on %.64s:%lld: %s", cfg->http_addr, cfg->http_port,
             strerror(errno));
    query_server_free(s);
    return DS_EIO;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info != NULL ? info->port : (unsigned)cfg->http_port;
  /* The first attempt now (ready or not, the loop keeps trying). */
  query_mqtt_keep(&s->keeper, ds_time_mono_ms());
  *out = s;
  return DS_OK;
}

static void log_stats(struct query_server *s)
{
  unsigned long long total = query_metrics_requests_total(&s->metrics);
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_INFO, "stats")) {
    ds_log_int(&l, "requests", (long long)total);
    ds_log_int(&l, "active", atomic_load(&s->active));
    ds_log_int(&l, "db_open", atomic_load(&s->metrics.db_open));
    ds_log_int(&l, "db_connect_fails", (long long)atomic_load(&s->metrics.db_connect_fails));
    ds_log_int(&l, "published", (long long)atomic_load(&s->metrics.publish_ok));
    ds_log_int(&l, "publish_fails", (long long)atomic_load(&s->metrics.publish_fail));
    if (s->chunks != NULL) {
      struct ds_chunk_cache_stats cs;
      ds_chunk_cache_stats(s->chunks, &cs);
      ds_log_int(&l, "chunk_cache_hits", (long long)cs.hits);
      ds_log_int(&l, "chunk_cache_misses", (long long)cs.misses);
      ds_log_int(&l, "chunk_cache_bytes", (long long)cs.bytes);
    }
    ds_log_end(&l);
  }
}

void query_server_run(struct query_server *s)
{
  int64_t next_stats = ds_time_mono_ms() + s->cfg->stats_period_s * 1000;
  while (!ds_signal_stop_requested()) {
    int64_t now = ds_time_mono_ms();
    query_mqtt_keep(&s->keeper, now);
    query_log_flush(&s->log, now, false);
    if (now >= next_stats) {
      log_stats(s);
      next_stats = now + s->cfg->stats_period_s * 1000;
    }
    (void)ds_signal_sleep_ms(250);
  }
  /* Stop accepting, let in-flight requests finish, then stop. */
  atomic_store(&s->stopping, true);
  s->listen_fd = MHD_quiesce_daemon(s->daemon);
  int64_t deadline = ds_time_mono_ms() + s->cfg->shutdown_timeout_ms;
  while (atomic_load(&s->active) > 0 && ds_time_mono_ms() < deadline) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (atomic_load(&s->active) > 0)
    ds_log_msg(DS_LOG_WARN, "shutdown_timeout", "%d requests still in flight",
               atomic_load(&s->active));
  log_stats(s);
}

void query_server_free(struct query_server *s)
{
  if (s == NULL)
    return;
  if (s->daemon != NULL) {
    MHD_stop_daemon(s->daemon);
    query_log_flush(&s->log, ds_time_mono_ms(), true);
  }
  if (s->listen_fd != MHD_INVALID_SOCKET)
    close(s->listen_fd);
  /* After the daemon stopped: its threads have ended (their connections
   * closed) and no request uses the cache any more. */
  if (s->db_ok)
    query_db_cleanup(&s->db);
  ds_chunk_cache_free(s->chunks);
  if (s->budget_ok)
    query_budget_cleanup(&s->budget);
  if (s->log_ok)
    query_log_cleanup(&s->log);
  free(s);
}
