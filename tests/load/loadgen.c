/* devicestats-loadgen: load tests people can read.  Runs a scenario
 * (devices publishing over MQTT, readers over HTTP, or the old Locust
 * scenario with --preset seed), shows a progress line every second, then
 * checks that every published sample was stored once and writes a summary
 * table, a JSON report and gnuplot charts.  The first line on stdout stays
 * the one scripts/bench.sh parses ("loadgen samples=... rate=..."). */
#include <MQTTClient.h>
#include <curl/curl.h>
#include <mosquitto.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "load_args.h"
#include "load_check.h"
#include "load_http.h"
#include "load_mqtt.h"
#include "load_plot.h"
#include "load_report.h"
#include "load_run.h"

static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
  (void)sig;
  if (++g_signals > 1)
    _exit(1); /* a second Ctrl-C: at once */
}

static const char *env_lookup(const char *name, void *ctx)
{
  (void)ctx;
  return getenv(name);
}

struct mqtt_job {
  struct load_run *run;
  struct load_mqtt_totals t;
  int rc;
  double end_mono_ms; /* when the last PUBACK came (the publishers' end) */
  atomic_int done;
};

static void *mqtt_main(void *arg)
{
  struct mqtt_job *j = arg;
  j->rc = load_mqtt_run(j->run, &j->t);
  j->end_mono_ms = load_mono_ms();
  atomic_store(&j->done, 1);
  return NULL;
}

/* The window's percentiles (ms, -1 when empty), then empties it. */
static void take_window(struct load_window *w, double *p50, double *p95, double *p99)
{
  pthread_mutex_lock(&w->mu);
  bool any = w->lat.n > 0;
  *p50 = any ? load_lat_percentile(&w->lat, 50) : -1;
  *p95 = any ? load_lat_percentile(&w->lat, 95) : -1;
  *p99 = any ? load_lat_percentile(&w->lat, 99) : -1;
  load_lat_reset(&w->lat);
  pthread_mutex_unlock(&w->mu);
}

/* Ingest's stored-samples counter from its /metrics (the sum over the
 * lines of devicestats_ingest_stored_total), or -1. */
static long long metrics_stored(const char *url)
{
  char *body = NULL;
  long long total = -1;
  if (load_http_fetch("GET", url, NULL, NULL, &body, 1 << 20, 500) != 200 || !body) {
    free(body);
    return -1;
  }
  static const char key[] = "devicestats_ingest_stored_total";
  for (char *p = body; (p = strstr(p, key)) != NULL; p += sizeof key - 1) {
    if (p != body && p[-1] != '\n')
      continue;
    char *v = p + sizeof key - 1;
    if (*v == '{')
      v = strchr(v, '}') ? strchr(v, '}') + 1 : v;
    if (*v != ' ')
      continue;
    total = (total < 0 ? 0 : total) + strtoll(v + 1, NULL, 10);
  }
  free(body);
  return total;
}

static void progress(const struct load_opts *o, const struct load_tick *k, long long errors,
                     bool tty)
{
  char stored[32], p95[32], e2e[32];
  if (k->stored >= 0)
    snprintf(stored, sizeof stored, "%lld", k->stored);
  else
    snprintf(stored, sizeof stored, "-");
  if (k->http_p95 >= 0)
    snprintf(p95, sizeof p95, "%.1fms", k->http_p95);
  else
    snprintf(p95, sizeof p95, "-");
  if (k->e2e_p50 >= 0)
    snprintf(e2e, sizeof e2e, " e2e %.0fms", k->e2e_p50);
  else
    e2e[0] = '\0';
  (void)o;
  fprintf(stderr,
          "%s[%5.0fs] published/s %lld  stored/s %s  http req/s %lld p95 %s  errors %lld%s%s",
          tty ? "\r" : "", k->t_s, k->published, stored, k->http, p95, errors, e2e,
          tty ? "\033[K" : "\n");
  fflush(stderr);
}

struct tick_state {
  long long last_pub, last_http, last_err, last_stored;
};

/* One row of the timeline (the deltas since the previous one) and the
 * progress line. */
static void tick(const struct load_opts *op, struct load_run *run, struct load_report *rep,
                 struct tick_state *ts, double now, bool show, bool tty)
{
  struct load_tick k = {.t_s = (now - run->start_mono_ms) / 1000, .stored = -1};
  long long pub = atomic_load(&run->published), http = atomic_load(&run->http_requests), errs = 0;
  for (int i = 0; i < LOAD_ERR_N; i++)
    errs += i == LOAD_ERR_HTTP_404 ? 0 : atomic_load(&run->errors[i]);
  k.published = pub - ts->last_pub;
  k.http = http - ts->last_http;
  k.errors = errs - ts->last_err;
  ts->last_pub = pub, ts->last_http = http, ts->last_err = errs;
  if (op->metrics_url) {
    long long s = metrics_stored(op->metrics_url);
    if (s >= 0 && ts->last_stored >= 0)
      k.stored = s - ts->last_stored;
    if (s >= 0)
      ts->last_stored = s;
  }
  take_window(&run->http_win, &k.http_p50, &k.http_p95, &k.http_p99);
  take_window(&run->e2e_win, &k.e2e_p50, &k.e2e_p95, &k.e2e_p99);
  (void)load_report_tick(rep, &k);
  if (show)
    progress(op, &k, errs, tty);
}

/* Errors that fail a run (every kind but 404). */
static long long run_errors(const struct load_report *r)
{
  long long n = 0;
  for (int i = 0; i < LOAD_ERR_N; i++)
    n += i == LOAD_ERR_HTTP_404 ? 0 : r->errors[i];
  return n;
}

static void fill_routes(struct load_report *r, struct load_http *h)
{
  for (int i = 0; i < LOAD_RT_N; i++) {
    struct load_route_stats *s = &r->routes[i];
    struct load_lat *l = &h->route_lat[i];
    s->requests = h->route_req[i];
    s->errors = h->route_err[i];
    s->p50 = l->n ? load_lat_percentile(l, 50) : -1;
    s->p95 = l->n ? load_lat_percentile(l, 95) : -1;
    s->p99 = l->n ? load_lat_percentile(l, 99) : -1;
    s->max = l->n ? l->max : -1;
    s->mean = l->seen ? l->sum / (double)l->seen : -1;
  }
  r->markers_sent = h->markers_sent;
  r->markers_seen = h->markers_seen;
  r->e2e_p50 = h->e2e.n ? load_lat_percentile(&h->e2e, 50) : -1;
  r->e2e_p95 = h->e2e.n ? load_lat_percentile(&h->e2e, 95) : -1;
  r->e2e_p99 = h->e2e.n ? load_lat_percentile(&h->e2e, 99) : -1;
  r->e2e_max = h->e2e.n ? h->e2e.max : -1;
}

int main(int argc, char **argv)
{
  struct load_opts o;
  char err[LOAD_ERRLEN];
  int prc = load_args_parse(argc, argv, env_lookup, NULL, &o, err, sizeof err);
  if (prc == LOAD_ARGS_HELP) {
    fputs(load_args_usage(), stdout);
    return 0;
  }
  if (prc != LOAD_ARGS_OK) {
    fprintf(stderr, "loadgen: %s (--help lists the options)\n", err);
    return 2;
  }
  if (o.plot_from) {
    if (load_plot(o.plot_from, o.plot_dir, err, sizeof err) != 0) {
      fprintf(stderr, "loadgen: %s\n", err);
      return 1;
    }
    return 0;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  mosquitto_lib_init();

  int exit_rc = 1;
  struct load_run run = {.o = &o, .ndev = o.devices};
  struct load_http h = {0};
  struct load_report rep = {.o = &o, .stored = -1};
  struct load_counts before = {0};
  struct mqtt_job job = {.run = &run};
  pthread_t mqtt_thread;
  bool mqtt_started = false;
  pthread_mutex_init(&run.http_win.mu, NULL);
  pthread_mutex_init(&run.e2e_win.mu, NULL);
  run.dev_published = calloc((size_t)o.devices, sizeof *run.dev_published);
  if (!run.dev_published || load_lat_init(&run.http_win.lat, 100000) != 0 ||
      load_lat_init(&run.e2e_win.lat, 1000) != 0) {
    fprintf(stderr, "loadgen: out of memory\n");
    return 1;
  }
  if (o.http_url && load_counts_fetch(&o, &before, err, sizeof err) != 0) {
    fprintf(stderr, "loadgen: count check: %s\n", err);
    goto out;
  }

  run.start_mono_ms = load_mono_ms();
  run.start_wall_ms = load_wall_ms();
  rep.started_wall_ms = run.start_wall_ms;
  if (o.http_url && load_http_start(&run, &h) != 0) {
    fprintf(stderr, "loadgen: the HTTP side could not start\n");
    goto out;
  }
  if (o.scenario == LOAD_SC_DEVICES) {
    if (pthread_create(&mqtt_thread, NULL, mqtt_main, &job) != 0)
      goto out;
    mqtt_started = true;
  }

  /* The main loop: one tick a second until the duration, the sample
   * count, a signal, or the publishers' end. */
  bool tty = o.progress == -1 ? isatty(STDERR_FILENO) != 0 : false;
  bool show = o.progress != 0;
  struct tick_state ts = {.last_stored = -1};
  if (o.metrics_url)
    ts.last_stored = metrics_stored(o.metrics_url);
  long long metrics_start = ts.last_stored;
  double next_tick = run.start_mono_ms + 1000;
  rep.stopped_by = "samples";
  for (;;) {
    usleep(50 * 1000);
    double now = load_mono_ms();
    if (g_signals) {
      rep.stopped_by = "signal";
      break;
    }
    if (o.duration_s > 0 && now - run.start_mono_ms >= o.duration_s * 1000) {
      rep.stopped_by = "duration";
      break;
    }
    if (mqtt_started && atomic_load(&job.done)) {
      rep.stopped_by = job.rc == 0 ? "samples" : "error";
      break;
    }
    if (o.scenario == LOAD_SC_SEED && atomic_load(&h.seed_done))
      break;
    if (now < next_tick)
      continue;
    next_tick += 1000;
    tick(&o, &run, &rep, &ts, now, show, tty);
  }
  atomic_store(&run.stop, 1);
  /* The last part-second, so that the timeline adds up to the totals. */
  if (load_mono_ms() - run.start_mono_ms > (double)rep.nticks * 1000 + 100)
    tick(&o, &run, &rep, &ts, load_mono_ms(), show, tty);
  if (tty && show)
    fputc('\n', stderr);
  if (mqtt_started)
    pthread_join(mqtt_thread, NULL);
  mqtt_started = false;
  load_http_join(&h);
  double elapsed_ms = load_mono_ms() - run.start_mono_ms;
  rep.duration_s = elapsed_ms / 1000;

  rep.published = atomic_load(&run.published);
  rep.messages = atomic_load(&run.messages);
  rep.http_requests = atomic_load(&run.http_requests);
  for (int i = 0; i < LOAD_ERR_N; i++)
    rep.errors[i] = atomic_load(&run.errors[i]);
  if (o.http_url) {
    fill_routes(&rep, &h);
    if (load_count_check(&o, &before, run.dev_published, o.settle_s, &rep, err, sizeof err) != 0)
      fprintf(stderr, "loadgen: count check: %s\n", err);
  }
  if (o.metrics_url && rep.stored < 0 && metrics_start >= 0) {
    /* No count check: what ingest stored meanwhile (all devices). */
    long long s = metrics_stored(o.metrics_url);
    if (s >= 0)
      rep.stored = s - metrics_start;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  rep.peak_rss_kib = ru.ru_maxrss;

  /* The line scripts/bench.sh parses: samples acknowledged per second from
   * the start (connecting included) to the last PUBACK. */
  struct load_mqtt_totals *t = &job.t;
  if (o.scenario == LOAD_SC_DEVICES) {
    /* The publishers' own span, not the main loop's (it notices the end
     * up to 50 ms later, then joins the HTTP side). */
    elapsed_ms = job.end_mono_ms - run.start_mono_ms;
    double ok =
        t->sent_msgs > 0 ? (double)t->sent_samples * (double)t->acked / (double)t->sent_msgs : 0;
    printf("loadgen samples=%lld messages=%lld acked=%lld failed=%lld elapsed_ms=%.1f "
           "rate=%.0f msg_rate=%.0f start_ms=%.0f end_ms=%.0f rss_kib=%ld\n",
           t->sent_samples, t->sent_msgs, t->acked, t->failed, elapsed_ms,
           elapsed_ms > 0 ? ok * 1000.0 / elapsed_ms : 0,
           elapsed_ms > 0 ? (double)t->acked * 1000.0 / elapsed_ms : 0, run.start_wall_ms,
           run.start_wall_ms + elapsed_ms, rep.peak_rss_kib);
  } else {
    printf("loadgen samples=%lld messages=%lld requests=%lld elapsed_ms=%.1f rate=%.1f "
           "start_ms=%.0f end_ms=%.0f rss_kib=%ld\n",
           rep.published, rep.messages, rep.http_requests, elapsed_ms,
           elapsed_ms > 0 ? (double)rep.published * 1000.0 / elapsed_ms : 0, run.start_wall_ms,
           run.start_wall_ms + elapsed_ms, rep.peak_rss_kib);
  }
  if (o.http_url) {
    /* The same figures as the report, key=value for scripts (bench.sh). */
    const struct load_route_stats *po = &rep.routes[LOAD_RT_POST], *al = &rep.routes[LOAD_RT_ALL];
    printf("loadgen-http duration_s=%.3f post_requests=%lld post_p50=%.3f post_p99=%.3f "
           "all_requests=%lld all_p50=%.3f all_p99=%.3f e2e_markers=%lld e2e_visible=%lld "
           "e2e_p50=%.3f e2e_p95=%.3f e2e_p99=%.3f checked=%d published=%lld stored=%lld "
           "lost=%lld doubled=%lld errors=%lld\n",
           rep.duration_s, po->requests, po->p50, po->p99, al->requests, al->p50, al->p99,
           rep.markers_sent, rep.markers_seen, rep.e2e_p50, rep.e2e_p95, rep.e2e_p99,
           rep.count_checked, rep.cc_published, rep.cc_stored, rep.lost, rep.doubled,
           run_errors(&rep));
  }
  if (o.http_url || o.report_path || o.plot_dir || o.scenario == LOAD_SC_SEED)
    load_report_print_table(&rep, stdout);
  fflush(stdout);

  char report_path[4096];
  const char *rp = o.report_path;
  if (!rp && o.plot_dir) {
    if (load_plot_mkdir(o.plot_dir, err, sizeof err) != 0) {
      fprintf(stderr, "loadgen: %s\n", err);
      goto out;
    }
    snprintf(report_path, sizeof report_path, "%s/report.json", o.plot_dir);
    rp = report_path;
  }
  if (rp && load_report_write_json(&rep, rp, err, sizeof err) != 0) {
    fprintf(stderr, "loadgen: report: %s\n", err);
    goto out;
  }
  if (o.plot_dir && load_plot(rp, o.plot_dir, err, sizeof err) != 0) {
    fprintf(stderr, "loadgen: charts: %s\n", err);
    goto out;
  }

  long long bad = run_errors(&rep);
  bool ok_mqtt = o.scenario != LOAD_SC_DEVICES ||
                 (job.rc == 0 && t->failed == 0 && t->acked == t->sent_msgs && !t->failed_conn);
  bool ok_count = !rep.count_checked || (rep.lost == 0 && rep.doubled == 0);
  exit_rc = ok_mqtt && ok_count && bad == 0 && !h.setup_failed ? 0 : 1;
out:
  atomic_store(&run.stop, 1);
  if (mqtt_started)
    pthread_join(mqtt_thread, NULL);
  load_http_join(&h);
  load_http_cleanup(&h);
  load_counts_cleanup(&before);
  load_report_cleanup(&rep);
  load_lat_cleanup(&run.http_win.lat);
  load_lat_cleanup(&run.e2e_win.lat);
  free(run.dev_published);
  mosquitto_lib_cleanup();
  curl_global_cleanup();
  return exit_rc;
}
