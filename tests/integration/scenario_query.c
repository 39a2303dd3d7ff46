/* Query service end to end on the real stack: every route and error
 * status, statistics compared with values computed here from the samples
 * the test published (over HTTP and over MQTT), series buckets, users'
 * totals over the union, rejected messages, a 100,000-sample device with
 * its exact median, and concurrent clients getting consistent answers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ds/mqtt.h"
#include "scenario_query_http.h"

#define T0 INT64_C(1795824000000) /* 2026-11-28T00:00:00Z in ms */
#define BIG_N 100000

static const char *token;

static double rnd(void)
{
  return (double)rand() / RAND_MAX * 1000.0 - 500.0;
}

static void basic_routes(CURL *c)
{
  struct resp r;
  /* The broker connection comes up asynchronously: wait for health. */
  int64_t end = now_ms() + 30000;
  do {
    http_get(c, "/health", &r);
    if (r.status == 200)
      break;
    resp_free(&r);
    sleep_ms(200);
  } while (now_ms() < end);
  CHECK(r.status == 200, "health %ld %s", r.status, r.body ? r.body : "");
  struct json_object *o = resp_json(&r);
  CHECK(strcmp(jstr(o, "database"), "up") == 0 && strcmp(jstr(o, "broker"), "up") == 0, "%s",
        r.body);
  json_object_put(o);
  resp_free(&r);

  http_get(c, "/openapi.json", &r);
  CHECK(r.status == 200, "openapi %ld", r.status);
  o = resp_json(&r);
  CHECK(jget(jget(o, "paths"), "/devices/{id}/data/all") != NULL, "openapi lacks a route");
  json_object_put(o);
  resp_free(&r);

  /* The page that renders the document: self-contained HTML reading it. */
  http_get(c, "/docs", &r);
  CHECK(r.status == 200, "docs %ld", r.status);
  CHECK(strncmp(r.content_type, "text/html", 9) == 0, "docs content type %s", r.content_type);
  CHECK(r.body && strstr(r.body, "<!-- devicestats-docs -->") != NULL, "docs marker missing");
  CHECK(r.body && strstr(r.body, "/openapi.json") != NULL, "docs do not read /openapi.json");
  resp_free(&r);
  http_get(c, "/openapi.json", &r);
  o = resp_json(&r);
  CHECK(jget(jget(jget(o, "paths"), "/docs"), "get") != NULL, "openapi lacks /docs");
  json_object_put(o);
  resp_free(&r);

  expect_error(c, "GET", "/nope", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/x/data/all/more", NULL, NULL, 404, "not_found");
  expect_error(c, "DELETE", "/devices", NULL, NULL, 405, "method_not_allowed");
  expect_error(c, "GET", "/users", NULL, NULL, 405, "method_not_allowed");
}

/* GET path with one extra header line; status 0 when the exchange failed. */
static void get_with_header(CURL *c, const char *path, const char *header, struct resp *r)
{
  size_t ulen = strlen(env_or_die("DS_TEST_HTTP_URL")) + strlen(path) + 1;
  char *url = malloc(ulen);
  snprintf(url, ulen, "%s%s", env_or_die("DS_TEST_HTTP_URL"), path);
  memset(r, 0, sizeof *r);
  struct curl_slist *h = header != NULL ? curl_slist_append(NULL, header) : NULL;
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(c) == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->content_type, sizeof r->content_type, "%s", ct ? ct : "");
  }
  curl_slist_free_all(h);
  free(url);
}

static char *repeat(char ch, size_t n, const char *prefix)
{
  size_t pl = strlen(prefix);
  char *s = malloc(pl + n + 1);
  memcpy(s, prefix, pl);
  memset(s + pl, ch, n);
  s[pl + n] = '\0';
  return s;
}

static void check_json_error(const struct resp *r, long status, const char *code, const char *what)
{
  CHECK(r->status == status, "%s: status %ld, want %ld", what, r->status, status);
  CHECK(strncmp(r->content_type, "application/json", 16) == 0, "%s: content type %s", what,
        r->content_type);
  struct json_object *o = r->body ? json_tokener_parse(r->body) : NULL;
  CHECK(o != NULL && strcmp(jstr(o, "error"), code) == 0 && jget(o, "detail") != NULL, "%s: %.200s",
        what, r->body ? r->body : "");
  json_object_put(o);
}

/* Lines of the query service's log containing s (the harness's logs). */
static int log_lines(const char *s)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/logs/query.log", env_or_die("DS_TEST_DIR"));
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot read %s", path);
  if (f == NULL)
    return -1;
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f) != NULL)
    n += strstr(line, s) != NULL;
  fclose(f);
  return n;
}

/* Sends raw bytes on a new connection; returns the status of the answer's
 * status line (0 when none). */
static int raw_request(const char *req)
{
  const char *u = env_or_die("DS_TEST_HTTP_URL"); /* http://127.0.0.1:PORT */
  const char *colon = strrchr(u, ':');
  int port = colon ? (int)strtol(colon + 1, NULL, 10) : 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int status = 0;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n > 12) {
      buf[n] = '\0';
      if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
        status = (int)strtol(buf + 9, NULL, 10);
    }
  }
  close(fd);
  return status;
}

/* Request size limits: past ours (8192-byte target, 16384 bytes of
 * headers) the answer is our JSON 414/431; just under them the request is
 * served.  Past libmicrohttpd's own memory limit, and for malformed
 * requests, libmicrohttpd answers itself (HTML) and logs event=http_server:
 * at most one line per 5 s, then one with suppressed=N. */
static void request_limits(CURL *c)
{
  struct resp r;
  char *path = repeat('a', 9000, "/devices?after=");
  get_with_header(c, path, NULL, &r);
  check_json_error(&r, 414, "uri_too_long", "long URI");
  resp_free(&r);
  free(path);
  path = repeat('a', 8000, "/devices?after=");
  get_with_header(c, path, NULL, &r);
  check_json_error(&r, 400, "bad_device_id", "URI under the limit");
  resp_free(&r);
  free(path);

  char *hdr = repeat('b', 20000, "X-Big: ");
  get_with_header(c, "/health", hdr, &r);
  check_json_error(&r, 431, "headers_too_large", "large header");
  resp_free(&r);
  free(hdr);
  hdr = repeat('b', 15000, "X-Big: ");
  get_with_header(c, "/health", hdr, &r);
  CHECK(r.status == 200, "header under the limit: %ld", r.status);
  resp_free(&r);
  free(hdr);

  int before = log_lines("event=http_server");
  path = repeat('a', 100000, "/devices?after=");
  for (int i = 0; i < 10; i++) {
    get_with_header(c, path, NULL, &r);
    CHECK(r.status == 414, "URI past libmicrohttpd's pool: %ld", r.status);
    resp_free(&r);
    CHECK(raw_request("GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n") == 400,
          "malformed request");
  }
  free(path);
  http_get(c, "/health", &r);
  CHECK(r.status == 200, "health after bad requests: %ld", r.status);
  resp_free(&r);
  int after = log_lines("event=http_server");
  CHECK(after - before <= 2, "http_server lines not rate-limited: %d for 20 bad requests",
        after - before);
  int64_t end = now_ms() + 10000;
  while (log_lines("event=http_server suppressed=") == 0 && now_ms() < end)
    sleep_ms(250);
  CHECK(log_lines("event=http_server suppressed=") > 0, "no suppressed=N line");
}

/* Posts n samples over HTTP as one array; returns the HTTP status. */
static long post_samples(CURL *c, const char *dev, struct ref_set *ref, int64_t ts0, int n,
                         int step_ms)
{
  char *body = malloc((size_t)n * 160 + 16);
  size_t len = 0;
  body[len++] = '[';
  for (int i = 0; i < n; i++) {
    int64_t ts = ts0 + (int64_t)i * step_ms;
    double x = (double)(ref->n % 97) * 0.5 - 20, y = rnd(), z = (double)(ref->n % 17) * 1.25;
    len += (size_t)snprintf(body + len, 160,
                            "%s{\"x\": %.17g, \"y\": %.17g, \"z\": %.17g, \"ts\": %lld}",
                            i ? "," : "", x, y, z, (long long)ts);
    ref_add(ref, ts, x, y, z);
  }
  body[len++] = ']';
  body[len] = '\0';
  char path[128];
  snprintf(path, sizeof path, "/devices/%s/data", dev);
  struct resp r;
  http(c, "POST", path, body, len, token, &r);
  CHECK(r.status == 202, "POST %s: %ld %s", path, r.status, r.body ? r.body : "");
  if (r.status == 202) {
    struct json_object *o = resp_json(&r);
    CHECK(json_object_get_int(jget(o, "accepted")) == n, "accepted: %s", r.body);
    json_object_put(o);
  }
  long st = r.status;
  resp_free(&r);
  free(body);
  return st;
}

static struct ds_mqtt *mqtt_connect(void)
{
  struct ds_mqtt_opts mo = {
      .url = env_or_die("DS_TEST_MQTT_URL"),
      .client_id = "it-scenario-query",
      .username = getenv("DS_TEST_MQTT_USERNAME"),
      .password = getenv("DS_TEST_MQTT_PASSWORD"),
      .clean_session = true,
      .keepalive_s = 30,
      .publish_only = true,
  };
  struct ds_mqtt *m = NULL;
  char err[256];
  if (ds_mqtt_new(&mo, &m, err) != 0 || ds_mqtt_connect(m, err) != 0) {
    fprintf(stderr, "mqtt: %s\n", err);
    exit(2);
  }
  return m;
}

/* Publishes n samples over MQTT, one message per sample, RFC 3339 times. */
static void mqtt_samples(struct ds_mqtt *m, const char *dev, struct ref_set *ref, int64_t ts0,
                         int n, int step_ms)
{
  char topic[128], msg[256], err[256];
  snprintf(topic, sizeof topic, "devices/%s/data", dev);
  for (int i = 0; i < n; i++) {
    int64_t ts = ts0 + (int64_t)i * step_ms;
    time_t secs = (time_t)(ts / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    double x = rnd(), y = (double)i, z = -(double)(i % 5);
    int len = snprintf(msg, sizeof msg,
                       "{\"x\": %.17g, \"y\": %.17g, \"z\": %.17g, "
                       "\"ts\": \"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"}",
                       x, y, z, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                       tm.tm_sec, (int)(ts % 1000));
    int rc = ds_mqtt_publish(m, topic, msg, (size_t)len, 1, false, 5000, err);
    CHECK(rc == 0, "publish: %s", err);
    ref_add(ref, ts, x, y, z);
  }
}

static void write_route_errors(CURL *c)
{
  const char *ok = "{\"x\": 1, \"y\": 2, \"z\": 3}";
  expect_error(c, "POST", "/devices/it-q-a/data", ok, NULL, 401, "unauthorized");
  expect_error(c, "POST", "/devices/it-q-a/data", ok, "wrong-token", 401, "unauthorized");
  expect_error(c, "POST", "/users", "{\"name\": \"x\"}", NULL, 401, "unauthorized");
  expect_error(c, "PUT", "/users/1/devices/it-q-a", NULL, "nope", 401, "unauthorized");
  expect_error(c, "POST", "/devices/it-q-a/data", "{\"x\": 1,", token, 400, "bad_json");
  expect_error(c, "POST", "/devices/it-q-a/data", "{\"x\": 1, \"y\": 2}", token, 400,
               "missing_field");
  expect_error(c, "POST", "/devices/it-q-a/data", "", token, 400, NULL);
  expect_error(c, "POST", "/devices/bad%24id/data", ok, token, 400, "bad_device_id");
  size_t big = 300 * 1024;
  char *huge = malloc(big + 1);
  memset(huge, ' ', big);
  huge[big] = '\0';
  huge[0] = '[';
  struct resp r;
  http(c, "POST", "/devices/it-q-a/data", huge, big, token, &r);
  CHECK(r.status == 413, "huge body: %ld", r.status);
  resp_free(&r);
  free(huge);
}

static void stats_checks(CURL *c, const struct ref_set *a, const struct ref_set *b)
{
  struct resp r;
  struct json_object *o;
  http_get(c, "/devices/it-q-a/data/all", &r);
  CHECK(r.status == 200, "all: %ld", r.status);
  o = resp_json(&r);
  CHECK(strcmp(jstr(o, "device_id"), "it-q-a") == 0, "device_id");
  check_stats(o, a, INT64_MIN, INT64_MAX, "a all");
  json_object_put(o);
  resp_free(&r);

  http_get(c, "/devices/it-q-b/data/all", &r);
  o = resp_json(&r);
  check_stats(o, b, INT64_MIN, INT64_MAX, "b all");
  json_object_put(o);
  resp_free(&r);

  /* Ranges: milliseconds, RFC 3339 aliases, one-sided; half-open bounds
   * land exactly on sample times. */
  char path[256];
  snprintf(path, sizeof path, "/devices/it-q-a/data?start=%lld&end=%lld", (long long)(T0 + 1000),
           (long long)(T0 + 3000));
  http_get(c, path, &r);
  CHECK(r.status == 200, "%s: %ld", path, r.status);
  o = resp_json(&r);
  check_stats(o, a, T0 + 1000, T0 + 3000, "a ms range");
  CHECK(strcmp(jstr(o, "start"), "2026-11-28T00:00:01.000Z") == 0, "start echo %s",
        jstr(o, "start"));
  json_object_put(o);
  resp_free(&r);

  http_get(c,
           "/devices/it-q-a/data?start_date=2026-11-28T00:00:02.500Z&end_date=2026-11-28T00:00:"
           "04.010Z",
           &r);
  o = resp_json(&r);
  check_stats(o, a, T0 + 2500, T0 + 4010, "a alias range");
  json_object_put(o);
  resp_free(&r);

  http_get(c, "/devices/it-q-a/data?start=2026-11-28T00:00:04Z", &r);
  o = resp_json(&r);
  check_stats(o, a, T0 + 4000, INT64_MAX, "a open end");
  struct json_object *endv = (struct json_object *)1;
  CHECK(json_object_object_get_ex(o, "end", &endv) && endv == NULL, "end should be null");
  json_object_put(o);
  resp_free(&r);

  http_get(c, "/devices/it-q-a/data?end=2026-11-28T00:00:00.990%2B00:00", &r);
  o = resp_json(&r);
  check_stats(o, a, INT64_MIN, T0 + 990, "a open start");
  json_object_put(o);
  resp_free(&r);

  expect_error(c, "GET", "/devices/it-q-a/data?start=yesterday", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/devices/it-q-a/data?start=2026-11-29&end=2026-11-28", NULL, NULL, 400,
               NULL);
  expect_error(c, "GET", "/devices/it-q-a/data?start=2026-11-28&start_date=2026-11-28", NULL, NULL,
               400, NULL);
  expect_error(c, "GET", "/devices/it-q-a/data?start=2026-11-28&end=2026-11-28", NULL, NULL, 404,
               "not_found");
  expect_error(c, "GET", "/devices/it-q-a/data?start=2030-01-01", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/no-such-device/data/all", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/no-such-device/data", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/bad%20id/data/all", NULL, NULL, 400, "bad_device_id");
}

static void series_checks(CURL *c, const struct ref_set *a)
{
  struct resp r;
  char path[256];
  snprintf(path, sizeof path, "/devices/it-q-a/series?start=%lld&end=%lld&interval=1s",
           (long long)T0 - 5000, (long long)(T0 + 8500));
  http_get(c, path, &r);
  CHECK(r.status == 200, "series: %ld %s", r.status, r.body ? r.body : "");
  struct json_object *o = resp_json(&r), *buckets = jget(o, "buckets");
  CHECK(buckets != NULL && json_object_is_type(buckets, json_type_array), "no buckets");
  size_t nb = buckets ? json_object_array_length(buckets) : 0;
  /* Expected non-empty 1 s buckets of the range. */
  size_t want_nb = 0;
  for (int64_t b = T0 - 5000; b < T0 + 8500; b += 1000) {
    int64_t hi = b + 1000 < T0 + 8500 ? b + 1000 : T0 + 8500;
    bool any = false;
    for (size_t i = 0; i < a->n && !any; i++)
      any = a->ts_ms[i] >= b && a->ts_ms[i] < hi;
    if (!any)
      continue;
    CHECK(want_nb < nb, "missing bucket at %lld", (long long)b);
    if (want_nb < nb) {
      struct json_object *bk = json_object_array_get_idx(buckets, want_nb);
      char what[64];
      snprintf(what, sizeof what, "bucket %zu", want_nb);
      /* The last bucket is cut by end: samples past end are out. */
      check_stats(bk, a, b, hi, what);
    }
    want_nb++;
  }
  CHECK(nb == want_nb, "buckets %zu want %zu", nb, want_nb);
  json_object_put(o);
  resp_free(&r);

  http_get(c, "/devices/it-q-a/series?interval=5m", &r);
  CHECK(r.status == 200, "series without bounds: %ld", r.status);
  o = resp_json(&r);
  size_t total = 0;
  buckets = jget(o, "buckets");
  for (size_t i = 0; buckets && i < json_object_array_length(buckets); i++)
    total += (size_t)json_object_get_int64(jget(json_object_array_get_idx(buckets, i), "count"));
  CHECK(total == a->n, "series total %zu want %zu", total, a->n);
  json_object_put(o);
  resp_free(&r);

  /* total=true: the range's statistics beside the buckets, as /data answers
   * them for the same range. */
  snprintf(path, sizeof path, "/devices/it-q-a/series?start=%lld&end=%lld&interval=1s&total=true",
           (long long)T0 - 5000, (long long)(T0 + 8500));
  http_get(c, path, &r);
  o = resp_json(&r);
  struct resp rd;
  snprintf(path, sizeof path, "/devices/it-q-a/data?start=%lld&end=%lld", (long long)T0 - 5000,
           (long long)(T0 + 8500));
  http_get(c, path, &rd);
  struct json_object *od = resp_json(&rd);
  CHECK(r.status == 200 && jget(o, "total") != NULL && json_object_equal(jget(o, "total"), od),
        "series total vs /data: %.300s", r.body ? r.body : "");
  check_stats(jget(o, "total"), a, T0 - 5000, T0 + 8500, "series total");
  json_object_put(o);
  json_object_put(od);
  resp_free(&r);
  resp_free(&rd);
  expect_error(c, "GET", "/devices/it-q-a/series?interval=1s&total=yes", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/devices/it-q-a/series", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/devices/it-q-a/series?interval=10x", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/devices/it-q-a/series?interval=0s", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/devices/it-q-a/series?start=1970-01-02&end=2026-01-01&interval=1ms",
               NULL, NULL, 400, "too_many_buckets");
  expect_error(c, "GET", "/devices/none-such/series?interval=1s", NULL, NULL, 404, "not_found");
  /* A known device with no samples in the range: 404, as for statistics. */
  expect_error(c, "GET", "/devices/it-q-a/series?start=1971-01-01&end=1971-01-02&interval=1h", NULL,
               NULL, 404, "not_found");
}

static void device_list(CURL *c, const struct ref_set *a)
{
  struct resp r;
  http_get(c, "/devices", &r);
  CHECK(r.status == 200, "devices %ld", r.status);
  struct json_object *o = resp_json(&r), *list = jget(o, "devices");
  bool found = false;
  for (size_t i = 0; list && i < json_object_array_length(list); i++) {
    struct json_object *d = json_object_array_get_idx(list, i);
    if (strcmp(jstr(d, "id"), "it-q-a") != 0)
      continue;
    found = true;
    CHECK(json_object_get_int64(jget(d, "count")) == (int64_t)a->n, "device count");
    CHECK(strcmp(jstr(d, "first"), "2026-11-28T00:00:00.000Z") == 0, "first %s", jstr(d, "first"));
  }
  CHECK(found, "it-q-a not listed");
  json_object_put(o);
  resp_free(&r);
}

/* GET /devices in pages of limit, following "next", must give exactly the
 * full list (same order, same rows); it-q-big (mostly compacted chunks plus
 * recent rows) has its exact count and first/last times in both. */
static void device_pages(CURL *c)
{
  struct resp r;
  http_get(c, "/devices", &r);
  CHECK(r.status == 200, "devices %ld", r.status);
  struct json_object *all = resp_json(&r), *list = jget(all, "devices");
  CHECK(jget(all, "next") == NULL, "unpaged list has next");
  resp_free(&r);
  size_t n = list ? json_object_array_length(list) : 0;
  CHECK(n >= 3, "devices listed: %zu", n);
  bool big_seen = false;
  for (size_t i = 0; i < n; i++) {
    struct json_object *d = json_object_array_get_idx(list, i);
    if (i > 0)
      CHECK(strcmp(jstr(json_object_array_get_idx(list, i - 1), "id"), jstr(d, "id")) < 0,
            "not sorted at %zu", i);
    if (strcmp(jstr(d, "id"), "it-q-big") != 0)
      continue;
    big_seen = true;
    CHECK(json_object_get_int64(jget(d, "count")) == BIG_N, "big count %s",
          json_object_to_json_string(d));
    CHECK(strcmp(jstr(d, "first"), "2026-11-28T00:00:00.000Z") == 0, "big first %s",
          jstr(d, "first"));
    CHECK(strcmp(jstr(d, "last"), "2026-11-28T00:01:39.999Z") == 0, "big last %s", jstr(d, "last"));
  }
  CHECK(big_seen, "it-q-big not listed");

  /* Pages of 2 and of 1, the last one with next: null. */
  static const int sizes[] = {2, 1};
  for (size_t s = 0; s < 2; s++) {
    char path[256];
    char after[80] = "";
    size_t got = 0, pages = 0;
    for (;;) {
      if (after[0] != '\0')
        snprintf(path, sizeof path, "/devices?limit=%d&after=%s", sizes[s], after);
      else
        snprintf(path, sizeof path, "/devices?limit=%d", sizes[s]);
      http_get(c, path, &r);
      CHECK(r.status == 200, "%s: %ld", path, r.status);
      struct json_object *o = resp_json(&r), *pl = jget(o, "devices"), *next = NULL;
      CHECK(json_object_object_get_ex(o, "next", &next), "%s: no next", path);
      size_t pn = pl ? json_object_array_length(pl) : 0;
      CHECK(pn <= (size_t)sizes[s], "%s: %zu rows", path, pn);
      for (size_t i = 0; i < pn && got < n; i++, got++) {
        const char *want = json_object_to_json_string(json_object_array_get_idx(list, got));
        const char *have = json_object_to_json_string(json_object_array_get_idx(pl, i));
        CHECK(strcmp(want, have) == 0, "%s row %zu: %s want %s", path, i, have, want);
      }
      pages++;
      bool last = next == NULL;
      if (!last) {
        CHECK(pn == (size_t)sizes[s], "%s: next with a short page", path);
        snprintf(after, sizeof after, "%s", json_object_get_string(next));
      }
      json_object_put(o);
      resp_free(&r);
      if (last || pages > n + 1)
        break;
    }
    CHECK(got == n, "pages of %d gave %zu devices, want %zu", sizes[s], got, n);
  }
  /* after alone: the rest of the list, no next. */
  const char *first = jstr(json_object_array_get_idx(list, 0), "id");
  char path[256];
  snprintf(path, sizeof path, "/devices?after=%s", first);
  http_get(c, path, &r);
  struct json_object *o = resp_json(&r), *next = (struct json_object *)1;
  CHECK(json_object_array_length(jget(o, "devices")) == n - 1, "after alone");
  CHECK(json_object_object_get_ex(o, "next", &next) && next == NULL, "after alone: next");
  json_object_put(o);
  resp_free(&r);
  http_get(c, "/devices?after=zzzz&limit=5", &r);
  o = resp_json(&r);
  CHECK(json_object_array_length(jget(o, "devices")) == 0, "after the last device");
  json_object_put(o);
  resp_free(&r);
  json_object_put(all);

  expect_error(c, "GET", "/devices?limit=0", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/devices?limit=10001", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/devices?limit=abc", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/devices?after=bad%24id", NULL, NULL, 400, "bad_device_id");
  expect_error(c, "GET", "/devices?after=", NULL, NULL, 400, "bad_device_id");
}

static void users(CURL *c, const struct ref_set *a, const struct ref_set *b)
{
  struct resp r;
  const char *alice = "{\"name\": \"Alice \\u00e9\"}";
  http(c, "POST", "/users", alice, strlen(alice), token, &r);
  CHECK(r.status == 201, "create user %ld %s", r.status, r.body ? r.body : "");
  struct json_object *o = resp_json(&r);
  long uid = json_object_get_int(jget(o, "id"));
  CHECK(uid > 0 && strcmp(jstr(o, "name"), "Alice \xc3\xa9") == 0, "user %s", r.body);
  json_object_put(o);
  resp_free(&r);
  expect_error(c, "POST", "/users", "{}", token, 400, NULL);
  expect_error(c, "POST", "/users", "{\"name\": \"\"}", token, 400, NULL);
  expect_error(c, "POST", "/users", "not json", token, 400, NULL);

  char path[256];
  const char *devs[] = {"it-q-a", "it-q-b"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/users/%ld/devices/%s", uid, devs[i]);
    http(c, "PUT", path, NULL, 0, token, &r);
    CHECK(r.status == 200, "%s: %ld %s", path, r.status, r.body ? r.body : "");
    resp_free(&r);
  }
  expect_error(c, "PUT", "/users/99999999/devices/it-q-a", NULL, token, 404, "not_found");
  snprintf(path, sizeof path, "/users/%ld/devices/no-such-dev", uid);
  expect_error(c, "PUT", path, NULL, token, 404, "not_found");
  expect_error(c, "PUT", "/users/abc/devices/it-q-a", NULL, token, 400, NULL);
  expect_error(c, "GET", "/users/99999999/data", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/users/0/data", NULL, NULL, 400, NULL);

  /* The union of both devices, as the reference. */
  struct ref_set u = {0};
  for (size_t i = 0; i < a->n; i++)
    ref_add(&u, a->ts_ms[i], a->x[i], a->y[i], a->z[i]);
  for (size_t i = 0; i < b->n; i++)
    ref_add(&u, b->ts_ms[i], b->x[i], b->y[i], b->z[i]);
  for (int pass = 0; pass < 2; pass++) {
    int64_t lo = pass ? T0 + 1500 : INT64_MIN, hi = pass ? T0 + 6000 : INT64_MAX;
    if (pass)
      snprintf(path, sizeof path, "/users/%ld/data?start=%lld&end=%lld", uid, (long long)lo,
               (long long)hi);
    else
      snprintf(path, sizeof path, "/users/%ld/data", uid);
    http_get(c, path, &r);
    CHECK(r.status == 200, "%s: %ld %s", path, r.status, r.body ? r.body : "");
    o = resp_json(&r);
    CHECK(json_object_get_int64(jget(o, "user_id")) == uid, "user_id");
    check_stats(jget(o, "total"), &u, lo, hi, pass ? "user total range" : "user total");
    struct json_object *list = jget(o, "devices");
    CHECK(list && json_object_array_length(list) == 2, "user devices");
    for (size_t i = 0; list && i < json_object_array_length(list) && i < 2; i++) {
      struct json_object *d = json_object_array_get_idx(list, i);
      const struct ref_set *s = strcmp(jstr(d, "device_id"), "it-q-a") == 0 ? a : b;
      check_stats(d, s, lo, hi, "user device");
    }
    json_object_put(o);
    resp_free(&r);
  }
  ref_free(&u);
}

static void rejected(CURL *c, struct ds_mqtt *m)
{
  char err[256];
  const char bin[] = {'\xff', '\xfe', 'x', '\0', 'y'};
  CHECK(ds_mqtt_publish(m, "devices/it-q-rej/data", "this is not json", 16, 1, false, 5000, err) ==
            0,
        "%s", err);
  CHECK(ds_mqtt_publish(m, "devices/it-q-rej/data", bin, sizeof bin, 1, false, 5000, err) == 0,
        "%s", err);
  int64_t end = now_ms() + 20000;
  bool text_seen = false, bin_seen = false;
  while (now_ms() < end && !(text_seen && bin_seen)) {
    struct resp r;
    http_get(c, "/rejected?limit=50", &r);
    CHECK(r.status == 200, "rejected %ld", r.status);
    struct json_object *o = resp_json(&r), *list = jget(o, "rejected");
    for (size_t i = 0; list && i < json_object_array_length(list); i++) {
      struct json_object *e = json_object_array_get_idx(list, i);
      if (strcmp(jstr(e, "topic"), "devices/it-q-rej/data") != 0)
        continue;
      CHECK(strlen(jstr(e, "reason")) > 0, "reason empty");
      if (strcmp(jstr(e, "payload"), "this is not json") == 0)
        text_seen = strcmp(jstr(e, "payload_encoding"), "utf8") == 0;
      if (strcmp(jstr(e, "payload"), "//54AHk=") == 0)
        bin_seen = strcmp(jstr(e, "payload_encoding"), "base64") == 0 &&
                   json_object_get_int(jget(e, "payload_size")) == 5;
    }
    json_object_put(o);
    resp_free(&r);
    if (!(text_seen && bin_seen))
      sleep_ms(200);
  }
  CHECK(text_seen && bin_seen, "rejected messages not listed (text %d, binary %d)", text_seen,
        bin_seen);
  struct resp r;
  http_get(c, "/rejected?limit=1", &r);
  struct json_object *o = resp_json(&r);
  CHECK(json_object_array_length(jget(o, "rejected")) == 1, "limit=1");
  json_object_put(o);
  resp_free(&r);
  expect_error(c, "GET", "/rejected?limit=0", NULL, NULL, 400, NULL);
  expect_error(c, "GET", "/rejected?limit=abc", NULL, NULL, 400, NULL);
}

/* Big device: 100,000 samples inserted by SQL (the same formulas computed
 * here), mostly compacted into chunks, some left as recent rows. */
static double big_x(long i)
{
  return (double)((i * 7919) % 100003) / 7.0;
}
static double big_y(long i)
{
  return (double)(i % 1000) - 499.5;
}
static double big_z(long i)
{
  return (double)((i * 31) % 977) * 0.001;
}

static void big_device(CURL *c, struct ref_set *big)
{
  PGconn *db = db_connect();
  const char *name[1] = {"it-q-big"};
  long long key = db_val(db, "INSERT INTO devices (name) VALUES ($1) RETURNING id", 1, name);
  char k[32];
  snprintf(k, sizeof k, "%lld", key);
  const char *kv[1] = {k};
  db_val(db,
         "INSERT INTO samples_recent (device_id, ts, x, y, z)"
         " SELECT $1::int4, timestamptz '2026-11-28T00:00:00Z' + i * interval '1 ms',"
         "  ((i * 7919) % 100003)::float8 / 7, (i % 1000)::float8 - 499.5,"
         "  ((i * 31) % 977)::float8 * 0.001"
         " FROM generate_series(0, 99999) i",
         1, kv);
  long moved = 0;
  for (int i = 0; i < 9; i++)
    moved += (long)db_val(db, "SELECT ds_compact($1::int4, 10000)", 1, kv);
  CHECK(moved > 0, "nothing compacted");
  PQfinish(db);
  for (long i = 0; i < BIG_N; i++)
    ref_add(big, T0 + i, big_x(i), big_y(i), big_z(i));

  struct resp r;
  http_get(c, "/devices/it-q-big/data/all", &r);
  CHECK(r.status == 200, "big all %ld", r.status);
  struct json_object *o = resp_json(&r);
  check_stats(o, big, INT64_MIN, INT64_MAX, "big all");
  json_object_put(o);
  resp_free(&r);
  /* A range cutting chunks on both sides. */
  char path[256];
  snprintf(path, sizeof path, "/devices/it-q-big/data?start=%lld&end=%lld", (long long)(T0 + 12345),
           (long long)(T0 + 87654));
  http_get(c, path, &r);
  o = resp_json(&r);
  check_stats(o, big, T0 + 12345, T0 + 87654, "big range");
  json_object_put(o);
  resp_free(&r);
  snprintf(path, sizeof path, "/devices/it-q-big/series?start=%lld&end=%lld&interval=10s",
           (long long)T0, (long long)(T0 + BIG_N));
  http_get(c, path, &r);
  o = resp_json(&r);
  struct json_object *bk = jget(o, "buckets");
  CHECK(bk && json_object_array_length(bk) == 10, "big series buckets");
  for (size_t i = 0; bk && i < json_object_array_length(bk); i++)
    check_stats(json_object_array_get_idx(bk, i), big, T0 + (int64_t)i * 10000,
                T0 + (int64_t)(i + 1) * 10000, "big bucket");
  json_object_put(o);
  resp_free(&r);
}

/* ---- concurrent clients ---- */

struct worker {
  pthread_t th;
  const struct ref_set *big;
  int bad;
  int done;
};

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  CURL *c = curl_easy_init();
  for (int i = 0; i < 12; i++) {
    struct resp r;
    int64_t lo = T0 + (i * 997) % 50000, hi = lo + 30000;
    char path[256];
    if (i % 2)
      snprintf(path, sizeof path, "/devices/it-q-big/data?start=%lld&end=%lld", (long long)lo,
               (long long)hi);
    else
      snprintf(path, sizeof path, "/devices/it-q-big/data/all");
    http_get(c, path, &r);
    int before = it_failures;
    if (r.status != 200) {
      w->bad++;
    } else {
      struct json_object *o = json_tokener_parse(r.body);
      check_stats(o, w->big, i % 2 ? lo : INT64_MIN, i % 2 ? hi : INT64_MAX, "concurrent");
      json_object_put(o);
    }
    if (it_failures != before)
      w->bad++;
    w->done++;
    resp_free(&r);
  }
  curl_easy_cleanup(c);
  return NULL;
}

static void concurrent(const struct ref_set *big)
{
  enum { N = 6 };
  struct worker w[N];
  memset(w, 0, sizeof w);
  for (int i = 0; i < N; i++) {
    w[i].big = big;
    pthread_create(&w[i].th, NULL, worker_main, &w[i]);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(w[i].th, NULL);
    CHECK(w[i].bad == 0 && w[i].done == 12, "worker %d: %d bad of %d", i, w[i].bad, w[i].done);
  }
}

static void metrics(CURL *c)
{
  struct resp r;
  http_get(c, "/metrics", &r);
  CHECK(r.status == 200 && strncmp(r.content_type, "text/plain", 10) == 0, "metrics %ld %s",
        r.status, r.content_type);
  CHECK(r.body && strstr(r.body, "devicestats_query_requests_total{method=\"GET\",route=\"/devices/"
                                 "{id}/data/all\",status=\"200\"}") != NULL,
        "requests by route missing");
  CHECK(r.body && strstr(r.body, "devicestats_query_request_duration_seconds_bucket") != NULL,
        "histogram missing");
  CHECK(r.body && strstr(r.body, "devicestats_rejected_messages{reason=") != NULL,
        "rejected counts missing");
  CHECK(r.body && strstr(r.body, "devicestats_query_db_connections ") != NULL, "pool missing");
  resp_free(&r);
}

int main(void)
{
  token = env_or_die("DS_TEST_API_TOKEN");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  srand(4242);
  CURL *c = curl_easy_init();
  struct ref_set a = {0}, b = {0}, big = {0};

  basic_routes(c);
  request_limits(c);
  write_route_errors(c);

  /* Device a: 500 samples over HTTP (5 arrays of 100), 10 ms apart, then
   * 200 over MQTT; device b: 300 over MQTT. */
  for (int k = 0; k < 5; k++)
    post_samples(c, "it-q-a", &a, T0 + k * 1000, 100, 10);
  struct ds_mqtt *m = mqtt_connect();
  mqtt_samples(m, "it-q-a", &a, T0 + 5000, 200, 17);
  mqtt_samples(m, "it-q-b", &b, T0 + 500, 300, 20);
  CHECK(wait_count(c, "/devices/it-q-a/data/all", (int64_t)a.n, 30000), "a not stored");
  CHECK(wait_count(c, "/devices/it-q-b/data/all", (int64_t)b.n, 30000), "b not stored");

  stats_checks(c, &a, &b);
  series_checks(c, &a);
  device_list(c, &a);
  users(c, &a, &b);
  rejected(c, m);
  big_device(c, &big);
  device_pages(c);
  concurrent(&big);
  metrics(c);

  ds_mqtt_free(m, 1000);
  ref_free(&a);
  ref_free(&b);
  ref_free(&big);
  curl_easy_cleanup(c);
  curl_global_cleanup();
  if (it_failures) {
    fprintf(stderr, "scenario_query: %d failures\n", it_failures);
    return 1;
  }
  fprintf(stderr, "scenario_query: all checks passed\n");
  return 0;
}
