/* Aggregator scenario on the real stack: a recalculation over many devices
 * gives snapshots equal to statistics computed here; the status topic
 * carries running then done with the right counts; an incremental run skips
 * unchanged devices (backfilled samples count as new) and "full" does not;
 * a malformed command yields failed and the next command still works; a
 * repeated request_id is not run twice; queued commands run one at a time;
 * the HTTP task and snapshot routes; the admin port's /health and
 * /metrics agree with the runs table; devices are computed in batches (one
 * statement marks a batch done), and a device over AGGREGATOR_MAX_SAMPLES
 * fails alone while the rest of its batch is stored. */
#include "scenario_agg_common.h"

#include <curl/curl.h>

#define DEVICES 60
#define SAMPLES 1500

static void load(PGconn *c)
{
  PQclear(it_q(c, "INSERT INTO users (name) SELECT 'it-user-' || i FROM generate_series(1, 3) i",
               NULL));
  /* Devices 1-30 belong to users 1-3, the rest to nobody. */
  PQclear(it_q(c,
               "INSERT INTO devices (name, user_id) SELECT 'it-dev-' || i,"
               " CASE WHEN i <= 30 THEN (SELECT min(id) FROM users) + (i % 3) END"
               " FROM generate_series(1, $1::int) i",
               "60", NULL));
  /* Values with duplicates, negatives, integers and awkward decimals. */
  PQclear(it_q(c,
               "INSERT INTO samples_recent (device_id, ts, x, y, z)"
               " SELECT d.id, now() - make_interval(secs => s),"
               "  round((random() * 2000 - 1000)::numeric, 3)::float8,"
               "  floor(random() * 10), random() * 1e-3 + d.id"
               "  FROM devices d, generate_series(1, $1::int) s WHERE d.name LIKE 'it-dev-%'",
               "1500", NULL));
  /* Half of the devices already compacted, as in a running system. */
  PQclear(it_q(c,
               "SELECT ds_compact(id, 700) FROM devices WHERE name LIKE 'it-dev-%' AND id % 2 = 0",
               NULL));
}

static void check_all(PGconn *c)
{
  PGresult *r = it_q(c, "SELECT id FROM devices WHERE name LIKE 'it-dev-%' ORDER BY id", NULL);
  for (int i = 0; i < PQntuples(r); i++)
    it_check_device(c, strtoll(PQgetvalue(r, i, 0), NULL, 10));
  PQclear(r);
  r = it_q(c, "SELECT id FROM users WHERE name LIKE 'it-user-%' ORDER BY id", NULL);
  for (int i = 0; i < PQntuples(r); i++)
    it_check_user(c, strtoll(PQgetvalue(r, i, 0), NULL, 10));
  PQclear(r);
}

static void test_full_and_incremental(struct it_bus *b, PGconn *c)
{
  it_log("first recalculation over %d devices", DEVICES);
  const struct it_event *e = it_run(b, "it-1", "{\"request_id\": \"it-1\"}", 60000);
  CHECK(strcmp(e->state, "done") == 0, "it-1 %s: %s", e->state, e->error);
  CHECK(e->devices == DEVICES, "it-1 devices %lld", e->devices);
  long run_i = it_index(b, "it-1", "running"), done_i = it_index(b, "it-1", "done");
  CHECK(run_i >= 0 && run_i < done_i, "running (%ld) before done (%ld)", run_i, done_i);
  /* Half the devices were computed from uncompacted rows, half from chunks:
   * both must match the independent statistics. */
  check_all(c);

  it_log("incremental with nothing new");
  e = it_run(b, "it-2", "{\"request_id\": \"it-2\"}", 30000);
  CHECK(strcmp(e->state, "done") == 0 && e->devices == 0, "it-2 %s devices %lld", e->state,
        e->devices);

  it_log("incremental after new samples on 3 devices (one backfilled)");
  PQclear(it_q(c,
               "INSERT INTO samples_recent SELECT id, now(), 5000, -5000, 0.5 FROM devices"
               " WHERE name IN ('it-dev-1', 'it-dev-40')",
               NULL));
  PQclear(it_q(c,
               "INSERT INTO samples_recent SELECT id, '2001-01-01T00:00:00Z', -7, 7, 7 FROM devices"
               " WHERE name = 'it-dev-41'",
               NULL));
  e = it_run(b, "it-3", "{\"request_id\": \"it-3\"}", 30000);
  CHECK(strcmp(e->state, "done") == 0 && e->devices == 3, "it-3 %s devices %lld", e->state,
        e->devices);
  check_all(c);
  CHECK(it_qi(c, "SELECT count(*) FROM recalc_work WHERE request_id = 'it-3' AND kind = 'u'",
              NULL) == 1,
        "only the user of it-dev-1 recomputed");

  it_log("full recomputes every device");
  e = it_run(b, "it-4", "{\"request_id\": \"it-4\", \"full\": true}", 60000);
  CHECK(strcmp(e->state, "done") == 0 && e->devices == DEVICES, "it-4 %s devices %lld", e->state,
        e->devices);
  check_all(c);

  it_log("device and user scopes");
  e = it_run(b, "it-5", "{\"request_id\": \"it-5\", \"device_id\": \"it-dev-7\", \"full\": true}",
             30000);
  CHECK(strcmp(e->state, "done") == 0 && e->devices == 1, "it-5 %s %lld", e->state, e->devices);
  char uid[24], payload[160];
  snprintf(uid, sizeof uid, "%lld", it_qi(c, "SELECT min(id) FROM users", NULL));
  snprintf(payload, sizeof payload, "{\"user_id\": %s, \"full\": true, \"request_id\": \"it-6\"}",
           uid);
  e = it_run(b, "it-6", payload, 30000);
  CHECK(strcmp(e->state, "done") == 0 && e->devices == 10, "it-6 %s %lld", e->state, e->devices);
}

static void test_malformed_and_duplicates(struct it_bus *b, PGconn *c)
{
  it_log("malformed commands fail, the next one works");
  const struct it_event *e =
      it_run(b, "it-bad-1", "{\"request_id\": \"it-bad-1\", \"device_id\": 5}", 10000);
  CHECK(strcmp(e->state, "failed") == 0 && strstr(e->error, "device_id") != NULL, "%s: %s",
        e->state, e->error);
  e = it_run(b, "it-bad-2", "{\"request_id\": \"it-bad-2\", \"device_id\": \"no-such\"}", 10000);
  CHECK(strcmp(e->state, "failed") == 0 && strstr(e->error, "unknown device") != NULL, "%s: %s",
        e->state, e->error);
  e = it_run(b, "it-bad-3", "{\"request_id\": \"it-bad-3\", \"user_id\": 999999}", 10000);
  CHECK(strcmp(e->state, "failed") == 0 && strstr(e->error, "unknown user") != NULL, "%s: %s",
        e->state, e->error);
  e = it_run(b, "it-bad-4", "{\"request_id\": \"it-bad-4\", \"device_id\": \"a\", \"user_id\": 1}",
             10000);
  CHECK(strcmp(e->state, "failed") == 0, "both: %s", e->state);
  size_t before = b->n;
  it_publish(b, "this is not json");
  e = NULL;
  for (int i = 0; i < 100 && e == NULL; i++) {
    it_pump(b, 100);
    for (size_t j = before; j < b->n; j++)
      if (strcmp(b->ev[j].state, "failed") == 0 && strstr(b->ev[j].error, "JSON") != NULL)
        e = &b->ev[j];
  }
  CHECK(e != NULL, "no failed status for a non-JSON command");
  if (e != NULL)
    CHECK(it_qi(c, "SELECT count(*) FROM recalc_runs WHERE request_id = $1 AND state = 'failed'",
                e->rid, NULL) == 1,
          "generated request id %s recorded", e->rid);
  e = it_run(b, "it-7", "{\"request_id\": \"it-7\", \"full\": true, \"device_id\": \"it-dev-3\"}",
             30000);
  CHECK(strcmp(e->state, "done") == 0 && e->devices == 1, "after malformed: %s", e->state);

  it_log("a repeated request_id is not run again");
  long long work = it_qi(c, "SELECT count(*) FROM recalc_work WHERE request_id = 'it-7'", NULL);
  char at[64];
  PGresult *r = it_q(c,
                     "SELECT computed_at::text FROM device_snapshots s JOIN devices d"
                     " ON d.id = s.device_id WHERE d.name = 'it-dev-3'",
                     NULL);
  snprintf(at, sizeof at, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  size_t n0 = b->n;
  it_publish(b, "{\"request_id\": \"it-7\", \"full\": true, \"device_id\": \"it-dev-3\"}");
  const struct it_event *again = NULL;
  for (int i = 0; i < 50 && again == NULL; i++) {
    it_pump(b, 100);
    for (size_t j = n0; j < b->n; j++)
      if (strcmp(b->ev[j].rid, "it-7") == 0)
        again = &b->ev[j];
  }
  CHECK(again != NULL && strcmp(again->state, "done") == 0, "duplicate reports its state");
  CHECK(it_qi(c, "SELECT count(*) FROM recalc_work WHERE request_id = 'it-7'", NULL) == work,
        "no new work");
  CHECK(it_qi(c,
              "SELECT count(*) FROM device_snapshots s JOIN devices d ON d.id = s.device_id"
              " WHERE d.name = 'it-dev-3' AND computed_at::text = $1",
              at, NULL) == 1,
        "snapshot not recomputed");
}

static void test_queue(struct it_bus *b, PGconn *c)
{
  it_log("commands sent together are queued and each run once, one at a time");
  it_publish(b, "{\"request_id\": \"it-q1\", \"full\": true}");
  it_publish(b, "{\"request_id\": \"it-q2\", \"full\": true}");
  it_publish(b, "{\"request_id\": \"it-q3\"}");
  it_publish(b, "{\"request_id\": \"it-q1\", \"full\": true}");
  const char *ids[3] = {"it-q1", "it-q2", "it-q3"};
  for (int i = 0; i < 3; i++) {
    const struct it_event *e = it_wait(b, ids[i], "done", 60000);
    CHECK(e != NULL, "%s not done", ids[i]);
  }
  CHECK(it_qi(c, "SELECT count(*) FROM recalc_work WHERE request_id = 'it-q1' AND kind = 'd'",
              NULL) == DEVICES,
        "q1 once");
  CHECK(it_qi(c,
              "SELECT count(*) FROM recalc_runs a JOIN recalc_runs b ON a.request_id < b.request_id"
              " WHERE a.started_at < b.finished_at AND b.started_at < a.finished_at"
              " AND a.elapsed_ms > 0 AND b.elapsed_ms > 0",
              NULL) == 0,
        "no two runs overlapped");
  CHECK(it_qi(c, "SELECT count(*) FROM recalc_runs WHERE state IN ('queued', 'running')", NULL) ==
            0,
        "nothing left queued or running");
}

/* ---- HTTP ---- */

struct http_body {
  char data[16384];
  size_t len;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
  struct http_body *b = ud;
  size_t n = sz * nm;
  size_t room = sizeof b->data - 1 - b->len;
  memcpy(b->data + b->len, p, n < room ? n : room);
  b->len += n < room ? n : room;
  b->data[b->len] = '\0';
  return n;
}

static long http(const char *method, const char *path, const char *body, struct http_body *out)
{
  CURL *h = curl_easy_init();
  REQUIRE(h != NULL, "curl");
  char url[512], auth[256];
  /* A full URL (the aggregator's admin port) or a path of the query API. */
  bool full = strncmp(path, "http://", 7) == 0;
  snprintf(url, sizeof url, "%s%s", full ? "" : it_env("DS_TEST_HTTP_URL"), path);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", it_env("DS_TEST_API_TOKEN"));
  struct curl_slist *hd = curl_slist_append(NULL, auth);
  out->len = 0;
  out->data[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
  if (body != NULL)
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  long code = 0;
  CURLcode rc = curl_easy_perform(h);
  REQUIRE(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(hd);
  curl_easy_cleanup(h);
  return code;
}

/* The request_id of task i of a GET /tasks answer, or "". */
static const char *list_id(struct json_object *tasks, size_t i)
{
  struct json_object *rid = NULL;
  if (i >= json_object_array_length(tasks) ||
      !json_object_object_get_ex(json_object_array_get_idx(tasks, i), "request_id", &rid))
    return "";
  return json_object_get_string(rid);
}

/* GET /tasks: the latest first, each as GET /tasks/{task_id} answers it.
 * older: a task recorded (and done) before. */
static void test_task_list(const char *older)
{
  struct http_body b, one;
  long code = http("POST", "/tasks/recalculate", "{\"device_id\": \"it-dev-9\"}", &b);
  CHECK(code == 202, "second POST /tasks/recalculate: %ld %s", code, b.data);
  struct json_object *o = json_tokener_parse(b.data), *tid = NULL, *tasks = NULL;
  REQUIRE(o != NULL && json_object_object_get_ex(o, "task_id", &tid), "202 body: %s", b.data);
  char newer[160];
  snprintf(newer, sizeof newer, "%s", json_object_get_string(tid));
  json_object_put(o);
  code = http("GET", "/tasks?limit=2", NULL, &b);
  CHECK(code == 200, "GET /tasks?limit=2: %ld %s", code, b.data);
  o = json_tokener_parse(b.data);
  REQUIRE(o != NULL && json_object_object_get_ex(o, "tasks", &tasks) &&
              json_object_is_type(tasks, json_type_array),
          "GET /tasks: %s", b.data);
  CHECK(json_object_array_length(tasks) == 2, "limit=2: %s", b.data);
  CHECK(strcmp(list_id(tasks, 0), newer) == 0 && strcmp(list_id(tasks, 1), older) == 0,
        "newest first (%s then %s): %s", newer, older, b.data);
  /* The older one is done: its entry is the very object GET /tasks/{id}
   * answers. */
  char path[256];
  snprintf(path, sizeof path, "/tasks/%s", older);
  CHECK(http("GET", path, NULL, &one) == 200, "GET %s", path);
  struct json_object *single = json_tokener_parse(one.data);
  CHECK(single != NULL && json_object_equal(single, json_object_array_get_idx(tasks, 1)),
        "list entry vs %s: %s", one.data, b.data);
  json_object_put(single);
  json_object_put(o);
  code = http("GET", "/tasks", NULL, &b);
  CHECK(code == 200 && strstr(b.data, older) != NULL && strstr(b.data, newer) != NULL,
        "GET /tasks: %ld %s", code, b.data);
  CHECK(strstr(b.data, newer) < strstr(b.data, older), "GET /tasks order: %s", b.data);
  CHECK(http("GET", "/tasks?limit=0", NULL, &b) == 400, "limit=0: %s", b.data);
  CHECK(http("GET", "/tasks?limit=101", NULL, &b) == 400, "limit=101: %s", b.data);
  CHECK(http("GET", "/tasks?limit=x", NULL, &b) == 400, "limit=x: %s", b.data);
}

static void test_http(PGconn *c)
{
  const char *svcs = getenv("DS_TEST_SERVICES");
  if (svcs == NULL || strstr(svcs, "query") == NULL) {
    it_log("query service not built: HTTP part skipped");
    return;
  }
  it_log("HTTP: tasks and snapshots");
  struct http_body b;
  long code =
      http("POST", "/tasks/recalculate", "{\"device_id\": \"it-dev-9\", \"full\": true}", &b);
  CHECK(code == 202, "POST /tasks/recalculate: %ld %s", code, b.data);
  struct json_object *o = json_tokener_parse(b.data), *tid = NULL, *st = NULL;
  REQUIRE(o != NULL && json_object_object_get_ex(o, "task_id", &tid) &&
              json_object_object_get_ex(o, "status", &st),
          "202 body: %s", b.data);
  CHECK(strcmp(json_object_get_string(st), "queued") == 0, "status %s", json_object_get_string(st));
  char path[256], first[160];
  snprintf(path, sizeof path, "/tasks/%s", json_object_get_string(tid));
  snprintf(first, sizeof first, "%s", json_object_get_string(tid));
  json_object_put(o);
  bool done = false;
  for (int i = 0; i < 300 && !done; i++) {
    code = http("GET", path, NULL, &b);
    CHECK(code == 200, "GET %s: %ld", path, code);
    done = strstr(b.data, "\"done\"") != NULL;
    if (!done)
      usleep(100000);
  }
  CHECK(done && strstr(b.data, "\"devices\": 1") != NULL, "task: %s", b.data);
  test_task_list(first);
  code = http("GET", "/tasks/no-such-task", NULL, &b);
  CHECK(code == 404, "unknown task: %ld", code);
  code = http("POST", "/tasks/recalculate", "{\"full\": \"yes\"}", &b);
  CHECK(code == 400, "bad body: %ld", code);

  code = http("GET", "/devices/it-dev-9/stats", NULL, &b);
  CHECK(code == 200 && strstr(b.data, "\"computed_at\"") != NULL, "stats: %ld %s", code, b.data);
  struct http_body all;
  CHECK(http("GET", "/devices/it-dev-9/data/all", NULL, &all) == 200, "data/all");
  /* The snapshot equals the live all-time statistics, computed_at aside. */
  char *cut = strstr(b.data, ", \"computed_at\"");
  if (cut != NULL) {
    cut[0] = '}';
    cut[1] = '\0';
  }
  struct json_object *s1 = json_tokener_parse(b.data), *s2 = json_tokener_parse(all.data);
  CHECK(s1 != NULL && s2 != NULL && json_object_equal(s1, s2), "snapshot %s vs live %s", b.data,
        all.data);
  json_object_put(s1);
  json_object_put(s2);
  PQclear(it_q(c, "INSERT INTO devices (name) VALUES ('it-dev-nosnap')", NULL));
  CHECK(http("GET", "/devices/it-dev-nosnap/stats", NULL, &b) == 404, "no snapshot: 404");
  CHECK(http("GET", "/devices/it-unknown/stats", NULL, &b) == 404, "unknown device: 404");
}

/* The value of the metric line starting with name (labels included), or -1. */
static double metric(const char *body, const char *name)
{
  size_t n = strlen(name);
  for (const char *p = body; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
    if (strncmp(p, name, n) == 0 && p[n] == ' ')
      return strtod(p + n + 1, NULL);
  return -1;
}

/* The aggregator's admin port: healthy, and its counters are those of the
 * runs table (this scenario's only aggregator finished every run). */
static void test_admin(PGconn *c)
{
  it_log("admin port: /health and /metrics");
  char health[512], metrics[512];
  snprintf(health, sizeof health, "%s/health", it_env("DS_TEST_AGGREGATOR_ADMIN_URL"));
  snprintf(metrics, sizeof metrics, "%s/metrics", it_env("DS_TEST_AGGREGATOR_ADMIN_URL"));
  struct http_body *b = calloc(1, sizeof *b);
  REQUIRE(b != NULL, "oom");
  long st = http("GET", health, NULL, b);
  CHECK(st == 200 && strstr(b->data, "\"ok\"") != NULL, "aggregator /health: %ld %s", st, b->data);
  /* The queue gauges are read every 5 s: wait for them to show an empty queue. */
  double queued = -1, pending = -1;
  for (int i = 0; i < 80 && (queued != 0 || pending != 0); i++) {
    if (i > 0)
      usleep(100000);
    REQUIRE(http("GET", metrics, NULL, b) == 200, "aggregator /metrics: %s", b->data);
    queued = metric(b->data, "devicestats_aggregator_runs_queued");
    pending = metric(b->data, "devicestats_aggregator_work_items_pending");
  }
  CHECK(queued == 0 && pending == 0, "queue gauges: queued %g pending %g", queued, pending);
  /* A run is committed in the table before the aggregator counts it (and a
   * periodic pass may finish one meanwhile): compare the table and the
   * metrics read together until they agree, for up to 10 s. */
  long long done = 0, failed = 0, devs = 0;
  double m_done = -1, m_failed = -1, m_count = -1, m_devs = -1;
  for (int i = 0; i < 100; i++) {
    if (i > 0)
      usleep(100000);
    REQUIRE(http("GET", metrics, NULL, b) == 200, "aggregator /metrics: %s", b->data);
    done = it_qi(c, "SELECT count(*) FROM recalc_runs WHERE state = 'done'", NULL);
    failed = it_qi(c, "SELECT count(*) FROM recalc_runs WHERE state = 'failed'", NULL);
    devs = it_qi(c, "SELECT coalesce(sum(devices_done), 0) FROM recalc_runs WHERE state = 'done'",
                 NULL);
    m_done = metric(b->data, "devicestats_aggregator_runs_total{state=\"done\"}");
    m_failed = metric(b->data, "devicestats_aggregator_runs_total{state=\"failed\"}");
    m_count = metric(b->data, "devicestats_aggregator_run_duration_seconds_count");
    m_devs = metric(b->data, "devicestats_aggregator_devices_computed_total");
    if (m_done == (double)done && m_failed == (double)failed &&
        m_count == (double)(done + failed) && m_devs == (double)devs)
      break;
  }
  CHECK(done > 0 && m_done == (double)done && m_failed == (double)failed &&
            m_count == (double)(done + failed),
        "runs: table done %lld failed %lld, metrics done %g failed %g count %g", done, failed,
        m_done, m_failed, m_count);
  CHECK(m_devs == (double)devs, "devices computed: table %lld, metric %g", devs, m_devs);
  CHECK(metric(b->data, "devicestats_aggregator_broker_up") == 1 &&
            metric(b->data, "devicestats_aggregator_db_up") == 1 &&
            metric(b->data, "devicestats_aggregator_commands_total") > 0,
        "aggregator /metrics: %s", b->data);
  free(b);
}

/* Last (it restarts the aggregator with other limits, and its failed run
 * would upset test_admin's counts): ten devices of one user, the third
 * with more samples than AGGREGATOR_MAX_SAMPLES allows, batches of 8. */
static void test_batch_limit(struct it_bus *b, PGconn *c)
{
  it_log("batches: a device over AGGREGATOR_MAX_SAMPLES fails alone");
  char user[24];
  snprintf(user, sizeof user, "%lld",
           it_qi(c, "INSERT INTO users (name) VALUES ('it-cap') RETURNING id", NULL));
  PQclear(it_q(c,
               "INSERT INTO devices (name, user_id) SELECT 'it-cap-' || i, $1::int"
               " FROM generate_series(1, 10) i",
               user, NULL));
  PQclear(it_q(c,
               "INSERT INTO samples_recent (device_id, ts, x, y, z)"
               " SELECT d.id, now() - make_interval(secs => s), random() * 10, s % 7, -s"
               "  FROM devices d, generate_series(1, 1200) s"
               " WHERE d.name LIKE 'it-cap-%' AND (s <= 100 OR d.name = 'it-cap-3')",
               NULL));
  PQclear(it_q(c, "SELECT ds_compact(id, 60) FROM devices WHERE name IN ('it-cap-1', 'it-cap-3')",
               NULL));
  it_stackctl_req("stop aggregator");
  it_stackctl_req("start aggregator AGGREGATOR_MAX_SAMPLES=1000 AGGREGATOR_BATCH_DEVICES=8");
  char payload[128];
  snprintf(payload, sizeof payload, "{\"request_id\": \"it-cap\", \"user_id\": %s}", user);
  const struct it_event *e = it_run(b, "it-cap", payload, 60000);
  CHECK(strcmp(e->state, "failed") == 0 && strstr(e->error, "it-cap-3") != NULL &&
            strstr(e->error, "too many samples") != NULL,
        "it-cap %s: %s", e->state, e->error);
  CHECK(e->devices == 9, "it-cap devices %lld (9 of 10)", e->devices);
  CHECK(it_qi(c,
              "SELECT count(*) FROM recalc_work w JOIN devices d ON d.id = w.key"
              " WHERE w.request_id = 'it-cap' AND w.kind = 'd' AND w.state = 'failed'"
              " AND d.name = 'it-cap-3' AND w.error LIKE '%too many samples%'",
              NULL) == 1,
        "it-cap-3 failed alone");
  /* One statement marks a batch done: fewer distinct times than devices. */
  long long times = it_qi(c,
                          "SELECT count(DISTINCT done_at) FROM recalc_work WHERE"
                          " request_id = 'it-cap' AND kind = 'd' AND state = 'done'",
                          NULL);
  CHECK(times >= 2 && times < 9, "9 devices marked done at %lld distinct times", times);
  PGresult *r = it_q(c,
                     "SELECT id FROM devices WHERE name LIKE 'it-cap-%' AND name <> 'it-cap-3'"
                     " ORDER BY id",
                     NULL);
  for (int i = 0; i < PQntuples(r); i++)
    it_check_device(c, strtoll(PQgetvalue(r, i, 0), NULL, 10));
  PQclear(r);
}

int main(void)
{
  PGconn *c = it_db();
  load(c);
  struct it_bus *b = calloc(1, sizeof *b);
  REQUIRE(b != NULL, "oom");
  it_bus_open(b, "agg");
  test_full_and_incremental(b, c);
  test_malformed_and_duplicates(b, c);
  test_queue(b, c);
  test_http(c);
  test_admin(c);
  test_batch_limit(b, c);
  ds_mqtt_free(b->m, 1000);
  free(b);
  PQfinish(c);
  if (it_failures > 0) {
    fprintf(stderr, "scenario_agg: %d check(s) failed\n", it_failures);
    return 1;
  }
  fprintf(stderr, "scenario_agg: passed\n");
  return 0;
}
