/* Query service and the database going away under load: while clients
 * keep asking, PostgreSQL restarts and later stops.  Every answer must be
 * 200 or a 503 JSON error (never a dropped connection or another status);
 * /health names the database as down; once PostgreSQL is back, answers are
 * 200 again without restarting the service, and the statistics are right. */
#include <pthread.h>

#include "scenario_query_http.h"

#define N_SAMPLES 20000

static atomic_bool stop_load;

struct worker {
  pthread_t th;
  long ok, unavailable, other;
  char last_other[256];
};

static void *load_main(void *arg)
{
  struct worker *w = arg;
  CURL *c = curl_easy_init();
  int i = 0;
  while (!atomic_load(&stop_load)) {
    struct resp r;
    http_get(c, i++ % 3 ? "/devices/it-r-dev/data/all" : "/devices/it-r-dev/data?start=1970-01-01",
             &r);
    if (r.status == 200) {
      w->ok++;
    } else if (r.status == 503 && r.body && strstr(r.body, "\"error\"")) {
      w->unavailable++;
    } else {
      w->other++;
      snprintf(w->last_other, sizeof w->last_other, "%ld %.200s", r.status,
               r.body ? r.body : "(no body)");
    }
    resp_free(&r);
    sleep_ms(5);
  }
  curl_easy_cleanup(c);
  return NULL;
}

static bool wait_status(CURL *c, const char *path, long want, long timeout_ms)
{
  int64_t end = now_ms() + timeout_ms;
  long last = -1;
  while (now_ms() < end) {
    struct resp r;
    http_get(c, path, &r);
    last = r.status;
    resp_free(&r);
    if (last == want)
      return true;
    sleep_ms(100);
  }
  fprintf(stderr, "%s: status %ld, want %ld\n", path, last, want);
  return false;
}

int main(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *c = curl_easy_init();
  PGconn *db = db_connect();
  const char *name[1] = {"it-r-dev"};
  long long key = db_val(db, "INSERT INTO devices (name) VALUES ($1) RETURNING id", 1, name);
  char k[32];
  snprintf(k, sizeof k, "%lld", key);
  const char *kv[1] = {k};
  db_val(db,
         "INSERT INTO samples_recent (device_id, ts, x, y, z)"
         " SELECT $1::int4, timestamptz '2026-11-28T00:00:00Z' + i * interval '1 ms',"
         "  i::float8, -i::float8, (i % 10)::float8 FROM generate_series(1, 20000) i",
         1, kv);
  db_val(db, "SELECT ds_compact($1::int4, 15000)", 1, kv);
  PQfinish(db);
  CHECK(wait_status(c, "/devices/it-r-dev/data/all", 200, 10000), "not ready");

  enum { N = 4 };
  struct worker w[N];
  memset(w, 0, sizeof w);
  for (int i = 0; i < N; i++)
    pthread_create(&w[i].th, NULL, load_main, &w[i]);

  sleep_ms(800);
  CHECK(stackctl("restart-db") == 0, "restart-db failed");
  CHECK(wait_status(c, "/devices/it-r-dev/data/all", 200, 15000), "no recovery after restart");
  sleep_ms(500);

  /* Down for a while: 503 with the database named, then back. */
  CHECK(stackctl("stop-db") == 0, "stop-db failed");
  expect_error(c, "GET", "/devices/it-r-dev/data/all", NULL, NULL, 503, "db_unavailable");
  expect_error(c, "GET", "/devices", NULL, NULL, 503, "db_unavailable");
  struct resp r;
  http_get(c, "/health", &r);
  CHECK(r.status == 503 && r.body && strstr(r.body, "\"database\": \"down\""), "health %ld %s",
        r.status, r.body ? r.body : "");
  resp_free(&r);
  http_get(c, "/metrics", &r);
  CHECK(r.status == 200 && r.body && strstr(r.body, "devicestats_query_db_up 0"),
        "metrics while down %ld", r.status);
  resp_free(&r);
  sleep_ms(1000);
  CHECK(stackctl("start-db") == 0, "start-db failed");
  CHECK(wait_status(c, "/devices/it-r-dev/data/all", 200, 15000), "no recovery after start");
  CHECK(wait_status(c, "/health", 200, 15000), "health not back");
  sleep_ms(500);

  atomic_store(&stop_load, true);
  long ok = 0, unavailable = 0, other = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(w[i].th, NULL);
    ok += w[i].ok;
    unavailable += w[i].unavailable;
    other += w[i].other;
    if (w[i].other)
      fprintf(stderr, "worker %d: unexpected answer: %s\n", i, w[i].last_other);
  }
  fprintf(stderr, "load: %ld ok, %ld 503, %ld other\n", ok, unavailable, other);
  CHECK(other == 0, "%ld answers neither 200 nor 503", other);
  CHECK(unavailable > 0, "the outage was never seen");
  CHECK(ok > 0, "no successful answers");

  /* The answers after recovery are still right. */
  http_get(c, "/devices/it-r-dev/data/all", &r);
  struct json_object *o = resp_json(&r);
  CHECK(json_object_get_int64(jget(o, "count")) == N_SAMPLES, "count after recovery");
  CHECK(jnum(o, "x", "median") == 10000.5, "median after recovery %.17g", jnum(o, "x", "median"));
  CHECK(jnum(o, "x", "sum") == 200010000.0, "sum after recovery");
  json_object_put(o);
  resp_free(&r);

  curl_easy_cleanup(c);
  curl_global_cleanup();
  if (it_failures) {
    fprintf(stderr, "scenario_query_dbrestart: %d failures\n", (int)it_failures);
    return 1;
  }
  fprintf(stderr, "scenario_query_dbrestart: all checks passed\n");
  return 0;
}
