/* Every error status of the HTTP contract (DESIGN.md § HTTP), each as the
 * JSON error object: 400 (including start after end on every ranged route),
 * 401 (every write route), 404 (unknown device, unknown user, no samples in
 * the range), 405, 413 (body by Content-Length, chunked body, too many
 * samples in a range), 503 (database and broker unavailable).  The 413 for
 * samples and the 503s use extra query instances started with other
 * settings (a small QUERY_MAX_SAMPLES; unreachable broker and database). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scenario_query_http.h"

#define T0 INT64_C(1795824000000) /* 2026-11-28T00:00:00Z in ms */
#define N_SAMPLES 50

static const char *token;

static void seed(CURL *c)
{
  char body[N_SAMPLES * 96 + 4];
  size_t len = 0;
  body[len++] = '[';
  for (int i = 0; i < N_SAMPLES; i++)
    len += (size_t)snprintf(body + len, sizeof body - len,
                            "%s{\"x\": %d, \"y\": %d, \"z\": %d, \"ts\": %lld}", i ? "," : "", i,
                            2 * i, 3 * i, (long long)(T0 + i * 1000));
  body[len++] = ']';
  body[len] = '\0';
  struct resp r;
  int64_t end = now_ms() + 30000;
  do { /* the broker connection comes up asynchronously */
    http(c, "POST", "/devices/it-e-a/data", body, len, token, &r);
    if (r.status == 202)
      break;
    resp_free(&r);
    sleep_ms(200);
  } while (now_ms() < end);
  CHECK(r.status == 202, "seed: %ld %s", r.status, r.body ? r.body : "");
  resp_free(&r);
  CHECK(wait_count(c, "/devices/it-e-a/data/all", N_SAMPLES, 30000), "seed not stored");
}

static long create_user(CURL *c, const char *name)
{
  char body[128];
  snprintf(body, sizeof body, "{\"name\": \"%s\"}", name);
  struct resp r;
  http(c, "POST", "/users", body, strlen(body), token, &r);
  CHECK(r.status == 201, "create user: %ld", r.status);
  struct json_object *o = resp_json(&r);
  long uid = json_object_get_int(jget(o, "id"));
  json_object_put(o);
  resp_free(&r);
  return uid;
}

static void status_400(CURL *c, long uid)
{
  char path[256];
  /* start after end, on every ranged route, in every accepted form. */
  expect_error(c, "GET", "/devices/it-e-a/data?start=2026-11-29&end=2026-11-28", NULL, NULL, 400,
               "bad_request");
  expect_error(c, "GET", "/devices/it-e-a/data?start_date=1795824001000&end_date=1795824000000",
               NULL, NULL, 400, "bad_request");
  expect_error(c, "GET", "/devices/it-e-a/series?start=2026-11-29&end=2026-11-28&interval=1s", NULL,
               NULL, 400, NULL);
  snprintf(path, sizeof path, "/users/%ld/data?start=2026-11-29T00:00:00Z&end=2026-11-28", uid);
  expect_error(c, "GET", path, NULL, NULL, 400, "bad_request");
  /* Malformed inputs. */
  expect_error(c, "GET", "/devices/it-e-a/data?end=soon", NULL, NULL, 400, "bad_request");
  expect_error(c, "GET", "/devices/it-e-a/data?start=2026-13-01", NULL, NULL, 400, "bad_request");
  expect_error(c, "GET", "/devices/bad%21id/data/all", NULL, NULL, 400, "bad_device_id");
  expect_error(c, "GET", "/users/-1/data", NULL, NULL, 400, "bad_user_id");
  expect_error(c, "POST", "/devices/it-e-a/data", "[]", token, 400, NULL);
  expect_error(c, "POST", "/devices/it-e-a/data", "{\"x\": 1, \"y\": 2, \"z\": \"3\"}", token, 400,
               NULL);
  expect_error(c, "POST", "/users", "{\"name\": 5}", token, 400, NULL);
}

static void status_401(CURL *c)
{
  const char *s = "{\"x\": 1, \"y\": 2, \"z\": 3}";
  /* Every write route, without the header and with a wrong token. */
  static const char *const routes[][2] = {{"POST", "/devices/it-e-a/data"},
                                          {"POST", "/users"},
                                          {"PUT", "/users/1/devices/it-e-a"},
                                          {"POST", "/tasks/recalculate"}};
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    expect_error(c, routes[i][0], routes[i][1], s, NULL, 401, "unauthorized");
    expect_error(c, routes[i][0], routes[i][1], s, "not-the-token", 401, "unauthorized");
  }
}

static void status_404(CURL *c, long uid, long empty_uid)
{
  char path[256];
  /* Unknown device, on every device route. */
  expect_error(c, "GET", "/devices/it-e-none/data/all", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/it-e-none/data?start=2026-11-28", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/it-e-none/series?interval=1s", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/it-e-none/stats", NULL, NULL, 404, "not_found");
  /* Unknown user. */
  expect_error(c, "GET", "/users/2000000000/data", NULL, NULL, 404, "not_found");
  expect_error(c, "PUT", "/users/2000000000/devices/it-e-a", NULL, token, 404, "not_found");
  snprintf(path, sizeof path, "/users/%ld/devices/it-e-none", uid);
  expect_error(c, "PUT", path, NULL, token, 404, "not_found");
  /* No samples in the range: before, after, between samples, empty range. */
  expect_error(c, "GET", "/devices/it-e-a/data?end=2026-11-28", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/it-e-a/data?start=2026-11-29", NULL, NULL, 404, "not_found");
  snprintf(path, sizeof path, "/devices/it-e-a/data?start=%lld&end=%lld", (long long)T0 + 1,
           (long long)T0 + 1000);
  expect_error(c, "GET", path, NULL, NULL, 404, "not_found");
  snprintf(path, sizeof path, "/devices/it-e-a/data?start=%lld&end=%lld", (long long)T0,
           (long long)T0);
  expect_error(c, "GET", path, NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/devices/it-e-a/series?start=2026-11-29&interval=1h", NULL, NULL, 404,
               "not_found");
  snprintf(path, sizeof path, "/users/%ld/data?start=2026-11-29", uid);
  expect_error(c, "GET", path, NULL, NULL, 404, "not_found");
  /* A user without devices has no samples in any range. */
  snprintf(path, sizeof path, "/users/%ld/data", empty_uid);
  expect_error(c, "GET", path, NULL, NULL, 404, "not_found");
  /* Unknown routes and tasks. */
  expect_error(c, "GET", "/device", NULL, NULL, 404, "not_found");
  expect_error(c, "GET", "/tasks/it-e-no-such-task", NULL, NULL, 404, "not_found");
}

static void status_405(CURL *c)
{
  expect_error(c, "DELETE", "/devices/it-e-a/data", NULL, token, 405, "method_not_allowed");
  expect_error(c, "PUT", "/devices", NULL, token, 405, "method_not_allowed");
  expect_error(c, "POST", "/health", "{}", token, 405, "method_not_allowed");
  expect_error(c, "GET", "/tasks/recalculate", NULL, NULL, 404, "not_found");
}

/* Reads the chunked upload from a counter: n bytes of '['. */
struct chunked {
  size_t left;
};

static size_t read_chunked(char *buf, size_t sz, size_t n, void *ud)
{
  struct chunked *ck = ud;
  size_t k = sz * n < ck->left ? sz * n : ck->left;
  memset(buf, ' ', k);
  ck->left -= k;
  return k;
}

static void status_413(CURL *c)
{
  /* Declared by Content-Length past QUERY_BODY_MAX (256 KiB). */
  size_t big = 300 * 1024;
  char *huge = malloc(big + 1);
  memset(huge, ' ', big);
  huge[big] = '\0';
  expect_error(c, "POST", "/devices/it-e-a/data", huge, token, 413, "too_large");
  expect_error(c, "POST", "/users", huge, token, 413, "too_large");
  free(huge);

  /* Chunked, so the size is known only as it arrives. */
  struct chunked ck = {.left = big};
  struct resp r;
  memset(&r, 0, sizeof r);
  char url[256], auth[512];
  snprintf(url, sizeof url, "%s/devices/it-e-a/data", env_or_die("DS_TEST_HTTP_URL"));
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  struct curl_slist *h = curl_slist_append(NULL, auth);
  h = curl_slist_append(h, "Transfer-Encoding: chunked");
  h = curl_slist_append(h, "Expect:");
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_chunked);
  curl_easy_setopt(c, CURLOPT_READDATA, &ck);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  CURLcode cc = curl_easy_perform(c);
  if (cc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(h);
  CHECK(r.status == 413, "chunked body: %ld (%s)", r.status, curl_easy_strerror(cc));
  struct json_object *o = r.body ? json_tokener_parse(r.body) : NULL;
  CHECK(o != NULL && strcmp(jstr(o, "error"), "too_large") == 0, "chunked: %.200s",
        r.body ? r.body : "");
  json_object_put(o);
  resp_free(&r);
}

/* A second instance reading at most 10 samples per request. */
static void status_413_samples(CURL *c, long uid)
{
  char url[128], path[128];
  if (!start_extra("query-small", "QUERY_MAX_SAMPLES=10", url, sizeof url))
    return;
  setenv("DS_TEST_HTTP_URL", url, 1);
  expect_error(c, "GET", "/devices/it-e-a/data/all", NULL, NULL, 413, "too_large");
  expect_error(c, "GET", "/devices/it-e-a/data?start=2026-11-28", NULL, NULL, 413, "too_large");
  expect_error(c, "GET", "/devices/it-e-a/series?interval=1m", NULL, NULL, 413, "too_large");
  snprintf(path, sizeof path, "/users/%ld/data", uid);
  expect_error(c, "GET", path, NULL, NULL, 413, "too_large");
  /* Under the limit it answers. */
  snprintf(path, sizeof path, "/devices/it-e-a/data?start=%lld&end=%lld", (long long)T0,
           (long long)T0 + 5000);
  struct resp r;
  http_get(c, path, &r);
  CHECK(r.status == 200, "5 samples on the small instance: %ld", r.status);
  resp_free(&r);
}

/* A third instance whose broker and database are unreachable. */
static void status_503(CURL *c)
{
  char url[128];
  if (!start_extra("query-down",
                   "MQTT_URL=tcp://127.0.0.1:9 DATABASE_URL=postgresql://devicestats@127.0.0.1:9/"
                   "devicestats?connect_timeout=2",
                   url, sizeof url))
    return;
  setenv("DS_TEST_HTTP_URL", url, 1);
  const char *s = "{\"x\": 1, \"y\": 2, \"z\": 3}";
  expect_error(c, "POST", "/devices/it-e-a/data", s, token, 503, "broker_unavailable");
  expect_error(c, "POST", "/tasks/recalculate", "{}", token, 503, NULL);
  expect_error(c, "GET", "/devices/it-e-a/data/all", NULL, NULL, 503, "db_unavailable");
  expect_error(c, "GET", "/devices", NULL, NULL, 503, "db_unavailable");
  expect_error(c, "GET", "/users/1/data", NULL, NULL, 503, "db_unavailable");
  expect_error(c, "POST", "/users", "{\"name\": \"x\"}", token, 503, "db_unavailable");
  struct resp r;
  http_get(c, "/health", &r);
  CHECK(r.status == 503, "health: %ld", r.status);
  struct json_object *o = resp_json(&r);
  CHECK(strcmp(jstr(o, "database"), "down") == 0 && strcmp(jstr(o, "broker"), "down") == 0,
        "health: %s", r.body ? r.body : "");
  json_object_put(o);
  resp_free(&r);
}

int main(void)
{
  token = env_or_die("DS_TEST_API_TOKEN");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *c = curl_easy_init();
  char main_url[256];
  snprintf(main_url, sizeof main_url, "%s", env_or_die("DS_TEST_HTTP_URL"));

  seed(c);
  long uid = create_user(c, "it-e-owner"), empty_uid = create_user(c, "it-e-nobody");
  char path[128];
  snprintf(path, sizeof path, "/users/%ld/devices/it-e-a", uid);
  struct resp r;
  http(c, "PUT", path, NULL, 0, token, &r);
  CHECK(r.status == 200, "PUT %s: %ld", path, r.status);
  resp_free(&r);

  status_400(c, uid);
  status_401(c);
  status_404(c, uid, empty_uid);
  status_405(c);
  status_413(c);
  status_413_samples(c, uid);
  status_503(c);
  setenv("DS_TEST_HTTP_URL", main_url, 1);

  curl_easy_cleanup(c);
  curl_global_cleanup();
  if (it_failures) {
    fprintf(stderr, "scenario_query_errors: %d failures\n", it_failures);
    return 1;
  }
  fprintf(stderr, "scenario_query_errors: all checks passed\n");
  return 0;
}
