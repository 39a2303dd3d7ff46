/* Several aggregators on one shared subscription: two instances split one
 * run with every device computed exactly once (recalc_work.computed_by says
 * by whom), and a run interrupted by killed aggregators is finished by the
 * next one to start, never left running.  To interrupt a run at a known
 * point the test holds the per-device advisory lock the aggregator takes
 * before computing a device (agg_work_lock_device: key 4242002, device). */
#include "scenario_agg_common.h"

#define DEVICES "300"
#define NDEVICES 300

static void load(PGconn *c)
{
  PQclear(it_q(c, "INSERT INTO users (name) VALUES ('it-multi')", NULL));
  PQclear(it_q(c,
               "INSERT INTO devices (name, user_id) SELECT 'm-dev-' || i,"
               " CASE WHEN i % 10 = 0 THEN (SELECT min(id) FROM users) END"
               " FROM generate_series(1, $1::int) i",
               DEVICES, NULL));
  PQclear(it_q(c,
               "INSERT INTO samples_recent (device_id, ts, x, y, z)"
               " SELECT d.id, now() - make_interval(secs => s), random() * 100, s % 17, -s"
               " FROM devices d, generate_series(1, 2000) s",
               NULL));
}

static void check_devices(PGconn *c)
{
  PGresult *r = it_q(c, "SELECT id FROM devices ORDER BY id", NULL);
  for (int i = 0; i < PQntuples(r); i++)
    it_check_device(c, strtoll(PQgetvalue(r, i, 0), NULL, 10));
  PQclear(r);
  it_check_user(c, it_qi(c, "SELECT min(id) FROM users", NULL));
}

/* Every device of run rid has exactly one work row, done. */
static void check_once(PGconn *c, const char *rid)
{
  CHECK(it_qi(c, "SELECT count(*) FROM recalc_work WHERE request_id = $1 AND kind = 'd'", rid,
              NULL) == NDEVICES,
        "%s: one work row per device", rid);
  CHECK(it_qi(c,
              "SELECT count(*) FROM recalc_work WHERE request_id = $1 AND kind = 'd'"
              " AND state = 'done' AND computed_by IS NOT NULL",
              rid, NULL) == NDEVICES,
        "%s: every device done", rid);
  CHECK(it_qi(c, "SELECT devices_done FROM recalc_runs WHERE request_id = $1", rid, NULL) ==
            NDEVICES,
        "%s: devices_done counts each device once", rid);
  CHECK(it_qi(c, "SELECT count(*) FROM recalc_runs WHERE state IN ('running', 'queued')", NULL) ==
            0,
        "no run left running or queued");
}

static void test_split(struct it_bus *b, PGconn *c)
{
  it_stackctl_req("start-extra aggregator agg2 AGGREGATOR_CLIENT_ID=it-agg2");
  it_log("two aggregators split one full run");
  const struct it_event *e = it_run(b, "m-1", "{\"request_id\": \"m-1\", \"full\": true}", 120000);
  CHECK(strcmp(e->state, "done") == 0 && e->devices == NDEVICES, "m-1 %s %lld %s", e->state,
        e->devices, e->error);
  check_once(c, "m-1");
  PGresult *r = it_q(c,
                     "SELECT computed_by, count(*) FROM recalc_work WHERE request_id = 'm-1'"
                     " GROUP BY 1 ORDER BY 1",
                     NULL);
  for (int i = 0; i < PQntuples(r); i++)
    it_log("  %s computed %s items", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
  CHECK(PQntuples(r) == 2, "both aggregators took part (%d)", PQntuples(r));
  PQclear(r);
  check_devices(c);
}

static void test_killed(struct it_bus *b, PGconn *c)
{
  it_log("a run interrupted by killed aggregators is finished by the next one");
  PGconn *hold = it_db();
  char key[24];
  snprintf(key, sizeof key, "%lld", it_qi(c, "SELECT max(id) FROM devices", NULL));
  PQclear(it_q(hold, "SELECT pg_advisory_lock(4242002, $1::int)", key, NULL));
  it_publish(b, "{\"request_id\": \"m-2\", \"full\": true}");
  CHECK(it_wait(b, "m-2", "running", 30000) != NULL, "m-2 running");
  /* Wait until a worker is blocked on the held device. */
  bool blocked = false;
  for (int i = 0; i < 600 && !blocked; i++) {
    blocked = it_qi(c,
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND classid = 4242002",
                    NULL) > 0;
    if (!blocked)
      usleep(50000);
  }
  REQUIRE(blocked, "no worker reached the held device");
  long long done = it_qi(c, "SELECT devices_done FROM recalc_runs WHERE request_id = 'm-2'", NULL);
  it_log("  %lld devices done when the aggregators are killed", done);
  it_stackctl_req("kill aggregator");
  it_stackctl_req("kill agg2");
  CHECK(it_qi(c, "SELECT count(*) FROM recalc_runs WHERE request_id = 'm-2' AND state = 'running'",
              NULL) == 1,
        "m-2 is interrupted, still running");
  it_stackctl_req("start aggregator");
  PQclear(it_q(hold, "SELECT pg_advisory_unlock(4242002, $1::int)", key, NULL));
  const struct it_event *e = it_wait(b, "m-2", "done", 120000);
  CHECK(e != NULL, "m-2 finished by the restarted aggregator");
  if (e != NULL)
    CHECK(e->devices == NDEVICES, "m-2 devices %lld", e->devices);
  check_once(c, "m-2");
  check_devices(c);
  PQfinish(hold);
}

int main(void)
{
  PGconn *c = it_db();
  load(c);
  struct it_bus *b = calloc(1, sizeof *b);
  REQUIRE(b != NULL, "oom");
  it_bus_open(b, "agg-multi");
  test_split(b, c);
  /* A fresh client: the checks above may have outlasted the keepalive. */
  ds_mqtt_free(b->m, 1000);
  it_bus_open(b, "agg-multi-2");
  test_killed(b, c);
  ds_mqtt_free(b->m, 1000);
  free(b);
  PQfinish(c);
  if (it_failures > 0) {
    fprintf(stderr, "scenario_agg_multi: %d check(s) failed\n", it_failures);
    return 1;
  }
  fprintf(stderr, "scenario_agg_multi: passed\n");
  return 0;
}
