/* Helpers shared by the query scenarios (header-only, each scenario is its
 * own program): a libcurl HTTP client, JSON access, reference statistics
 * computed independently of the service, and small libpq helpers. */
#ifndef SCENARIO_QUERY_HTTP_H
#define SCENARIO_QUERY_HTTP_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdatomic.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int it_failures;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      it_failures++;                                                                               \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

static inline const char *env_or_die(const char *name)
{
  const char *v = getenv(name);
  if (v == NULL || v[0] == '\0') {
    fprintf(stderr, "%s is not set (run through tests/integration/run.sh)\n", name);
    exit(2);
  }
  return v;
}

struct resp {
  long status;
  char *body;
  size_t len;
  char content_type[128];
};

static inline size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
  struct resp *r = ud;
  size_t add = sz * n;
  char *b = realloc(r->body, r->len + add + 1);
  if (b == NULL)
    return 0;
  memcpy(b + r->len, p, add);
  r->len += add;
  b[r->len] = '\0';
  r->body = b;
  return add;
}

static inline void resp_free(struct resp *r)
{
  free(r->body);
  memset(r, 0, sizeof *r);
}

/* One HTTP exchange; status 0 when the connection failed. */
static inline void http(CURL *c, const char *method, const char *path, const char *body,
                        size_t body_len, const char *token, struct resp *r)
{
  char url[2048];
  snprintf(url, sizeof url, "%s%s", env_or_die("DS_TEST_HTTP_URL"), path);
  memset(r, 0, sizeof *r);
  struct curl_slist *h = NULL;
  char auth[512];
  if (token != NULL) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    h = curl_slist_append(h, auth);
  }
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (body != NULL) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  }
  if (curl_easy_perform(c) == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->content_type, sizeof r->content_type, "%s", ct ? ct : "");
  }
  curl_slist_free_all(h);
}

static inline void http_get(CURL *c, const char *path, struct resp *r)
{
  http(c, "GET", path, NULL, 0, NULL, r);
}

/* Parses the body; NULL (and a failure) when it is not JSON. */
static inline struct json_object *resp_json(const struct resp *r)
{
  struct json_object *o = r->body ? json_tokener_parse(r->body) : NULL;
  CHECK(o != NULL, "not JSON: %.200s", r->body ? r->body : "(none)");
  return o;
}

static inline struct json_object *jget(struct json_object *o, const char *key)
{
  struct json_object *v = NULL;
  if (o == NULL || !json_object_object_get_ex(o, key, &v))
    return NULL;
  return v;
}

static inline double jnum(struct json_object *o, const char *a, const char *k)
{
  struct json_object *v = jget(jget(o, a), k);
  return v ? json_object_get_double(v) : NAN;
}

static inline const char *jstr(struct json_object *o, const char *k)
{
  struct json_object *v = jget(o, k);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

/* An error answer: the status and {"error": code, "detail": ...}. */
static inline void expect_error(CURL *c, const char *method, const char *path, const char *body,
                                const char *token, long status, const char *code)
{
  struct resp r;
  http(c, method, path, body, body ? strlen(body) : 0, token, &r);
  CHECK(r.status == status, "%s %s: status %ld, want %ld (%.200s)", method, path, r.status, status,
        r.body ? r.body : "");
  struct json_object *o = r.body ? json_tokener_parse(r.body) : NULL;
  CHECK(o != NULL && jget(o, "error") != NULL && jget(o, "detail") != NULL,
        "%s %s: not an error object: %.200s", method, path, r.body ? r.body : "");
  if (code != NULL && o != NULL)
    CHECK(strcmp(jstr(o, "error"), code) == 0, "%s %s: error %s, want %s", method, path,
          jstr(o, "error"), code);
  json_object_put(o);
  resp_free(&r);
}

/* ---- reference statistics, computed here independently ---- */

struct ref_axis {
  size_t count;
  double min, max, sum, median;
};

static inline int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sorts a copy; the median of an even count is the correctly rounded mean. */
static inline struct ref_axis ref_stats(const double *v, size_t n)
{
  struct ref_axis r = {.count = n};
  if (n == 0)
    return r;
  double *s = malloc(n * sizeof *s);
  if (s == NULL)
    exit(3);
  memcpy(s, v, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_dbl);
  long double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += s[i];
  r.min = s[0];
  r.max = s[n - 1];
  r.sum = (double)sum;
  if (n % 2)
    r.median = s[n / 2];
  else {
    double a = s[n / 2 - 1], b = s[n / 2], m = a + b;
    r.median = isfinite(m) ? m / 2 : a / 2 + b / 2;
  }
  free(s);
  return r;
}

/* Compares one axis of a statistics object with the reference: count, min,
 * max and median exactly, sum to 1e-12 relative (summation order). */
static inline void check_axis(struct json_object *st, const char *axis, const struct ref_axis *want,
                              const char *what)
{
  struct json_object *a = jget(st, axis);
  CHECK(a != NULL, "%s: no axis %s", what, axis);
  if (a == NULL)
    return;
  double cnt = jnum(st, axis, "count");
  CHECK(cnt == (double)want->count, "%s %s: count %.0f want %zu", what, axis, cnt, want->count);
  double mn = jnum(st, axis, "min"), mx = jnum(st, axis, "max"), md = jnum(st, axis, "median"),
         sm = jnum(st, axis, "sum");
  CHECK(mn == want->min, "%s %s: min %.17g want %.17g", what, axis, mn, want->min);
  CHECK(mx == want->max, "%s %s: max %.17g want %.17g", what, axis, mx, want->max);
  CHECK(md == want->median, "%s %s: median %.17g want %.17g", what, axis, md, want->median);
  CHECK(fabs(sm - want->sum) <= 1e-12 * fmax(1.0, fabs(want->sum)) + 1e-9,
        "%s %s: sum %.17g want %.17g", what, axis, sm, want->sum);
}

struct ref_set {
  double *x, *y, *z;
  int64_t *ts_ms;
  size_t n, cap;
};

static inline void ref_add(struct ref_set *s, int64_t ts_ms, double x, double y, double z)
{
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->x = realloc(s->x, s->cap * sizeof *s->x);
    s->y = realloc(s->y, s->cap * sizeof *s->y);
    s->z = realloc(s->z, s->cap * sizeof *s->z);
    s->ts_ms = realloc(s->ts_ms, s->cap * sizeof *s->ts_ms);
    if (!s->x || !s->y || !s->z || !s->ts_ms)
      exit(3);
  }
  s->x[s->n] = x;
  s->y[s->n] = y;
  s->z[s->n] = z;
  s->ts_ms[s->n] = ts_ms;
  s->n++;
}

static inline void ref_free(struct ref_set *s)
{
  free(s->x);
  free(s->y);
  free(s->z);
  free(s->ts_ms);
  memset(s, 0, sizeof *s);
}

/* Checks a statistics object against the samples of s with lo <= ts < hi
 * (INT64_MIN/INT64_MAX for open bounds). */
static inline void check_stats(struct json_object *st, const struct ref_set *s, int64_t lo,
                               int64_t hi, const char *what)
{
  struct ref_set sub = {0};
  for (size_t i = 0; i < s->n; i++)
    if (s->ts_ms[i] >= lo && s->ts_ms[i] < hi)
      ref_add(&sub, s->ts_ms[i], s->x[i], s->y[i], s->z[i]);
  struct json_object *c = jget(st, "count");
  CHECK(c != NULL && json_object_get_int64(c) == (int64_t)sub.n, "%s: count %s want %zu", what,
        c ? json_object_get_string(c) : "none", sub.n);
  struct ref_axis rx = ref_stats(sub.x, sub.n), ry = ref_stats(sub.y, sub.n),
                  rz = ref_stats(sub.z, sub.n);
  check_axis(st, "x", &rx, what);
  check_axis(st, "y", &ry, what);
  check_axis(st, "z", &rz, what);
  ref_free(&sub);
}

/* ---- misc ---- */

static inline void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static inline int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls GET path until its "count" is want (or timeout_ms passes). */
static inline bool wait_count(CURL *c, const char *path, int64_t want, long timeout_ms)
{
  int64_t end = now_ms() + timeout_ms;
  int64_t last = -1;
  while (now_ms() < end) {
    struct resp r;
    http_get(c, path, &r);
    if (r.status == 200) {
      struct json_object *o = json_tokener_parse(r.body);
      last = o ? json_object_get_int64(jget(o, "count")) : -1;
      json_object_put(o);
    }
    resp_free(&r);
    if (last == want)
      return true;
    sleep_ms(200);
  }
  fprintf(stderr, "%s: count %lld, want %lld\n", path, (long long)last, (long long)want);
  return false;
}

static inline PGconn *db_connect(void)
{
  PGconn *c = PQconnectdb(env_or_die("DS_TEST_DATABASE_URL"));
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "database: %s", PQerrorMessage(c));
    exit(2);
  }
  return c;
}

/* Runs sql with text params; returns the first value of the first row as a
 * long long (0 when none); fails the test on error. */
static inline long long db_val(PGconn *c, const char *sql, int n, const char *const *vals)
{
  PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
  long long v = 0;
  ExecStatusType st = PQresultStatus(r);
  CHECK(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
  if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

/* The stack's control script (restart-db, stop-db, ...). */
static inline int stackctl(const char *action)
{
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s", env_or_die("DS_TEST_STACKCTL"), action);
  return system(cmd);
}

/* A free loopback TCP port (bound and released). */
static inline int free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* Starts another query instance with extra settings; returns its base URL
 * in url (the caller switches DS_TEST_HTTP_URL to it). */
static inline bool start_extra(const char *name, const char *env, char *url, size_t url_len)
{
  int port = free_port();
  char args[512];
  snprintf(args, sizeof args, "start-extra query %s HTTP_PORT=%d %s", name, port, env);
  if (stackctl(args) != 0) {
    CHECK(false, "stackctl %s failed", args);
    return false;
  }
  snprintf(url, url_len, "http://127.0.0.1:%d", port);
  return true;
}

/* Lets the harness accept level=error lines with this event name. */
static inline void allow_error_event(const char *event)
{
  const char *f = getenv("DS_TEST_ALLOW_ERRORS");
  if (f == NULL)
    return;
  FILE *fp = fopen(f, "a");
  if (fp != NULL) {
    fprintf(fp, "%s\n", event);
    fclose(fp);
  }
}

#endif
