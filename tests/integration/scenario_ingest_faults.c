/* Nothing the broker handed to ingest is lost or stored twice, whatever
 * stops it (README § "What ingest guarantees"):
 *   A  backlog, no new traffic: ingest stopped (SIGTERM) while a device
 *      publishes, the publisher finishes, ingest starts: all stored once;
 *   B  the same with SIGKILL;
 *   C  ingest SIGKILLed repeatedly at random moments while a QoS 1
 *      publisher sends distinct samples (DS_TEST_FAULT_KILLS, default 3;
 *      scripts/bench.sh runs 10): every sample stored exactly once;
 *   D  database down past the spool's bound (INGEST_SPOOL_MAX_MB=1): ingest
 *      stops taking messages (spool_full), its memory does not grow, it is
 *      SIGKILLed while its message callback waits for room (that message is
 *      not acknowledged: the broker redelivers it), rejected messages sent
 *      meanwhile are kept, the database returns: all stored once;
 *   E  SIGTERM while the database is down: exit 0 within
 *      SHUTDOWN_TIMEOUT_MS, the spool keeps the rest, stored after restart.
 * Each phase prints its figures. */
#include <signal.h>
#include <sys/types.h>

#include "scenario_ingest_common.h"

#define NDEV 4

static long per_dev(void)
{
  return (long)it_env_int("DS_TEST_FAULT_SAMPLES", 5000, 100, 10000000);
}

static void make_devs(struct ing_dev *d, const char *tag, int base, uint64_t *rng, long n)
{
  for (int i = 0; i < NDEV; i++) {
    ing_dev_init(&d[i], tag, base + i);
    ing_fill_timed(&d[i], base + i, rng, (size_t)n);
  }
}

static void verify(PGconn *db, struct ing_dev *d, const char *tag)
{
  for (int i = 0; i < NDEV; i++)
    ing_verify_device(db, &d[i], 0, 0);
  it_note("%s: %lld samples, each stored exactly once", tag, ing_total(d, NDEV));
}

static void free_devs(struct ing_dev *d)
{
  for (int i = 0; i < NDEV; i++)
    ing_dev_cleanup(&d[i]);
}

static void prefix_of(char *out, size_t cap, const char *tag)
{
  snprintf(out, cap, "it-%s-%s-", tag, it_run_tag());
}

/* Waits for every sample of tag and prints how long it took. */
static void wait_all(PGconn *db, struct ing_dev *d, const char *tag)
{
  char prefix[64];
  prefix_of(prefix, sizeof prefix, tag);
  long long t0 = it_mono_ms();
  ing_wait_stored(db, prefix, ing_total(d, NDEV));
  it_note("%s: everything stored %lld ms after the last restart", tag, it_mono_ms() - t0);
}

/* Stopped (SIGTERM or SIGKILL) mid-stream; the publisher finishes while
 * ingest is down; the backlog then arrives with no traffic behind it. */
static void backlog_phase(PGconn *db, const char *tag, bool kill, uint64_t *rng)
{
  struct ing_dev d[NDEV];
  make_devs(d, tag, 0, rng, per_dev());
  struct ing_pub p = {.client_id = kill ? "it-fault-pubB" : "it-fault-pubA",
                      .devs = d,
                      .ndev = NDEV,
                      .per_msg = 1,
                      .qos = 1};
  long total = ing_pub_total(&p);
  ing_pub_start(&p);
  ing_pub_wait(&p, total / 3);
  IT_ASSERT(it_stackctl(kill ? "kill ingest" : "stop ingest") == 0, "ingest did not stop");
  long at = atomic_load(&p.published);
  ing_pub_join(&p);
  it_note("%s: ingest %s after %ld of %ld messages; the rest waits at the broker", tag,
          kill ? "SIGKILLed" : "stopped", at, total);
  IT_ASSERT(it_stackctl("start ingest") == 0, "ingest did not start again");
  wait_all(db, d, tag);
  verify(db, d, tag);
  free_devs(d);
}

/* The redeliveries ingest recognised (and did not store again) are in
 * ingest_progress and in the query service's /metrics, the same number. */
static void check_duplicates_metric(PGconn *db, const char *tag)
{
  it_sleep_ms(500); /* the progress row follows the last batch */
  long long dups = it_db_scalar_ll(
      db, "SELECT duplicates FROM ingest_progress WHERE instance = 'devicestats-ingest'", 0);
  struct it_http_resp r;
  IT_ASSERT(it_http("GET", "/metrics", NULL, false, &r) == 0 && r.status == 200, "GET /metrics");
  char want[128];
  snprintf(want, sizeof want,
           "devicestats_ingest_duplicates_total{instance=\"devicestats-ingest\"} %lld\n", dups);
  IT_EXPECT(strstr(r.body, want) != NULL, "/metrics lacks '%s'", want);
  it_note("%s: %lld redeliveries recognised and not stored again (ingest_progress, /metrics)", tag,
          dups);
  it_http_resp_cleanup(&r);
}

static void kill_loop_phase(PGconn *db, uint64_t *rng)
{
  const char *tag = "faultC";
  int kills = (int)it_env_int("DS_TEST_FAULT_KILLS", 3, 1, 1000);
  struct ing_dev d[NDEV];
  make_devs(d, tag, 0, rng, per_dev() * 2);
  struct ing_pub p = {
      .client_id = "it-fault-pubC", .devs = d, .ndev = NDEV, .per_msg = 1, .qos = 1};
  long total = ing_pub_total(&p);
  ing_pub_start(&p);
  for (int k = 0; k < kills; k++) {
    it_sleep_ms(150 + (long)(ing_rand(rng) % 900));
    IT_ASSERT(it_stackctl("kill ingest") == 0, "kill failed");
    long at = atomic_load(&p.published);
    it_sleep_ms((long)(ing_rand(rng) % 400));
    IT_ASSERT(it_stackctl("start ingest") == 0, "ingest did not start again");
    it_note("%s: kill %d of %d at %ld of %ld messages published", tag, k + 1, kills, at, total);
  }
  ing_pub_join(&p);
  wait_all(db, d, tag);
  verify(db, d, tag);
  free_devs(d);
  check_duplicates_metric(db, tag);
}

static long rss_kib(void)
{
  char path[512];
  snprintf(path, sizeof path, "%s/proc/ingest.pid", it_env_str("DS_TEST_DIR"));
  FILE *f = fopen(path, "r");
  char buf[32] = "";
  if (f == NULL || fgets(buf, sizeof buf, f) == NULL)
    it_fatal("cannot read %s", path);
  fclose(f);
  long pid = strtol(buf, NULL, 10);
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmRSS:", 6) == 0)
      kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

/* Lines of ingest's log (this stack's) that contain needle. */
static int log_count(const char *needle)
{
  char path[512];
  snprintf(path, sizeof path, "%s/logs/ingest.log", it_env_str("DS_TEST_DIR"));
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f) != NULL)
    n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

/* A small ASan quarantine for the ingest this phase starts, so that its
 * resident size measures what it holds rather than freed blocks. */
static void small_quarantine(char *out, size_t cap)
{
  const char *a = getenv("ASAN_OPTIONS");
  snprintf(out, cap, "ASAN_OPTIONS=%s%squarantine_size_mb=4", a ? a : "", a && *a ? ":" : "");
}

static void outage_phase(PGconn *db, uint64_t *rng)
{
  const char *tag = "faultD";
  char asan[512];
  small_quarantine(asan, sizeof asan);
  const char *small = "INGEST_SPOOL_MAX_MB=1 INGEST_BATCH_MAX=500";
  IT_ASSERT(it_stackctl("stop ingest") == 0, "ingest did not stop");
  IT_ASSERT(it_stackctl("start ingest %s '%s'", small, asan) == 0, "ingest did not start");
  int full_before = log_count("event=spool_full");
  struct ing_dev d[NDEV];
  make_devs(d, tag, 0, rng, per_dev() * 2); /* ~4 MB of spool records: 4x the bound */
  IT_ASSERT(it_stackctl("stop-db") == 0, "stop-db failed");
  long rss0 = rss_kib(), rss_max = rss0;
  struct ing_pub p = {
      .client_id = "it-fault-pubD", .devs = d, .ndev = NDEV, .per_msg = 1, .qos = 1};
  ing_pub_start(&p);
  /* Rejected messages during the outage are kept too. */
  struct it_mqtt *m = it_mqtt_open("it-fault-badD");
  char topic[128];
  ing_topic(topic, sizeof topic, d[0].name);
  for (int i = 0; i < 5; i++)
    it_mqtt_publish_str(m, topic, "{\"x\": 1, \"y\": oops}", 1);
  it_mqtt_close(m);
  ing_pub_join(&p);
  for (int i = 0; i < 20; i++) {
    long r = rss_kib();
    rss_max = r > rss_max ? r : rss_max;
    it_sleep_ms(100);
  }
  int full = log_count("event=spool_full") - full_before;
  IT_EXPECT(full >= 1, "ingest never reported its spool full (bound 1 MB, ~%lld samples sent)",
            ing_total(d, NDEV));
  it_note("%s: database down, %lld samples + 5 rejects sent, spool full reported %d time(s); "
          "ingest RSS %ld KiB before, %ld KiB at most",
          tag, ing_total(d, NDEV), full, rss0, rss_max);
  IT_EXPECT(rss_max - rss0 < 16 * 1024, "ingest grew by %ld KiB while the broker held the backlog",
            rss_max - rss0);
  /* Killed while its callback waits for room: the message it holds was
   * not acknowledged, so the broker delivers it again. */
  IT_ASSERT(it_stackctl("kill ingest") == 0, "kill failed");
  IT_ASSERT(it_stackctl("start ingest %s '%s'", small, asan) == 0, "ingest did not start");
  IT_ASSERT(it_stackctl("start-db") == 0, "start-db failed");
  wait_all(db, d, tag);
  verify(db, d, tag);
  long long rej = it_db_scalar_ll(db, "SELECT count(*) FROM rejected WHERE topic = $1", 1, topic);
  IT_EXPECT(rej == 5, "%s: %lld rejected messages kept, 5 expected", tag, rej);
  free_devs(d);
}

/* GET on ingest's admin port: the status, and the body into out. */
static long admin_get(const char *path, char *out, size_t cap)
{
  char url[512];
  snprintf(url, sizeof url, "%s%s", it_env_str("DS_TEST_INGEST_ADMIN_URL"), path);
  struct it_http_resp r;
  if (it_http("GET", url, NULL, false, &r) != 0)
    return 0;
  snprintf(out, cap, "%s", r.body);
  long st = r.status;
  it_http_resp_cleanup(&r);
  return st;
}

static void sigterm_outage_phase(PGconn *db, uint64_t *rng)
{
  const char *tag = "faultE";
  IT_ASSERT(it_stackctl("stop ingest") == 0, "ingest did not stop");
  IT_ASSERT(it_stackctl("start ingest SHUTDOWN_TIMEOUT_MS=2000") == 0, "ingest did not start");
  struct ing_dev d[NDEV];
  make_devs(d, tag, 0, rng, per_dev() / 5);
  IT_ASSERT(it_stackctl("stop-db") == 0, "stop-db failed");
  struct ing_pub p = {
      .client_id = "it-fault-pubE", .devs = d, .ndev = NDEV, .per_msg = 1, .qos = 1};
  ing_pub_start(&p);
  ing_pub_join(&p);
  it_sleep_ms(500);
  /* The admin port tells: the database is down, messages wait in the spool. */
  char body[8192];
  long st = 0;
  for (int i = 0; i < 100 && st != 503; i++, it_sleep_ms(100))
    st = admin_get("/health", body, sizeof body);
  IT_EXPECT(st == 503 && strstr(body, "database is down") != NULL,
            "ingest /health with the database down: %ld %s", st, body);
  IT_EXPECT(admin_get("/metrics", body, sizeof body) == 200 &&
                strstr(body, "devicestats_ingest_db_up 0\n") != NULL &&
                strstr(body, "devicestats_ingest_spool_pending 0\n") == NULL,
            "ingest /metrics with the database down: %s", body);
  long long t0 = it_mono_ms();
  /* stackctl kills it (and fails) if it takes longer than the timeout. */
  setenv("DS_TEST_STOP_TIMEOUT_S", "20", 1);
  IT_ASSERT(it_stackctl("stop ingest") == 0,
            "ingest did not exit 0 on SIGTERM with the database down");
  unsetenv("DS_TEST_STOP_TIMEOUT_S");
  it_note("%s: SIGTERM with the database down: exit 0 after %lld ms (SHUTDOWN_TIMEOUT_MS=2000)",
          tag, it_mono_ms() - t0);
  IT_EXPECT(log_count("event=spool_kept") >= 1, "ingest did not report what it left in the spool");
  IT_ASSERT(it_stackctl("start-db") == 0, "start-db failed");
  IT_ASSERT(it_stackctl("start ingest") == 0, "ingest did not start again");
  wait_all(db, d, tag);
  verify(db, d, tag);
  free_devs(d);
  /* Everything stored: healthy, nothing pending. */
  st = 0;
  for (int i = 0; i < 100 && st != 200; i++, it_sleep_ms(100))
    st = admin_get("/health", body, sizeof body);
  IT_EXPECT(st == 200, "ingest /health after recovery: %ld %s", st, body);
  IT_EXPECT(admin_get("/metrics", body, sizeof body) == 200 &&
                strstr(body, "devicestats_ingest_spool_pending 0\n") != NULL &&
                strstr(body, "devicestats_ingest_db_up 1\n") != NULL,
            "ingest /metrics after recovery: %s", body);
  IT_EXPECT(admin_get("/nothing", body, sizeof body) == 404, "admin port: unknown path not 404");
}

int main(void)
{
  uint64_t rng = 0x2545f4914f6cdd1dULL ^ (uint64_t)it_wall_ms();
  PGconn *db = it_db_connect();
  /* The outages make the services complain, as they should. */
  FILE *allow = fopen(it_env_str("DS_TEST_ALLOW_ERRORS"), "a");
  if (allow == NULL)
    it_fatal("cannot open the allowed-errors file");
  fputs("db_unavailable\nquery_failed\nrun_failed\nstats_failed\nschedule_failed\n", allow);
  fclose(allow);

  backlog_phase(db, "faultA", false, &rng);
  backlog_phase(db, "faultB", true, &rng);
  kill_loop_phase(db, &rng);
  outage_phase(db, &rng);
  sigterm_outage_phase(db, &rng);
  PQfinish(db);
  return it_finish();
}
