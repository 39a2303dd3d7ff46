/* The HTTP server of devicestats-query: libmicrohttpd glue (thread pool,
 * limits, request bodies, responses), the per-thread PostgreSQL connection,
 * bearer-token checks, the shared sample-memory budget and metrics. */
#include "query_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ds/db.h"
#include "ds/log.h"
#include "ds/mqtt.h"
#include "ds/signal.h"
#include "ds/chunk_cache.h"
#include "ds/store.h"
#include "ds/time.h"

#define RESP_MAX (64u * 1024 * 1024)
#define PREPARED_MAX 32
#define DB_RETRY_MS 500

const int64_t q_lat_bounds_us[Q_LAT_BUCKETS] = {1000,   2500,   5000,   10000,   25000,   50000,
                                                100000, 250000, 500000, 1000000, 2500000, 10000000};
const int q_status_codes[Q_STATUS_N] = {200, 201, 202, 400, 401, 404, 405,
                                        413, 414, 431, 500, 501, 503};

/* One per server thread, created on its first request. */
struct q_thread {
  struct q_server *srv;
  PGconn *db;
  int64_t last_fail_ms;
  const char *prepared[PREPARED_MAX]; /* the query's own statements on db */
  size_t n_prepared;
  struct ds_store_stmts store; /* the sample store's statements on db */
  int64_t health_ok_ms;        /* when this connection last answered the health probe */
};

struct q_server {
  const struct q_cfg *cfg;
  struct ds_mqtt *mqtt;
  struct MHD_Daemon *daemon;
  MHD_socket listen_fd;
  unsigned port;
  pthread_key_t thread_key;
  atomic_int active; /* requests between their first callback and completion */
  atomic_bool stopping;
  atomic_bool db_down; /* for logging state changes once */
  atomic_bool mqtt_up;
  pthread_mutex_t log_mu; /* libmicrohttpd message throttle */
  int64_t log_next_ms;    /* when the next message may be written */
  unsigned long long log_suppressed;
  char log_last[512]; /* the latest suppressed message */
  pthread_mutex_t budget_mu;
  pthread_cond_t budget_cv;
  size_t budget_used, budget_max;
  struct ds_chunk_cache *chunks; /* decoded sample chunks; NULL: disabled */
  struct q_metrics metrics;
};

/* Per HTTP request (MHD's con_cls), created when the request line has been
 * read (on_uri) or, failing that, by the first on_request call. */
struct conn_state {
  bool started;   /* on_request has seen it */
  size_t uri_len; /* raw request target, up to Q_URI_MAX + 1 */
  int64_t t0_us;
  struct ds_buf body;
  bool too_large;
  size_t discarded; /* body bytes dropped after too_large */
  int route;        /* index in q_routes, or -1 */
  int status;
};

/* ---- thread state and database ---- */

static void thread_free(void *p)
{
  struct q_thread *t = p;
  if (t == NULL)
    return;
  if (t->db != NULL) {
    PQfinish(t->db);
    atomic_fetch_sub(&t->srv->metrics.db_open, 1);
  }
  free(t);
}

static struct q_thread *thread_get(struct q_server *s)
{
  struct q_thread *t = pthread_getspecific(s->thread_key);
  if (t == NULL) {
    t = calloc(1, sizeof *t);
    if (t == NULL)
      return NULL;
    t->srv = s;
    t->last_fail_ms = INT64_MIN / 2;
    if (pthread_setspecific(s->thread_key, t) != 0) {
      free(t);
      return NULL;
    }
  }
  return t;
}

static void db_drop(struct q_thread *t)
{
  if (t->db == NULL)
    return;
  PQfinish(t->db);
  t->db = NULL;
  t->n_prepared = 0;
  ds_store_stmts_reset(&t->store);
  atomic_fetch_sub(&t->srv->metrics.db_open, 1);
  atomic_fetch_add(&t->srv->metrics.db_lost, 1);
}

static void db_state(struct q_server *s, bool down, const char *detail)
{
  bool was = atomic_exchange(&s->db_down, down);
  if (was == down)
    return;
  if (down)
    ds_log_msg(DS_LOG_WARN, "db_unavailable", "%s", detail);
  else
    ds_log_msg(DS_LOG_INFO, "db_connected", "database is reachable");
}

PGconn *q_db(struct q_req *req)
{
  struct q_thread *t = req->thread;
  if (t == NULL) {
    q_error(req, 503, "db_unavailable", "no database connection");
    return NULL;
  }
  if (t->db != NULL && PQstatus(t->db) != CONNECTION_OK)
    db_drop(t);
  if (t->db != NULL)
    return t->db;
  int64_t now = ds_time_mono_ms();
  if (now - t->last_fail_ms < DB_RETRY_MS) {
    q_error(req, 503, "db_unavailable", "the database is unreachable (retrying)");
    return NULL;
  }
  char err[DS_ERRLEN] = "";
  PGconn *c = NULL;
  if (ds_db_connect(t->srv->cfg->database_url, "devicestats-query", &c, err) != DS_OK) {
    t->last_fail_ms = now;
    atomic_fetch_add(&t->srv->metrics.db_connect_fails, 1);
    db_state(t->srv, true, err);
    q_error(req, 503, "db_unavailable", err);
    return NULL;
  }
  /* Bound every statement, so a stuck query cannot hold a thread for ever. */
  char ms[24];
  snprintf(ms, sizeof ms, "%lld", t->srv->cfg->statement_timeout_ms);
  const char *vals[1] = {ms};
  PGresult *res = PQexecParams(c, "SELECT set_config('statement_timeout', $1, false)", 1, NULL,
                               vals, NULL, NULL, 0);
  bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
  PQclear(res);
  if (!ok) {
    ds_db_errmsg(c, NULL, err);
    PQfinish(c);
    t->last_fail_ms = now;
    q_error(req, 503, "db_unavailable", err);
    return NULL;
  }
  t->db = c;
  t->n_prepared = 0;
  ds_store_stmts_reset(&t->store);
  atomic_fetch_add(&t->srv->metrics.db_open, 1);
  atomic_fetch_add(&t->srv->metrics.db_connects, 1);
  db_state(t->srv, false, NULL);
  return c;
}

PGconn *q_db_current(const struct q_req *req)
{
  return req->thread != NULL ? req->thread->db : NULL;
}

int q_db_fail(struct q_req *req, PGconn *conn, PGresult *res)
{
  char err[DS_ERRLEN];
  ds_db_errmsg(conn, res, err);
  const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (conn == NULL || PQstatus(conn) != CONNECTION_OK ||
      (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))) {
    if (req->thread != NULL && req->thread->db == conn)
      db_drop(req->thread);
    if (req->server != NULL)
      db_state(req->server, true, err);
    return q_error(req, 503, "db_unavailable", err);
  }
  if (state != NULL && strcmp(state, "57014") == 0)
    return q_error(req, 503, "db_timeout", "the query took too long");
  ds_log_msg(DS_LOG_ERROR, "db_error", "%s", err);
  return q_error(req, 500, "db_error", err);
}

PGresult *q_db_exec(struct q_req *req, PGconn *conn, const char *name, const char *sql, int nparams,
                    const char *const *values, int result_format)
{
  struct q_thread *t = req->thread;
  bool prepared = false;
  if (t != NULL && t->db == conn) {
    for (size_t i = 0; i < t->n_prepared; i++)
      if (t->prepared[i] == name)
        prepared = true;
    if (!prepared && t->n_prepared < PREPARED_MAX) {
      PGresult *res = PQprepare(conn, name, sql, nparams, NULL);
      if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return res; /* the caller sees the error */
      PQclear(res);
      t->prepared[t->n_prepared++] = name;
      prepared = true;
    }
  }
  if (prepared)
    return PQexecPrepared(conn, name, nparams, values, NULL, NULL, result_format);
  return PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, result_format);
}

struct ds_store_stmts *q_db_stmts(struct q_req *req)
{
  return req->thread != NULL ? &req->thread->store : NULL;
}

bool q_health_fresh(struct q_req *req, int64_t max_age_ms)
{
  struct q_thread *t = req->thread;
  return t != NULL && t->db != NULL && t->health_ok_ms != 0 &&
         ds_time_mono_ms() - t->health_ok_ms < max_age_ms;
}

void q_health_mark(struct q_req *req)
{
  if (req->thread != NULL)
    req->thread->health_ok_ms = ds_time_mono_ms();
}

/* ---- memory budget ---- */

int q_budget_acquire(struct q_server *s, size_t bytes, int timeout_ms)
{
  if (s == NULL)
    return DS_OK;
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  int rc = DS_OK;
  pthread_mutex_lock(&s->budget_mu);
  atomic_fetch_add(&s->metrics.budget_waiting, 1);
  /* A request larger than the whole budget runs when it is alone. */
  while (s->budget_used > 0 && s->budget_used + bytes > s->budget_max) {
    if (pthread_cond_timedwait(&s->budget_cv, &s->budget_mu, &dl) == ETIMEDOUT) {
      rc = DS_ETIMEOUT;
      break;
    }
  }
  atomic_fetch_sub(&s->metrics.budget_waiting, 1);
  if (rc == DS_OK)
    s->budget_used += bytes;
  pthread_mutex_unlock(&s->budget_mu);
  return rc;
}

void q_budget_release(struct q_server *s, size_t bytes)
{
  if (s == NULL || bytes == 0)
    return;
  pthread_mutex_lock(&s->budget_mu);
  s->budget_used -= bytes < s->budget_used ? bytes : s->budget_used;
  pthread_cond_broadcast(&s->budget_cv);
  pthread_mutex_unlock(&s->budget_mu);
}

struct q_metrics *q_server_metrics(struct q_server *s)
{
  return s ? &s->metrics : NULL;
}

struct ds_chunk_cache *q_server_chunk_cache(struct q_server *s)
{
  return s ? s->chunks : NULL;
}

bool q_server_mqtt_up(struct q_server *s)
{
  return s != NULL && atomic_load(&s->mqtt_up);
}

unsigned q_server_port(const struct q_server *s)
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

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
  (void)kind;
  struct q_req *req = cls;
  if (req->n_query >= Q_QUERY_PARAMS_MAX) {
    req->n_query = Q_QUERY_PARAMS_MAX + 1; /* marks "too many" */
    return MHD_NO;
  }
  req->query[req->n_query].key = key;
  req->query[req->n_query].value = value;
  req->n_query++;
  return MHD_YES;
}

static void status_metrics(struct q_server *s, int route, int status, int64_t dur_us)
{
  size_t r = route >= 0 && (size_t)route < q_routes_n ? (size_t)route : q_routes_n;
  size_t si = Q_STATUS_N;
  for (size_t i = 0; i < Q_STATUS_N; i++)
    if (q_status_codes[i] == status)
      si = i;
  atomic_fetch_add(&s->metrics.requests[r][si], 1);
  size_t b = Q_LAT_BUCKETS;
  for (size_t i = 0; i < Q_LAT_BUCKETS; i++)
    if (dur_us <= q_lat_bounds_us[i]) {
      b = i;
      break;
    }
  atomic_fetch_add(&s->metrics.lat_bucket[r][b], 1);
  atomic_fetch_add(&s->metrics.lat_sum_us[r], (unsigned long long)(dur_us > 0 ? dur_us : 0));
}

static enum MHD_Result respond(struct q_server *s, struct MHD_Connection *c, struct conn_state *cs,
                               struct q_req *req, const char *allow)
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

static enum MHD_Result dispatch(struct q_server *s, struct MHD_Connection *c, const char *url,
                                const char *method, struct conn_state *cs)
{
  struct ds_buf out;
  ds_buf_init(&out, RESP_MAX);
  struct q_req req = {
      .method = method,
      .path = url,
      .body = cs->body.data,
      .body_len = cs->body.len,
      .cfg = s->cfg,
      .mqtt = s->mqtt,
      .server = s,
      .thread = thread_get(s),
      .out = &out,
      .status = 200,
      .content_type = "application/json",
  };
  char allow[64] = "";
  int rc = DS_OK;
  int r = q_route_match(q_routes, q_routes_n, method, url, &req, allow, sizeof allow);
  cs->route = r;
  if (r == -404) {
    rc = q_error(&req, 404, "not_found", "no such route");
  } else if (r == -405) {
    rc = q_error(&req, 405, "method_not_allowed", "the route does not take this method");
  } else {
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &req);
    const struct q_route *route = &q_routes[r];
    if (req.n_query > Q_QUERY_PARAMS_MAX) {
      rc = q_error(&req, 400, "bad_request", "too many query parameters");
    } else if ((route->flags & Q_ROUTE_WRITE) &&
               !auth_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
                        s->cfg->api_token)) {
      rc = q_error(&req, 401, "unauthorized",
                   s->cfg->api_token == NULL || s->cfg->api_token[0] == '\0'
                       ? "write routes are disabled: API_TOKEN is not set"
                       : "this route needs Authorization: Bearer <API_TOKEN>");
    } else if (req.thread == NULL) {
      rc = DS_ENOMEM;
    } else {
      rc = route->handler(&req);
    }
    /* A handler that failed half-way may leave a transaction open. */
    PGconn *db = req.thread != NULL ? req.thread->db : NULL;
    if (db != NULL && PQtransactionStatus(db) != PQTRANS_IDLE) {
      PGresult *res = PQexec(db, "ROLLBACK");
      PQclear(res);
    }
  }
  if (rc != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "request_failed", "%s %s: %s", method, url, ds_strerror(rc));
    ds_buf_cleanup(&out);
    ds_buf_init(&out, 4096);
    if (q_error(&req, 500, "internal", ds_strerror(rc)) != DS_OK)
      return MHD_NO;
  }
  enum MHD_Result ret = respond(s, c, cs, &req, r == -405 ? allow : NULL);
  ds_buf_cleanup(&out);
  return ret;
}

static enum MHD_Result simple_error(struct q_server *s, struct MHD_Connection *c,
                                    struct conn_state *cs, int status, const char *code,
                                    const char *detail)
{
  struct ds_buf out;
  ds_buf_init(&out, 4096);
  struct q_req req = {.out = &out, .status = status};
  if (q_error(&req, status, code, detail) != DS_OK) {
    ds_buf_cleanup(&out);
    return MHD_NO;
  }
  enum MHD_Result ret = respond(s, c, cs, &req, NULL);
  ds_buf_cleanup(&out);
  return ret;
}

static struct conn_state *conn_new(struct q_server *s)
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
    cs->uri_len = strnlen(uri, Q_URI_MAX + 1);
  return cs;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
  (void)kind;
  size_t *n = cls;
  *n += strlen(key) + 2 + (value != NULL ? strlen(value) : 0) + 2;
  return *n > Q_HEADERS_MAX ? MHD_NO : MHD_YES;
}

/* The first call for a request: our size limits, then the declared body. */
static enum MHD_Result on_first_call(struct q_server *s, struct MHD_Connection *c,
                                     struct conn_state *cs)
{
  cs->started = true;
  if (cs->uri_len > Q_URI_MAX)
    return simple_error(s, c, cs, 414, "uri_too_long",
                        "the request target (path and query) is longer than 8192 bytes");
  size_t hdr = 0;
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &hdr);
  if (hdr > Q_HEADERS_MAX)
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
  struct q_server *s = cls;
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
  struct q_server *s = cls;
  struct conn_state *cs = *con_cls;
  if (cs == NULL)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t dur = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - cs->t0_us;
  status_metrics(s, cs->route, cs->status, dur);
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_DEBUG, "request")) {
    ds_log_str(&l, "route",
               cs->route >= 0 && (size_t)cs->route < q_routes_n ? q_routes[cs->route].pattern
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

/* One event=http_server line (suppressed=N when messages were dropped). */
static void mhd_log_line(const char *msg, unsigned long long suppressed)
{
  struct ds_logline l;
  if (!ds_log_begin(&l, DS_LOG_WARN, "http_server"))
    return;
  if (suppressed > 0)
    ds_log_int(&l, "suppressed", (long long)suppressed);
  ds_log_str(&l, "msg", msg);
  ds_log_end(&l);
}

/* libmicrohttpd's own messages (malformed requests, requests past its
 * memory pool, ...) are triggered by clients: at most one line per
 * Q_MHD_LOG_PERIOD_MS; the rest are counted and reported with the next
 * line, or by mhd_log_flush when no further message comes. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
  struct q_server *s = cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  int64_t now = ds_time_mono_ms();
  unsigned long long suppressed = 0;
  bool write_it = false;
  pthread_mutex_lock(&s->log_mu);
  if (now >= s->log_next_ms) {
    write_it = true;
    suppressed = s->log_suppressed;
    s->log_suppressed = 0;
    s->log_next_ms = now + Q_MHD_LOG_PERIOD_MS;
  } else {
    s->log_suppressed++;
    memcpy(s->log_last, msg, n + 1);
  }
  pthread_mutex_unlock(&s->log_mu);
  if (write_it)
    mhd_log_line(msg, suppressed);
}

/* Reports messages suppressed in a period that has ended (or all of them
 * when force, at shutdown) with the latest of them. */
static void mhd_log_flush(struct q_server *s, int64_t now, bool force)
{
  char msg[sizeof s->log_last];
  unsigned long long suppressed = 0;
  pthread_mutex_lock(&s->log_mu);
  if (s->log_suppressed > 0 && (force || now >= s->log_next_ms)) {
    suppressed = s->log_suppressed;
    s->log_suppressed = 0;
    s->log_next_ms = now + Q_MHD_LOG_PERIOD_MS;
    memcpy(msg, s->log_last, sizeof msg);
  }
  pthread_mutex_unlock(&s->log_mu);
  if (suppressed > 0)
    mhd_log_line(msg, suppressed);
}

/* ---- lifecycle ---- */

int q_server_start(const struct q_cfg *cfg, struct ds_mqtt *mqtt, struct q_server **out,
                   char err[DS_ERRLEN])
{
  struct q_server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, DS_ERRLEN, "out of memory");
    return DS_ENOMEM;
  }
  if (q_routes_n > Q_ROUTES_MAX) {
    snprintf(err, DS_ERRLEN, "routing table larger than Q_ROUTES_MAX");
    free(s);
    return DS_ERANGE;
  }
  s->cfg = cfg;
  s->mqtt = mqtt;
  s->listen_fd = MHD_INVALID_SOCKET;
  s->budget_max = (size_t)cfg->mem_budget_mb * 1024 * 1024;
  pthread_mutex_init(&s->log_mu, NULL);
  s->log_next_ms = INT64_MIN / 2;
  pthread_mutex_init(&s->budget_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->budget_cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_key_create(&s->thread_key, thread_free) != 0) {
    snprintf(err, DS_ERRLEN, "pthread_key_create failed");
    free(s);
    return DS_ENOMEM;
  }
  if (cfg->chunk_cache_mb > 0 &&
      ds_chunk_cache_new((size_t)cfg->chunk_cache_mb * 1024 * 1024, &s->chunks) != DS_OK) {
    snprintf(err, DS_ERRLEN, "out of memory");
    q_server_free(s);
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
    q_server_free(s);
    return DS_EINVAL;
  }
  s->daemon = MHD_start_daemon(
      flags | MHD_USE_EPOLL, (uint16_t)cfg->http_port, NULL, NULL, on_request, s,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s, MHD_OPTION_SOCK_ADDR, sa,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)cfg->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)Q_MHD_POOL_BYTES, MHD_OPTION_URI_LOG_CALLBACK,
      on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE,
      1u, MHD_OPTION_END);
  if (s->daemon == NULL) {
    snprintf(err, DS_ERRLEN, "cannot listen on %.64s:%lld: %s", cfg->http_addr, cfg->http_port,
             strerror(errno));
    q_server_free(s);
    return DS_EIO;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info != NULL ? info->port : (unsigned)cfg->http_port;
  *out = s;
  return DS_OK;
}

static void log_stats(struct q_server *s)
{
  unsigned long long total = 0;
  for (size_t r = 0; r <= q_routes_n; r++)
    for (size_t i = 0; i <= Q_STATUS_N; i++)
      total += atomic_load(&s->metrics.requests[r][i]);
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

static void keep_mqtt(struct q_server *s, int64_t now, int64_t *next_try)
{
  if (s->mqtt == NULL)
    return;
  bool up = ds_mqtt_is_connected(s->mqtt);
  if (!up && now >= *next_try) {
    char err[DS_ERRLEN] = "";
    up = ds_mqtt_connect(s->mqtt, err) == DS_OK;
    *next_try = now + 2000;
    if (!up && atomic_exchange(&s->mqtt_up, false))
      ds_log_msg(DS_LOG_WARN, "mqtt_unavailable", "%s", err);
  }
  if (up && !atomic_exchange(&s->mqtt_up, true))
    ds_log_msg(DS_LOG_INFO, "mqtt_connected", "broker is reachable");
  if (!up)
    atomic_store(&s->mqtt_up, false);
}

void q_server_run(struct q_server *s)
{
  int64_t next_stats = ds_time_mono_ms() + s->cfg->stats_period_s * 1000;
  int64_t next_mqtt = 0;
  atomic_store(&s->mqtt_up, s->mqtt != NULL && ds_mqtt_is_connected(s->mqtt));
  while (!ds_signal_stop_requested()) {
    int64_t now = ds_time_mono_ms();
    keep_mqtt(s, now, &next_mqtt);
    mhd_log_flush(s, now, false);
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

void q_server_free(struct q_server *s)
{
  if (s == NULL)
    return;
  if (s->daemon != NULL) {
    MHD_stop_daemon(s->daemon);
    mhd_log_flush(s, ds_time_mono_ms(), true);
  }
  if (s->listen_fd != MHD_INVALID_SOCKET)
    close(s->listen_fd);
  pthread_key_delete(s->thread_key);
  /* After the daemon stopped: no request uses the cache any more. */
  ds_chunk_cache_free(s->chunks);
  pthread_cond_destroy(&s->budget_cv);
  pthread_mutex_destroy(&s->budget_mu);
  pthread_mutex_destroy(&s->log_mu);
  free(s);
}
