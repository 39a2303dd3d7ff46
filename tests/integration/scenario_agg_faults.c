/* Aggregator faults on the real stack (issue 8): a command the broker has
 * acknowledged is recorded before the acknowledgement, so killing the
 * aggregator at any moment loses none, and a repeated request_id still
 * runs once; a database restart in the middle of a run does not leave the
 * run hanging, and the next command works.
 *   1. killed while the command's insert into recalc_runs is blocked (the
 *      test holds a lock on the table): the command runs once after the
 *      restart.  This is the regression check: a receiver that acknowledges
 *      before recording (Paho's MQTTClient, the old code) loses it.
 *   2. killed while the command waits for a stopped database: runs once.
 *   3. both commands sent again with the same request_id: not run again.
 *   4. a command whose parse error quotes a field name cut inside a UTF-8
 *      character is still recorded (failed) rather than refused by the
 *      database (which, recorded nowhere, it would be retried for ever).
 *   5. the database restarted in the middle of a run: the run finishes (or
 *      is marked failed), and the next command runs and finishes.
 *   6. a command without request_id waits for the database longer than
 *      the broker's keep-alive allows: the broker drops the connection and
 *      redelivers the command, which still runs once.
 *   7. SIGTERM while a command waits for the database: the aggregator exits
 *      1 without acknowledging it (command_unacknowledged), and the next
 *      start runs it once.
 * Prints its figures. */
#include "scenario_agg_common.h"

#define NDEVICES 200
#define DEVICES "200"

static void load(PGconn *c)
{
  PQclear(it_q(c, "INSERT INTO users (name) VALUES ('f-user')", NULL));
  PQclear(it_q(c,
               "INSERT INTO devices (name, user_id) SELECT 'f-dev-' || i,"
               " CASE WHEN i <= 10 THEN (SELECT id FROM users WHERE name = 'f-user') END"
               " FROM generate_series(1, $1::int) i",
               DEVICES, NULL));
  PQclear(it_q(c,
               "INSERT INTO samples_recent (device_id, ts, x, y, z)"
               " SELECT d.id, now() - make_interval(secs => s), random() * 100, s % 13, -s"
               " FROM devices d, generate_series(1, 1000) s WHERE d.name LIKE 'f-dev-%'",
               NULL));
}

/* Size of the aggregator's log now (the start of what a step reads). */
static long log_size(void)
{
  char path[512];
  snprintf(path, sizeof path, "%s/logs/aggregator.log", it_env("DS_TEST_DIR"));
  FILE *f = fopen(path, "r");
  REQUIRE(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

/* Whether the aggregator's log, from offset on, has a line with both
 * strings. */
static bool log_has(long offset, const char *a, const char *b)
{
  char path[512], line[4096];
  snprintf(path, sizeof path, "%s/logs/aggregator.log", it_env("DS_TEST_DIR"));
  FILE *f = fopen(path, "r");
  REQUIRE(f != NULL, "cannot open %s", path);
  fseek(f, offset, SEEK_SET);
  bool found = false;
  while (!found && fgets(line, sizeof line, f) != NULL)
    found = strstr(line, a) != NULL && strstr(line, b) != NULL;
  fclose(f);
  return found;
}

static long long runs_of(PGconn *c, const char *rid)
{
  return it_qi(c, "SELECT count(*) FROM recalc_runs WHERE request_id = $1", rid, NULL);
}

static long count_events(const struct it_bus *b, const char *rid, const char *state)
{
  long n = 0;
  for (size_t i = 0; i < b->n; i++)
    if (strcmp(b->ev[i].rid, rid) == 0 && strcmp(b->ev[i].state, state) == 0)
      n++;
  return n;
}

/* The command ran exactly once: one run row, done, one done event (after
 * a second more of listening), every device computed once. */
static void check_once(struct it_bus *b, PGconn *c, const char *rid, long long devices)
{
  const struct it_event *e = it_wait_final(b, rid, 60000);
  CHECK(e != NULL,
        "%s never finished: the command was lost (acknowledged to the broker, never "
        "recorded)",
        rid);
  if (e == NULL)
    return;
  CHECK(strcmp(e->state, "done") == 0, "%s %s: %s", rid, e->state, e->error);
  int64_t end = ds_time_mono_ms() + 1000;
  while (ds_time_mono_ms() < end)
    it_pump(b, 100);
  long long rows = runs_of(c, rid);
  long done = count_events(b, rid, "done");
  long long work =
      it_qi(c, "SELECT count(*) FROM recalc_work WHERE request_id = $1 AND kind = 'd'", rid, NULL);
  it_log("  %s: run rows %lld, done events %ld, device work rows %lld, devices %lld", rid, rows,
         done, work, e->devices);
  CHECK(rows == 1, "%s: %lld run rows", rid, rows);
  CHECK(done == 1, "%s: %ld done events", rid, done);
  CHECK(work == devices && e->devices == devices, "%s: work rows %lld, devices %lld, want %lld",
        rid, work, e->devices, devices);
}

/* 1: the insert of the command is held by a table lock; the aggregator is
 * killed meanwhile; its backend is terminated so the insert dies with it. */
static void test_killed_while_recording(struct it_bus *b, PGconn *c)
{
  it_log("1. aggregator killed while the command's record is blocked");
  PGconn *hold = it_db();
  PQclear(it_q(hold, "BEGIN", NULL));
  PQclear(it_q(hold, "LOCK TABLE recalc_runs IN SHARE MODE", NULL));
  it_publish(b, "{\"request_id\": \"fa-1\", \"full\": true}"); /* PUBACK received */
  int64_t t0 = ds_time_mono_ms();
  bool blocked = false;
  while (!blocked && ds_time_mono_ms() - t0 < 30000) {
    blocked = it_qi(c,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE '%INSERT INTO recalc_runs%'",
                    NULL) > 0;
    if (!blocked)
      it_pump(b, 50);
  }
  REQUIRE(blocked, "the command never reached its insert");
  it_log("  command in its insert after %lld ms", (long long)(ds_time_mono_ms() - t0));
  it_stackctl_req("kill aggregator");
  /* A killed client's backend may finish its statement before noticing:
   * end them, so what the killed process did not commit is gone. */
  PQclear(it_q(c,
               "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
               " WHERE application_name LIKE 'devicestats-aggregator%'",
               NULL));
  for (int i = 0; i < 100 && it_qi(c,
                                   "SELECT count(*) FROM pg_stat_activity"
                                   " WHERE application_name LIKE 'devicestats-aggregator%'",
                                   NULL) > 0;
       i++)
    usleep(50000);
  PQclear(it_q(hold, "COMMIT", NULL));
  PQfinish(hold);
  CHECK(runs_of(c, "fa-1") == 0, "fa-1 recorded although its insert was killed");
  it_stackctl_req("start aggregator");
  check_once(b, c, "fa-1", NDEVICES);
}

/* 2: the database is down; the command waits in the callback, unacknowledged. */
static void test_killed_while_db_down(struct it_bus *b, PGconn **c)
{
  it_log("2. aggregator killed while the command waits for a stopped database");
  long off = log_size();
  it_stackctl_req("stop-db");
  it_publish(b, "{\"request_id\": \"fa-2\", \"device_id\": \"f-dev-5\", \"full\": true}");
  int64_t t0 = ds_time_mono_ms();
  bool waiting = false;
  while (!waiting && ds_time_mono_ms() - t0 < 30000) {
    waiting = log_has(off, "event=command_waiting", "request_id=fa-2");
    if (!waiting)
      it_pump(b, 100);
  }
  CHECK(waiting, "the aggregator never reported fa-2 waiting for the database");
  it_log("  fa-2 waiting for the database after %lld ms", (long long)(ds_time_mono_ms() - t0));
  it_stackctl_req("kill aggregator");
  it_stackctl_req("start-db");
  PQfinish(*c);
  *c = it_db();
  CHECK(runs_of(*c, "fa-2") == 0, "fa-2 recorded while the database was down?");
  it_stackctl_req("start aggregator");
  check_once(b, *c, "fa-2", 1);
}

/* 3: the same request ids again: their state is reported, nothing runs. */
static void test_repeated(struct it_bus *b, PGconn *c)
{
  it_log("3. the same commands again (same request_id)");
  long long work = it_qi(c, "SELECT count(*) FROM recalc_work", NULL);
  size_t n0 = b->n;
  it_publish(b, "{\"request_id\": \"fa-1\", \"full\": true}");
  it_publish(b, "{\"request_id\": \"fa-2\", \"device_id\": \"f-dev-5\", \"full\": true}");
  bool seen1 = false, seen2 = false;
  int64_t end = ds_time_mono_ms() + 10000;
  while (!(seen1 && seen2) && ds_time_mono_ms() < end) {
    it_pump(b, 100);
    for (size_t i = n0; i < b->n; i++) {
      seen1 = seen1 || (strcmp(b->ev[i].rid, "fa-1") == 0 && strcmp(b->ev[i].state, "done") == 0);
      seen2 = seen2 || (strcmp(b->ev[i].rid, "fa-2") == 0 && strcmp(b->ev[i].state, "done") == 0);
    }
  }
  CHECK(seen1 && seen2, "repeated commands report their state (fa-1 %d, fa-2 %d)", seen1, seen2);
  for (size_t i = n0; i < b->n; i++)
    CHECK(strcmp(b->ev[i].state, "running") != 0, "%s running again", b->ev[i].rid);
  long long rows1 = runs_of(c, "fa-1"), rows2 = runs_of(c, "fa-2");
  long long work2 = it_qi(c, "SELECT count(*) FROM recalc_work", NULL);
  it_log("  run rows fa-1 %lld, fa-2 %lld; work rows %lld before, %lld after", rows1, rows2, work,
         work2);
  CHECK(rows1 == 1 && rows2 == 1, "one run row each");
  CHECK(work2 == work, "no new work");
}

/* 4: the parser names an unknown field by its first 64 bytes: 63 ASCII
 * letters and a two-byte character make that text invalid UTF-8. */
static void test_unrecordable_reason(struct it_bus *b, PGconn *c)
{
  it_log("4. a malformed command whose reason would quote half a UTF-8 character");
  char payload[256];
  snprintf(payload, sizeof payload, "{\"request_id\": \"fa-bad\", \"%s\xc3\xa9\": 1}",
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  const struct it_event *e = it_run(b, "fa-bad", payload, 30000);
  CHECK(strcmp(e->state, "failed") == 0 && strstr(e->error, "unknown field") != NULL, "%s: %s",
        e->state, e->error);
  CHECK(runs_of(c, "fa-bad") == 1, "fa-bad recorded");
  e = it_run(b, "fa-after-bad", "{\"request_id\": \"fa-after-bad\", \"device_id\": \"f-dev-1\"}",
             30000);
  CHECK(strcmp(e->state, "done") == 0, "after it: %s %s", e->state, e->error);
}

/* 5: restart the database while a run is held mid-way (a worker waits on
 * the per-device advisory lock the test holds; agg_work_lock_device). */
static void test_db_restart_mid_run(struct it_bus *b, PGconn **c)
{
  it_log("5. the database restarted in the middle of a run over %d devices", NDEVICES);
  PGconn *hold = it_db();
  char key[24];
  snprintf(key, sizeof key, "%lld",
           it_qi(*c, "SELECT max(id) FROM devices WHERE name LIKE 'f-dev-%'", NULL));
  PQclear(it_q(hold, "SELECT pg_advisory_lock(4242002, $1::int)", key, NULL));
  it_publish(b, "{\"request_id\": \"fa-3\", \"full\": true}");
  CHECK(it_wait(b, "fa-3", "running", 30000) != NULL, "fa-3 running");
  bool blocked = false;
  for (int i = 0; i < 600 && !blocked; i++) {
    blocked = it_qi(*c,
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND classid = 4242002",
                    NULL) > 0;
    if (!blocked)
      it_pump(b, 50);
  }
  REQUIRE(blocked, "no worker reached the held device");
  long long before =
      it_qi(*c, "SELECT devices_done FROM recalc_runs WHERE request_id = 'fa-3'", NULL);
  int64_t t0 = ds_time_mono_ms();
  it_stackctl_req("restart-db"); /* ends every session, the holder's too */
  PQfinish(hold);
  PQfinish(*c);
  *c = it_db();
  const struct it_event *e = it_wait_final(b, "fa-3", 120000);
  CHECK(e != NULL, "fa-3 left unfinished after the database restart");
  if (e != NULL)
    it_log("  fa-3: %lld of %d devices done at the restart; %s with %lld devices %lld ms after "
           "it%s%s",
           before, NDEVICES, e->state, e->devices, (long long)(ds_time_mono_ms() - t0),
           e->error[0] ? ": " : "", e->error);
  CHECK(it_qi(*c,
              "SELECT count(*) FROM recalc_runs WHERE request_id = 'fa-3'"
              " AND state IN ('done', 'failed')",
              NULL) == 1,
        "fa-3 recorded as finished");
  if (e != NULL && strcmp(e->state, "done") == 0)
    CHECK(e->devices == NDEVICES, "fa-3 done with %lld devices", e->devices);
  t0 = ds_time_mono_ms();
  long off = log_size();
  e = it_run(b, "fa-4", "{\"request_id\": \"fa-4\", \"full\": true}", 120000);
  /* The receiver's connection, idle since before the restart, is replaced
   * at once: no outage to report. */
  CHECK(!log_has(off, "event=command_waiting", "request_id=fa-4"),
        "fa-4 reported waiting although the database was up");
  it_log("  fa-4 after the restart: %s, %lld devices, %lld ms", e->state, e->devices,
         (long long)(ds_time_mono_ms() - t0));
  CHECK(strcmp(e->state, "done") == 0 && e->devices == NDEVICES, "fa-4 %s %lld %s", e->state,
        e->devices, e->error);
  CHECK(it_qi(*c, "SELECT count(*) FROM recalc_runs WHERE state IN ('queued', 'running')", NULL) ==
            0,
        "nothing left queued or running");
  /* The snapshots of the run after the restart are right. */
  PGresult *r = it_q(*c, "SELECT id FROM devices WHERE name LIKE 'f-dev-%' ORDER BY id", NULL);
  for (int i = 0; i < PQntuples(r); i++)
    it_check_device(*c, strtoll(PQgetvalue(r, i, 0), NULL, 10));
  PQclear(r);
  it_check_user(*c, it_qi(*c, "SELECT id FROM users WHERE name = 'f-user'", NULL));
}

/* 6: the callback blocks past 1.5 x the keep-alive (30 s): the broker
 * closes the connection, the PUBACK sent after the record goes nowhere, and
 * the command comes again (DUP) on the next connection. */
static void test_long_outage_without_request_id(struct it_bus *b, PGconn **c)
{
  it_log("6. a command without request_id waits 50 s for the database");
  long off = log_size();
  it_stackctl_req("stop-db");
  it_publish(b, "{\"device_id\": \"f-dev-77\", \"full\": true}");
  int64_t t0 = ds_time_mono_ms();
  while (ds_time_mono_ms() - t0 < 50000)
    it_pump(b, 200);
  CHECK(log_has(off, "event=command_waiting", "request_id="), "the command waited");
  it_stackctl_req("start-db");
  PQfinish(*c);
  *c = it_db();
  const char *count_sql = "SELECT count(*) FROM recalc_runs WHERE command = "
                          "'{\"device_id\": \"f-dev-77\", \"full\": true}'";
  long long runs = 0;
  t0 = ds_time_mono_ms();
  while (ds_time_mono_ms() - t0 < 20000) {
    it_pump(b, 200);
    runs = it_qi(*c, count_sql, NULL);
  }
  bool redelivered = log_has(off, "event=command_duplicate", "state=");
  it_log("  runs recorded for it: %lld (broker redelivered it: %s)", runs,
         redelivered ? "yes" : "no");
  CHECK(runs == 1, "the command was recorded %lld times", runs);
}

/* 7: a stop cannot wait for the database; it must not acknowledge either. */
static void test_sigterm_while_waiting(struct it_bus *b, PGconn **c)
{
  it_log("7. SIGTERM while a command waits for a stopped database");
  FILE *allow = fopen(it_env("DS_TEST_ALLOW_ERRORS"), "a");
  REQUIRE(allow != NULL, "cannot open the allowed-errors file");
  fputs("command_unacknowledged\n", allow);
  fclose(allow);
  long off = log_size();
  it_stackctl_req("stop-db");
  it_publish(b, "{\"request_id\": \"fa-5\", \"device_id\": \"f-dev-6\", \"full\": true}");
  int64_t t0 = ds_time_mono_ms();
  bool waiting = false;
  while (!waiting && ds_time_mono_ms() - t0 < 30000) {
    waiting = log_has(off, "event=command_waiting", "request_id=fa-5");
    if (!waiting)
      it_pump(b, 100);
  }
  CHECK(waiting, "fa-5 never waited for the database");
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s stop aggregator", it_env("DS_TEST_STACKCTL"));
  it_log("stackctl stop aggregator (expected to exit 1)");
  t0 = ds_time_mono_ms();
  int rc = system(cmd);
  it_log("  stopped in %lld ms", (long long)(ds_time_mono_ms() - t0));
  CHECK(rc != 0, "the aggregator exited 0 with a command it could not record");
  CHECK(log_has(off, "event=command_unacknowledged", "request_id=fa-5"),
        "command_unacknowledged logged");
  it_stackctl_req("start-db");
  PQfinish(*c);
  *c = it_db();
  CHECK(runs_of(*c, "fa-5") == 0, "fa-5 recorded while the database was down?");
  it_stackctl_req("start aggregator");
  check_once(b, *c, "fa-5", 1);
}

int main(void)
{
  PGconn *c = it_db();
  load(c);
  struct it_bus *b = calloc(1, sizeof *b);
  REQUIRE(b != NULL, "oom");
  it_bus_open(b, "agg-faults");
  test_killed_while_recording(b, c);
  test_killed_while_db_down(b, &c);
  test_repeated(b, c);
  test_unrecordable_reason(b, c);
  test_db_restart_mid_run(b, &c);
  test_long_outage_without_request_id(b, &c);
  test_sigterm_while_waiting(b, &c);
  ds_mqtt_free(b->m, 1000);
  free(b);
  PQfinish(c);
  if (it_failures > 0) {
    fprintf(stderr, "scenario_agg_faults: %d check(s) failed\n", it_failures);
    return 1;
  }
  fprintf(stderr, "scenario_agg_faults: passed\n");
  return 0;
}
