/* Statistics larger than the query service's memory budget (issue 13):
 * a device with 300,000 samples (half compacted into chunks, half recent
 * rows) is asked for on the stack's instance (32 MiB budget: one read into
 * memory) and on one with QUERY_MEM_BUDGET_MB=1 (43,690 samples: read in
 * passes through ds/select.h).  Both answers must equal statistics
 * computed here from the same values, for all time, a range cutting
 * through chunks and a user's devices; the small instance's metrics must
 * show the passes; a series needing more than its budget is a clear 413.
 *
 * Also the exact limit: with QUERY_MAX_SAMPLES=10, a range holding 5
 * samples of a 200-sample chunk is answered (the chunk is not counted
 * whole), and one holding 11 is refused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scenario_query_http.h"

#define T0 INT64_C(1795824000000) /* 2026-11-28T00:00:00Z in ms */
#define N_BIG 300000
#define CHUNK 10000

static const char *token;

/* Sample i's values: exact in binary, so every sum is exact in any order;
 * x with many repeats, y spread over a narrow band, z over a wide one. */
static double vx(long i)
{
  return (double)((i * 7919) % 1009);
}
static double vy(long i)
{
  return 20.0 + (double)((i * 104729) % 65537) / 1048576.0;
}
static double vz(long i)
{
  return (double)((i * 48271) % 2147483) * 64.0 - 6.0e7;
}

/* The big device's samples, by SQL with the same formulas, then the older
 * half compacted into chunks of CHUNK. */
static void seed_big(PGconn *db, struct ref_set *ref, long uid)
{
  char u[24];
  snprintf(u, sizeof u, "%ld", uid);
  const char *uv[1] = {u};
  db_val(db, "INSERT INTO devices (name, user_id) VALUES ('it-p-big', $1::int4)", 1, uv);
  db_val(db, "INSERT INTO devices (name, user_id) VALUES ('it-p-small', $1::int4)", 1, uv);
  char n[24], t0[24];
  snprintf(n, sizeof n, "%d", N_BIG);
  snprintf(t0, sizeof t0, "%lld", (long long)T0);
  const char *v[2] = {n, t0};
  db_val(db,
         "INSERT INTO samples_recent (device_id, ts, x, y, z)"
         " SELECT d.id, 'epoch'::timestamptz + ($2::bigint + i) * interval '1 millisecond',"
         "  ((i * 7919) % 1009)::float8, 20.0 + ((i * 104729) % 65537)::float8 / 1048576.0,"
         "  ((i * 48271) % 2147483)::float8 * 64.0 - 6.0e7"
         " FROM devices d, generate_series(0::bigint, $1::bigint - 1) i WHERE d.name = 'it-p-big'",
         2, v);
  /* 200 samples one second apart, compacted into one chunk. */
  db_val(db,
         "INSERT INTO samples_recent (device_id, ts, x, y, z)"
         " SELECT d.id, 'epoch'::timestamptz + ($1::bigint + i * 1000) * interval '1 millisecond',"
         "  i, -i, 2 * i"
         " FROM devices d, generate_series(0, 199) i WHERE d.name = 'it-p-small'",
         1, v + 1);
  db_val(db, "SELECT ds_compact(id, 200) FROM devices WHERE name = 'it-p-small'", 0, NULL);
  for (int k = 0; k < N_BIG / 2 / CHUNK; k++)
    db_val(db, "SELECT ds_compact(id, 10000) FROM devices WHERE name = 'it-p-big'", 0, NULL);
  long long chunks = db_val(db,
                            "SELECT count(*) FROM sample_chunks c JOIN devices d ON d.id ="
                            " c.device_id WHERE d.name = 'it-p-big'",
                            0, NULL);
  CHECK(chunks >= 5, "it-p-big has %lld chunks", chunks);
  for (long i = 0; i < N_BIG; i++)
    ref_add(ref, T0 + i, vx(i), vy(i), vz(i));
}

static struct json_object *get_ok(CURL *c, const char *path)
{
  struct resp r;
  http_get(c, path, &r);
  CHECK(r.status == 200, "GET %s: %ld %s", path, r.status, r.body ? r.body : "");
  struct json_object *o = r.status == 200 ? resp_json(&r) : NULL;
  resp_free(&r);
  return o;
}

static long long metric(CURL *c, const char *name)
{
  struct resp r;
  http_get(c, "/metrics", &r);
  long long v = -1;
  size_t len = strlen(name);
  for (const char *p = r.body; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, name, len) == 0 && p[len] == ' ')
      v = strtoll(p + len + 1, NULL, 10);
  resp_free(&r);
  return v;
}

/* The same questions on the instance at DS_TEST_HTTP_URL. */
static void ask(CURL *c, const struct ref_set *ref, long uid, const char *who)
{
  char what[160], path[200];
  struct json_object *o = get_ok(c, "/devices/it-p-big/data/all");
  snprintf(what, sizeof what, "%s: all time", who);
  if (o != NULL)
    check_stats(o, ref, INT64_MIN, INT64_MAX, what);
  json_object_put(o);
  /* A range starting and ending inside chunks and among the recent rows. */
  int64_t lo = T0 + 12345, hi = T0 + N_BIG - 23456;
  snprintf(path, sizeof path, "/devices/it-p-big/data?start=%lld&end=%lld", (long long)lo,
           (long long)hi);
  o = get_ok(c, path);
  snprintf(what, sizeof what, "%s: range", who);
  if (o != NULL)
    check_stats(o, ref, lo, hi, what);
  json_object_put(o);
  /* The user's total: the big device's samples and the small one's. */
  snprintf(path, sizeof path, "/users/%ld/data", uid);
  o = get_ok(c, path);
  struct json_object *t = o != NULL ? jget(o, "total") : NULL;
  CHECK(t != NULL && json_object_get_int64(jget(t, "count")) == N_BIG + 200, "%s: user total count",
        who);
  struct json_object *devs = o != NULL ? jget(o, "devices") : NULL;
  CHECK(devs != NULL && json_object_array_length(devs) == 2, "%s: user devices", who);
  if (devs != NULL && json_object_array_length(devs) == 2) {
    snprintf(what, sizeof what, "%s: user, it-p-big", who);
    check_stats(json_object_array_get_idx(devs, 0), ref, INT64_MIN, INT64_MAX, what);
  }
  json_object_put(o);
}

/* ask() on an instance with a 1 MiB budget, its metrics, and series. */
static void in_passes(CURL *c, const struct ref_set *ref, long uid, const char *name,
                      const char *env)
{
  char url[128];
  if (!start_extra(name, env, url, sizeof url))
    return;
  setenv("DS_TEST_HTTP_URL", url, 1);
  ask(c, ref, uid, name);
  long long req = metric(c, "devicestats_query_multipass_requests_total");
  long long passes = metric(c, "devicestats_query_multipass_passes_total");
  /* all time, range, user: it-p-big and the total */
  CHECK(req == 4, "%s: multipass requests: %lld, want 4", name, req);
  CHECK(passes >= 2 * req && passes <= 7 * req, "%s: passes: %lld for %lld requests", name, passes,
        req);
  /* Buckets need every sample with its time in memory. */
  struct resp s;
  http_get(c, "/devices/it-p-big/series?interval=1m", &s);
  CHECK(s.status == 413 && s.body != NULL && strstr(s.body, "QUERY_MEM_BUDGET_MB") != NULL,
        "%s: series past the budget: %ld %s", name, s.status, s.body ? s.body : "");
  resp_free(&s);
  char path[160];
  snprintf(path, sizeof path, "/devices/it-p-big/series?interval=1s&start=%lld&end=%lld",
           (long long)T0, (long long)T0 + 20000);
  http_get(c, path, &s);
  CHECK(s.status == 200, "%s: a short series: %ld", name, s.status);
  resp_free(&s);
}

int main(void)
{
  token = env_or_die("DS_TEST_API_TOKEN");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *c = curl_easy_init();
  char main_url[256], url[128];
  snprintf(main_url, sizeof main_url, "%s", env_or_die("DS_TEST_HTTP_URL"));
  PGconn *db = db_connect();
  struct resp r;
  http(c, "POST", "/users", "{\"name\": \"it-p-owner\"}", 22, token, &r);
  CHECK(r.status == 201, "create user: %ld", r.status);
  struct json_object *u = resp_json(&r);
  long uid = u != NULL ? (long)json_object_get_int(jget(u, "id")) : 0;
  json_object_put(u);
  resp_free(&r);
  struct ref_set ref = {0};
  seed_big(db, &ref, uid);

  /* In memory: one read. */
  ask(c, &ref, uid, "32 MiB budget");

  /* In passes: 300,000 samples are 6.9 MiB, more than the working set
   * of a pass collects (QUERY_FETCH_SEL_CAP per axis); the later passes
   * read a file, or the database again when no file can be made. */
  in_passes(c, &ref, uid, "query-1mib", "QUERY_MEM_BUDGET_MB=1");
  in_passes(c, &ref, uid, "query-1mib-nofile", "QUERY_MEM_BUDGET_MB=1 TMPDIR=/nonexistent");

  /* The limit counts the samples in the range, not whole chunks. */
  if (start_extra("query-max10", "QUERY_MAX_SAMPLES=10", url, sizeof url)) {
    setenv("DS_TEST_HTTP_URL", url, 1);
    char path[160];
    snprintf(path, sizeof path, "/devices/it-p-small/data?start=%lld&end=%lld", (long long)T0,
             (long long)T0 + 5000);
    struct json_object *o = get_ok(c, path);
    CHECK(o != NULL && json_object_get_int64(jget(o, "count")) == 5, "5 of a 200-sample chunk");
    json_object_put(o);
    snprintf(path, sizeof path, "/devices/it-p-small/data?start=%lld&end=%lld", (long long)T0,
             (long long)T0 + 11000);
    expect_error(c, "GET", path, NULL, NULL, 413, "too_large");
    expect_error(c, "GET", "/devices/it-p-small/data/all", NULL, NULL, 413, "too_large");
  }
  setenv("DS_TEST_HTTP_URL", main_url, 1);
  ref_free(&ref);
  PQfinish(db);
  curl_easy_cleanup(c);
  curl_global_cleanup();
  if (it_failures) {
    fprintf(stderr, "scenario_query_passes: %d failures\n", it_failures);
    return 1;
  }
  fprintf(stderr, "scenario_query_passes: all checks passed\n");
  return 0;
}
