/* Helpers shared by the aggregator scenarios (scenario_agg*.c): database
 * and broker access from the DS_TEST_* variables that run.sh exports, a
 * status-event collector, and statistics computed independently of the
 * services (sorting, long double sums). */
#ifndef SCENARIO_AGG_COMMON_H
#define SCENARIO_AGG_COMMON_H

#include <json-c/json.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds/mqtt.h"
#include "ds/time.h"

static int it_failures;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
      it_failures++;                                                                               \
    }                                                                                              \
  } while (0)

#define REQUIRE(cond, ...)                                                                         \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "FATAL %s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

static void it_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void it_log(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "scenario: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

static const char *it_env(const char *name)
{
  const char *v = getenv(name);
  REQUIRE(v != NULL && v[0] != '\0', "%s is not set (run through tests/integration/run.sh)", name);
  return v;
}

static PGconn *it_db(void)
{
  PGconn *c = PQconnectdb(it_env("DS_TEST_DATABASE_URL"));
  REQUIRE(PQstatus(c) == CONNECTION_OK, "database: %s", PQerrorMessage(c));
  return c;
}

/* Runs sql with text parameters (NULL-terminated list); fatal on error. */
static PGresult *it_q(PGconn *c, const char *sql, ...)
{
  const char *p[16];
  int n = 0;
  va_list ap;
  va_start(ap, sql);
  const char *s;
  while (n < 16 && (s = va_arg(ap, const char *)) != NULL)
    p[n++] = s;
  va_end(ap);
  PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  REQUIRE(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s\n  -> %s", sql,
          PQresultErrorMessage(r));
  return r;
}

/* The first column of the first row as a number (0 when NULL or none). */
static long long it_qi(PGconn *c, const char *sql, ...)
{
  const char *p[16];
  int n = 0;
  va_list ap;
  va_start(ap, sql);
  const char *s;
  while (n < 16 && (s = va_arg(ap, const char *)) != NULL)
    p[n++] = s;
  va_end(ap);
  PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK, "%s\n  -> %s", sql, PQresultErrorMessage(r));
  long long v =
      PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  PQclear(r);
  return v;
}

/* ---- status events ---- */

#define IT_EVENTS_MAX 4096

struct it_event {
  char rid[160];
  char state[16];
  long long devices;
  char error[256];
};

struct it_bus {
  struct ds_mqtt *m;
  struct it_event ev[IT_EVENTS_MAX];
  size_t n;
};

static void it_bus_open(struct it_bus *b, const char *name)
{
  char id[64], err[DS_ERRLEN] = "";
  snprintf(id, sizeof id, "it-%s-%d", name, (int)getpid());
  struct ds_mqtt_opts o = {.url = it_env("DS_TEST_MQTT_URL"),
                           .client_id = id,
                           .username = getenv("DS_TEST_MQTT_USERNAME"),
                           .password = getenv("DS_TEST_MQTT_PASSWORD"),
                           .clean_session = true,
                           .keepalive_s = 30};
  REQUIRE(ds_mqtt_new(&o, &b->m, err) == DS_OK, "mqtt: %s", err);
  REQUIRE(ds_mqtt_connect(b->m, err) == DS_OK, "mqtt: %s", err);
  REQUIRE(ds_mqtt_subscribe(b->m, "control/recalculate/status", 1, err) == DS_OK, "%s", err);
  b->n = 0;
}

static void it_publish(struct it_bus *b, const char *payload)
{
  char err[DS_ERRLEN] = "";
  /* Long checks without polling may let the keepalive lapse. */
  if (!ds_mqtt_is_connected(b->m)) {
    REQUIRE(ds_mqtt_connect(b->m, err) == DS_OK, "mqtt reconnect: %s", err);
    REQUIRE(ds_mqtt_subscribe(b->m, "control/recalculate/status", 1, err) == DS_OK, "%s", err);
  }
  if (ds_mqtt_publish(b->m, "control/recalculate", payload, strlen(payload), 1, false, 5000, err) ==
      DS_OK)
    return;
  /* The broker may have dropped us before the client noticed (checks that
   * took longer than 1.5 x keep-alive, e.g. on Citus under load): once. */
  it_log("publish failed (%s): reconnecting", err);
  REQUIRE(ds_mqtt_connect(b->m, err) == DS_OK, "mqtt reconnect: %s", err);
  REQUIRE(ds_mqtt_subscribe(b->m, "control/recalculate/status", 1, err) == DS_OK, "%s", err);
  REQUIRE(ds_mqtt_publish(b->m, "control/recalculate", payload, strlen(payload), 1, false, 5000,
                          err) == DS_OK,
          "publish: %s", err);
}

static void it_pump(struct it_bus *b, int timeout_ms)
{
  bool got = false;
  struct ds_mqtt_message msg = {0};
  REQUIRE(ds_mqtt_receive(b->m, timeout_ms, &got, &msg) == DS_OK, "mqtt receive failed");
  if (!got)
    return;
  /* MQTT payloads are bytes, not NUL-terminated strings: parse a copy. */
  char copy[4096];
  snprintf(copy, sizeof copy, "%.*s", (int)(msg.payload_len < 4000 ? msg.payload_len : 4000),
           (const char *)msg.payload);
  ds_mqtt_message_free(&msg);
  struct json_object *o = json_tokener_parse(copy);
  REQUIRE(o != NULL && json_object_is_type(o, json_type_object), "status not JSON: %s", copy);
  struct json_object *rid, *state, *dev, *el, *er;
  REQUIRE(json_object_object_get_ex(o, "request_id", &rid) &&
              json_object_object_get_ex(o, "state", &state) &&
              json_object_object_get_ex(o, "devices", &dev) &&
              json_object_object_get_ex(o, "elapsed_ms", &el) &&
              json_object_is_type(dev, json_type_int) && json_object_is_type(el, json_type_int),
          "status lacks a field: %s", copy);
  const char *st = json_object_get_string(state);
  bool has_err = json_object_object_get_ex(o, "error", &er);
  CHECK(has_err == (strcmp(st, "failed") == 0), "error iff failed: %s", copy);
  CHECK(strcmp(st, "running") == 0 || strcmp(st, "done") == 0 || strcmp(st, "failed") == 0,
        "state: %s", copy);
  if (b->n < IT_EVENTS_MAX) {
    struct it_event *e = &b->ev[b->n++];
    snprintf(e->rid, sizeof e->rid, "%s", json_object_get_string(rid));
    snprintf(e->state, sizeof e->state, "%s", st);
    e->devices = json_object_get_int64(dev);
    snprintf(e->error, sizeof e->error, "%s", has_err ? json_object_get_string(er) : "");
  }
  json_object_put(o);
}

/* Waits for an event of rid in state; NULL on timeout.  rid NULL: any. */
static const struct it_event *it_wait(struct it_bus *b, const char *rid, const char *state,
                                      int timeout_ms)
{
  int64_t end = ds_time_mono_ms() + timeout_ms;
  size_t from = 0;
  for (;;) {
    for (size_t i = from; i < b->n; i++)
      if ((rid == NULL || strcmp(b->ev[i].rid, rid) == 0) && strcmp(b->ev[i].state, state) == 0)
        return &b->ev[i];
    from = b->n;
    if (ds_time_mono_ms() >= end)
      return NULL;
    it_pump(b, 100);
  }
}

/* Index of the first event of rid in state, or -1. */
__attribute__((unused)) static long it_index(const struct it_bus *b, const char *rid,
                                             const char *state)
{
  for (size_t i = 0; i < b->n; i++)
    if (strcmp(b->ev[i].rid, rid) == 0 && strcmp(b->ev[i].state, state) == 0)
      return (long)i;
  return -1;
}

/* Publishes payload for rid and waits for its final state; returns it. */
/* Waits for rid's final status (done or failed); NULL after timeout_ms. */
static inline const struct it_event *it_wait_final(struct it_bus *b, const char *rid,
                                                   int timeout_ms)
{
  int64_t end = ds_time_mono_ms() + timeout_ms;
  while (ds_time_mono_ms() < end) {
    const struct it_event *e = it_wait(b, rid, "done", 100);
    if (e == NULL)
      e = it_wait(b, rid, "failed", 0);
    if (e != NULL)
      return e;
  }
  return NULL;
}

/* Runs "$DS_TEST_STACKCTL args"; required to succeed. */
static inline void it_stackctl_req(const char *args)
{
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s %s", it_env("DS_TEST_STACKCTL"), args);
  it_log("stackctl %s", args);
  REQUIRE(system(cmd) == 0, "stackctl %s failed", args);
}

static const struct it_event *it_run(struct it_bus *b, const char *rid, const char *payload,
                                     int timeout_ms)
{
  it_publish(b, payload);
  const struct it_event *e = it_wait_final(b, rid, timeout_ms);
  REQUIRE(e != NULL, "run %s did not finish within %d ms", rid, timeout_ms);
  return e;
}

/* ---- independent statistics ---- */

static int it_cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

struct it_axis {
  long long count;
  double min, max, median;
  long double sum;
};

static struct it_axis it_axis_of(double *v, size_t n)
{
  struct it_axis a = {.count = (long long)n};
  if (n == 0)
    return a;
  qsort(v, n, sizeof *v, it_cmp);
  a.min = v[0];
  a.max = v[n - 1];
  a.median = n % 2 ? v[n / 2] : v[n / 2 - 1] / 2 + v[n / 2] / 2;
  if (n % 2 == 0 && v[n / 2 - 1] == v[n / 2])
    a.median = v[n / 2];
  for (size_t i = 0; i < n; i++)
    a.sum += v[i];
  return a;
}

/* Compares an axis with snapshot columns count,min,max,sum,median at col. */
static void it_check_axis(const char *what, const struct it_axis *a, PGresult *r, int col)
{
  long long cnt = strtoll(PQgetvalue(r, 0, col), NULL, 10);
  double mn = strtod(PQgetvalue(r, 0, col + 1), NULL), mx = strtod(PQgetvalue(r, 0, col + 2), NULL);
  double sm = strtod(PQgetvalue(r, 0, col + 3), NULL), md = strtod(PQgetvalue(r, 0, col + 4), NULL);
  CHECK(cnt == a->count, "%s count %lld want %lld", what, cnt, a->count);
  CHECK(mn == a->min, "%s min %.17g want %.17g", what, mn, a->min);
  CHECK(mx == a->max, "%s max %.17g want %.17g", what, mx, a->max);
  CHECK(fabsl((long double)sm - a->sum) <= 1e-9L * (1 + fabsl(a->sum)), "%s sum %.17g want %.17Lg",
        what, sm, a->sum);
  CHECK(md == a->median, "%s median %.17g want %.17g", what, md, a->median);
}

/* The samples of one device ($1 its key) or of one user's devices ($1 the
 * user's key), read straight from both sample tables (indexed by device),
 * not through anything the services use; and the snapshot to compare.  The
 * UNION ALL is a subquery with device_id in both arms, so that Citus runs
 * it whole on each shard: one snapshot there, whatever the compactor does. */
#define IT_SAMPLES_OF(where)                                                                       \
  "SELECT x, y, z FROM ("                                                                          \
  " SELECT device_id, x, y, z FROM samples_recent"                                                 \
  "  WHERE device_id IN (SELECT d.id FROM devices d WHERE " where ")"                              \
  " UNION ALL SELECT c.device_id, u.x, u.y, u.z FROM sample_chunks c,"                             \
  " unnest(c.x, c.y, c.z) AS u (x, y, z)"                                                          \
  "  WHERE c.device_id IN (SELECT d.id FROM devices d WHERE " where ")) q"
#define IT_SNAPSHOT_OF(table, key_col)                                                             \
  "SELECT sample_count, x_count, x_min, x_max, x_sum, x_median,"                                   \
  " y_count, y_min, y_max, y_sum, y_median, z_count, z_min, z_max, z_sum, z_median"                \
  " FROM " table " WHERE " key_col " = $1::int"

/* Checks the snapshot of a device (user false) or user with key against
 * its samples. */
static void it_check_snapshot(PGconn *c, bool user, const char *key)
{
  const char *table = user ? "user_snapshots" : "device_snapshots";
  const char *samples_sql =
      user ? IT_SAMPLES_OF("d.user_id = $1::int") : IT_SAMPLES_OF("d.id = $1::int");
  const char *snapshot_sql = user ? IT_SNAPSHOT_OF("user_snapshots", "user_id")
                                  : IT_SNAPSHOT_OF("device_snapshots", "device_id");
  PGresult *r = it_q(c, samples_sql, key, NULL);
  size_t n = (size_t)PQntuples(r);
  double *v[3];
  for (int a = 0; a < 3; a++) {
    v[a] = malloc((n + 1) * sizeof(double));
    REQUIRE(v[a] != NULL, "out of memory");
    for (size_t i = 0; i < n; i++)
      v[a][i] = strtod(PQgetvalue(r, (int)i, a), NULL);
  }
  PQclear(r);
  r = it_q(c, snapshot_sql, key, NULL);
  CHECK(PQntuples(r) == 1, "%s %s: no snapshot", table, key);
  if (PQntuples(r) == 1) {
    CHECK(strtoll(PQgetvalue(r, 0, 0), NULL, 10) == (long long)n, "%s %s: sample_count", table,
          key);
    const char *names[3] = {"x", "y", "z"};
    for (int a = 0; a < 3; a++) {
      char what[96];
      snprintf(what, sizeof what, "%s %s %s", table, key, names[a]);
      struct it_axis ax = it_axis_of(v[a], n);
      if (n > 0)
        it_check_axis(what, &ax, r, 1 + a * 5);
    }
  }
  PQclear(r);
  for (int a = 0; a < 3; a++)
    free(v[a]);
}

/* A device's snapshot: its statistics, and last_ts exactly (to the
 * microsecond) the newest of its samples. */
static void it_check_device(PGconn *c, long long key)
{
  char k[24];
  snprintf(k, sizeof k, "%lld", key);
  it_check_snapshot(c, false, k);
  CHECK(it_qi(c,
              "SELECT count(*) FROM device_snapshots WHERE device_id = $1::int"
              " AND last_ts IS NOT DISTINCT FROM (SELECT max(t) FROM ("
              "  SELECT max(last_ts) AS t FROM sample_chunks WHERE device_id = $1::int"
              "  UNION ALL SELECT max(ts) FROM samples_recent WHERE device_id = $1::int) q)",
              k, NULL) == 1,
        "device_snapshots %s: last_ts is not the newest sample's time", k);
}

static void it_check_user(PGconn *c, long long key)
{
  char k[24];
  snprintf(k, sizeof k, "%lld", key);
  it_check_snapshot(c, true, k);
}

#endif
