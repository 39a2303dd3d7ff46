/* devicestats-loadgen against the real stack: a short run of each scenario
 * (devices over MQTT at a fixed rate with a ramp and every reader route;
 * devices at full speed, QoS 0 arrays without timestamps; the seed preset
 * over HTTP and over MQTT; a run stopped by SIGINT) must exit 0 and leave a
 * well-formed JSON report with 0 lost and 0 doubled samples, markers seen,
 * and, where asked, three non-empty PNG charts.  Speeds are never asserted. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_lib.h"

extern char **environ;

static char g_loadgen[4096];

/* The devices speak plain MQTT (tcp://): the stack's plain listener even
 * when the scenario runs with DS_TEST_MQTT_TLS=1. */
static const char *mqtt_url(void)
{
  return it_env_or("DS_TEST_MQTT_PLAIN_URL", it_env_str("DS_TEST_MQTT_URL"));
}

/* Starts the loadgen with args (NULL-terminated), output into out_path. */
static pid_t spawn_loadgen(const char *const *args, const char *out_path)
{
  char *argv[64];
  int n = 0;
  argv[n++] = g_loadgen;
  for (; args[n - 1] && n < 63; n++)
    argv[n] = (char *)args[n - 1];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, g_loadgen, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    it_fatal("cannot start %s: %s", g_loadgen, strerror(rc));
  return pid;
}

static int wait_exit(pid_t pid, const char *out_path)
{
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      it_fatal("waitpid: %s", strerror(errno));
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (code != 0) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "tail -n 60 '%s' >&2", out_path);
    if (system(cmd) != 0)
      it_note("could not show %s", out_path);
  }
  return code;
}

static long long get_ll(struct json_object *j, const char *a, const char *b)
{
  struct json_object *x, *y;
  if (!json_object_object_get_ex(j, a, &x))
    return -1;
  if (b && !json_object_object_get_ex(x, b, &y))
    return -1;
  return json_object_get_int64(b ? y : x);
}

static bool nonempty_file(const char *dir, const char *name)
{
  char p[8400];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return stat(p, &st) == 0 && st.st_size > 0;
}

/* Checks a report: well-formed JSON, the count check done with 0 lost and
 * 0 doubled, something published, a timeline, markers seen when sent. */
static struct json_object *check_report(const char *label, const char *path, const char *stopped_by)
{
  struct json_object *j = json_object_from_file(path), *x;
  IT_ASSERT(j != NULL, "%s: %s is not a readable JSON report", label, path);
  IT_EXPECT(json_object_object_get_ex(j, "count_check", &x) &&
                json_object_object_get_ex(x, "checked", &x) && json_object_get_boolean(x),
            "%s: count check not done", label);
  long long pub = get_ll(j, "count_check", "published"), st = get_ll(j, "count_check", "stored");
  long long lost = get_ll(j, "count_check", "lost"), dbl = get_ll(j, "count_check", "doubled");
  it_note("%s: published %lld stored %lld lost %lld doubled %lld", label, pub, st, lost, dbl);
  IT_EXPECT(pub > 0, "%s: nothing published", label);
  IT_EXPECT(lost == 0, "%s: %lld samples lost", label, lost);
  IT_EXPECT(dbl == 0, "%s: %lld samples doubled", label, dbl);
  IT_EXPECT(pub == get_ll(j, "throughput", "published"), "%s: throughput.published %lld != %lld",
            label, get_ll(j, "throughput", "published"), pub);
  IT_EXPECT(json_object_object_get_ex(j, "timeline", &x) &&
                json_object_is_type(x, json_type_array) && json_object_array_length(x) >= 1,
            "%s: no timeline", label);
  long long sent = get_ll(j, "e2e_latency_ms", "markers");
  long long seen = get_ll(j, "e2e_latency_ms", "visible");
  IT_EXPECT(sent >= 1 && seen >= 1, "%s: markers sent %lld, visible %lld", label, sent, seen);
  IT_EXPECT(json_object_object_get_ex(j, "e2e_latency_ms", &x) &&
                json_object_object_get_ex(x, "p99", &x) && json_object_get_double(x) > 0,
            "%s: no publish->visible p99", label);
  IT_EXPECT(json_object_object_get_ex(j, "stopped_by", &x) &&
                strcmp(json_object_get_string(x), stopped_by) == 0,
            "%s: stopped by %s, expected %s", label, x ? json_object_get_string(x) : "?",
            stopped_by);
  IT_EXPECT(get_ll(j, "errors", "http_5xx") == 0 && get_ll(j, "errors", "http_transport") == 0 &&
                get_ll(j, "errors", "publish_failed") == 0 &&
                get_ll(j, "errors", "marker_timeout") == 0,
            "%s: errors in the report", label);
  return j;
}

/* True once the progress lines in the file ctx show samples published. */
static bool published_some(void *ctx)
{
  FILE *f = fopen(ctx, "r");
  char line[512];
  bool seen = false;
  while (f && !seen && fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "published/s ");
    seen = p && p[12] >= '1' && p[12] <= '9';
  }
  if (f)
    fclose(f);
  return seen;
}

/* Runs one scenario to its end; its report and charts under DS_TEST_DIR/name. */
static struct json_object *run_one(const char *name, const char *const *extra, bool plot)
{
  const char *dir = it_env_str("DS_TEST_DIR");
  char out[4200], report[4200], pdir[4200];
  snprintf(out, sizeof out, "%s/loadgen-%s.out", dir, name);
  snprintf(report, sizeof report, "%s/loadgen-%s.json", dir, name);
  snprintf(pdir, sizeof pdir, "%s/loadgen-%s-charts", dir, name);
  const char *args[48] = {"--url",      mqtt_url(), "--http",   it_env_str("DS_TEST_HTTP_URL"),
                          "--progress", "on",       "--report", report,
                          "--settle",   "60"};
  int n = 10;
  if (plot) {
    args[n++] = "--plot";
    args[n++] = pdir;
  }
  for (int i = 0; extra[i] && n < 46; i++)
    args[n++] = extra[i];
  args[n] = NULL;
  long long t0 = it_mono_ms();
  int code = wait_exit(spawn_loadgen(args, out), out);
  it_note("%s: exit %d after %lld ms (output %s)", name, code, it_mono_ms() - t0, out);
  IT_EXPECT(code == 0, "%s: loadgen exited with %d", name, code);
  struct json_object *j = check_report(
      name, report, extra[0] && strcmp(extra[0], "--samples") == 0 ? "samples" : "duration");
  if (plot) {
    static const char *const pngs[] = {"throughput.png", "latency.png", "errors.png"};
    for (int i = 0; i < 3; i++)
      IT_EXPECT(nonempty_file(pdir, pngs[i]), "%s: %s/%s missing or empty", name, pdir, pngs[i]);
  }
  return j;
}

int main(void)
{
  snprintf(g_loadgen, sizeof g_loadgen, "%s/tests/load/devicestats-loadgen",
           it_env_str("DS_BUILD_DIR"));
  IT_ASSERT(access(g_loadgen, X_OK) == 0, "%s not built", g_loadgen);
  setenv("MQTT_USERNAME", it_env_str("DS_TEST_MQTT_USERNAME"), 1);
  setenv("MQTT_PASSWORD", it_env_str("DS_TEST_MQTT_PASSWORD"), 1);
  setenv("API_TOKEN", it_env_str("DS_TEST_API_TOKEN"), 1);
  char prefix[64];
  snprintf(prefix, sizeof prefix, "lg%s-", it_run_tag());
  for (char *p = prefix; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
      *p = '-';

  /* Devices at a fixed rate with a ramp, QoS 1, every reader route, charts. */
  const char *const devices[] = {
      "--duration", "6",    "--devices", "40", "--rate", "5",
      "--ramp",     "2",    "--readers", "4",  "--mix",  "all=3,range=2,series=2,devices=1,users=1",
      "--prefix",   prefix, "--metrics", NULL, NULL};
  char metrics[512];
  snprintf(metrics, sizeof metrics, "%s/metrics", it_env_str("DS_TEST_INGEST_ADMIN_URL"));
  const char *dv[sizeof devices / sizeof devices[0]];
  memcpy(dv, devices, sizeof devices);
  dv[15] = metrics;
  struct json_object *j = run_one("devices", dv, true);
  struct json_object *routes;
  IT_EXPECT(json_object_object_get_ex(j, "http_latency_ms", &routes), "devices: no HTTP latency");
  static const char *const want[] = {"all", "range", "series", "devices", "users", "marker"};
  for (int i = 0; i < 6; i++) {
    struct json_object *r;
    IT_EXPECT(json_object_object_get_ex(routes, want[i], &r) && get_ll(r, "requests", NULL) > 0,
              "devices: no requests on route %s", want[i]);
  }
  IT_EXPECT(get_ll(j, "throughput", "stored") == get_ll(j, "count_check", "stored"),
            "devices: throughput.stored differs from the count check");
  json_object_put(j);

  /* Devices as fast as they go: QoS 0, arrays of 20, no timestamps, by count. */
  char prefix2[80];
  snprintf(prefix2, sizeof prefix2, "%sb-", prefix);
  const char *const fast[] = {"--samples", "20000", "--devices", "20",       "--batch", "20",
                              "--qos",     "0",     "--no-ts",   "--prefix", prefix2,   NULL};
  json_object_put(run_one("devices-max", fast, false));

  /* The seed preset over HTTP (POST then GET), then over MQTT. */
  const char *const seed[] = {"--duration", "6", "--preset", "seed", "--think", "0.2-0.6", NULL};
  j = run_one("seed-http", seed, true);
  IT_EXPECT(json_object_object_get_ex(j, "http_latency_ms", &routes) &&
                json_object_object_get_ex(routes, "post", &routes) &&
                get_ll(routes, "requests", NULL) > 0,
            "seed-http: no POST requests");
  json_object_put(j);
  const char *const seedm[] = {"--samples", "40",      "--preset", "seed", "--transport",
                               "mqtt",      "--think", "0.1-0.3",  NULL};
  json_object_put(run_one("seed-mqtt", seedm, false));

  /* Ctrl-C: a long run stopped once it has published for a while still
   * checks and reports. */
  {
    const char *dir = it_env_str("DS_TEST_DIR");
    char out[4200], report[4200], prefix3[80];
    snprintf(out, sizeof out, "%s/loadgen-sigint.out", dir);
    snprintf(report, sizeof report, "%s/loadgen-sigint.json", dir);
    snprintf(prefix3, sizeof prefix3, "%sc-", prefix);
    const char *args[] = {"--url",      mqtt_url(), "--http",     it_env_str("DS_TEST_HTTP_URL"),
                          "--duration", "600",      "--devices",  "10",
                          "--rate",     "20",       "--prefix",   prefix3,
                          "--report",   report,     "--progress", "on",
                          NULL};
    pid_t pid = spawn_loadgen(args, out);
    IT_EXPECT(it_wait_until(published_some, out, 60000), "sigint: nothing published in 60 s");
    it_sleep_ms(1000);
    kill(pid, SIGINT);
    int code = wait_exit(pid, out);
    IT_EXPECT(code == 0, "sigint: loadgen exited with %d", code);
    json_object_put(check_report("sigint", report, "signal"));
  }
  return it_finish();
}
