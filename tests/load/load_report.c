/* The report of a load run (see load_report.h), JSON through json-c. */
#include "load_report.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

int load_report_tick(struct load_report *r, const struct load_tick *t)
{
  if (r->nticks == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    struct load_tick *p = realloc(r->ticks, cap * sizeof *p);
    if (!p)
      return -1;
    r->ticks = p;
    r->cap = cap;
  }
  r->ticks[r->nticks++] = *t;
  return 0;
}

void load_report_cleanup(struct load_report *r)
{
  free(r->ticks);
  r->ticks = NULL;
  r->nticks = r->cap = 0;
}

/* A latency or rate rounded to 0.001 (or null for "none": negative). */
static struct json_object *num(double v)
{
  if (v < 0)
    return NULL;
  return json_object_new_double((double)(long long)(v * 1000.0 + 0.5) / 1000.0);
}

static void put(struct json_object *o, const char *k, struct json_object *v)
{
  json_object_object_add(o, k, v);
}

static struct json_object *pct(double p50, double p95, double p99, double max)
{
  struct json_object *o = json_object_new_object();
  put(o, "p50", num(p50));
  put(o, "p95", num(p95));
  put(o, "p99", num(p99));
  if (max >= 0)
    put(o, "max", num(max));
  return o;
}

static const char *scenario_name(const struct load_opts *o)
{
  return o->scenario == LOAD_SC_SEED ? "seed" : "devices";
}

static struct json_object *options_json(const struct load_opts *o)
{
  struct json_object *j = json_object_new_object();
  put(j, "transport", json_object_new_string(o->transport == LOAD_TR_HTTP ? "http" : "mqtt"));
  put(j, "devices", json_object_new_int64(o->devices));
  put(j, "samples", json_object_new_int64(o->samples));
  put(j, "duration_s", num(o->duration_s));
  put(j, "rate_per_device", num(o->rate));
  put(j, "ramp_s", num(o->ramp_s));
  put(j, "batch", json_object_new_int64(o->batch));
  put(j, "qos", json_object_new_int64(o->qos));
  put(j, "connections", json_object_new_int64(o->conns));
  put(j, "timestamps", json_object_new_boolean(!o->no_ts));
  put(j, "readers", json_object_new_int64(o->readers));
  struct json_object *mix = json_object_new_object();
  for (int i = 0; i < LOAD_READ_ROUTES; i++)
    put(mix, load_route_name((enum load_route)i), json_object_new_int64(o->mix[i]));
  put(j, "mix", mix);
  if (o->scenario == LOAD_SC_SEED) {
    put(j, "users", json_object_new_int64(o->users));
    put(j, "think_min_s", num(o->think_min_s));
    put(j, "think_max_s", num(o->think_max_s));
  }
  put(j, "marker_ms", num(o->marker_ms));
  return j;
}

static struct json_object *report_json(const struct load_report *r)
{
  const struct load_opts *o = r->o;
  double d = r->duration_s > 0 ? r->duration_s : 1;
  struct json_object *j = json_object_new_object(), *t;
  put(j, "tool", json_object_new_string("devicestats-loadgen"));
  put(j, "report_version", json_object_new_int(1));
  put(j, "scenario", json_object_new_string(scenario_name(o)));
  put(j, "options", options_json(o));
  put(j, "started_at_ms", json_object_new_int64((int64_t)r->started_wall_ms));
  put(j, "duration_s", num(r->duration_s));
  put(j, "stopped_by", json_object_new_string(r->stopped_by ? r->stopped_by : "?"));

  t = json_object_new_object();
  put(t, "published", json_object_new_int64(r->published));
  put(t, "messages", json_object_new_int64(r->messages));
  put(t, "published_per_s", num((double)r->published / d));
  put(t, "stored", r->stored >= 0 ? json_object_new_int64(r->stored) : NULL);
  put(t, "stored_per_s", r->stored >= 0 ? num((double)r->stored / d) : NULL);
  put(t, "http_requests", json_object_new_int64(r->http_requests));
  put(t, "http_per_s", num((double)r->http_requests / d));
  put(j, "throughput", t);

  t = pct(r->e2e_p50, r->e2e_p95, r->e2e_p99, r->e2e_max);
  put(t, "markers", json_object_new_int64(r->markers_sent));
  put(t, "visible", json_object_new_int64(r->markers_seen));
  put(j, "e2e_latency_ms", t);

  struct json_object *routes = json_object_new_object();
  for (int i = 0; i < LOAD_RT_N; i++) {
    const struct load_route_stats *s = &r->routes[i];
    if (s->requests == 0)
      continue;
    t = pct(s->p50, s->p95, s->p99, s->max);
    put(t, "requests", json_object_new_int64(s->requests));
    put(t, "errors", json_object_new_int64(s->errors));
    put(t, "mean", num(s->mean));
    put(routes, load_route_name((enum load_route)i), t);
  }
  put(j, "http_latency_ms", routes);

  t = json_object_new_object();
  for (int i = 0; i < LOAD_ERR_N; i++)
    put(t, load_err_name((enum load_err)i), json_object_new_int64(r->errors[i]));
  put(j, "errors", t);

  t = json_object_new_object();
  put(t, "checked", json_object_new_boolean(r->count_checked != 0));
  if (r->count_checked) {
    put(t, "published", json_object_new_int64(r->cc_published));
    put(t, "stored", json_object_new_int64(r->cc_stored));
    put(t, "lost", json_object_new_int64(r->lost));
    put(t, "doubled", json_object_new_int64(r->doubled));
  }
  put(j, "count_check", t);
  put(j, "peak_rss_kib", json_object_new_int64(r->peak_rss_kib));

  struct json_object *tl = json_object_new_array();
  for (size_t i = 0; i < r->nticks; i++) {
    const struct load_tick *k = &r->ticks[i];
    t = json_object_new_object();
    put(t, "t", num(k->t_s));
    put(t, "published", json_object_new_int64(k->published));
    put(t, "stored", k->stored >= 0 ? json_object_new_int64(k->stored) : NULL);
    put(t, "http", json_object_new_int64(k->http));
    put(t, "errors", json_object_new_int64(k->errors));
    put(t, "http_p50", num(k->http_p50));
    put(t, "http_p95", num(k->http_p95));
    put(t, "http_p99", num(k->http_p99));
    put(t, "e2e_p50", num(k->e2e_p50));
    put(t, "e2e_p95", num(k->e2e_p95));
    put(t, "e2e_p99", num(k->e2e_p99));
    json_object_array_add(tl, t);
  }
  put(j, "timeline", tl);
  return j;
}

int load_report_write_json(const struct load_report *r, const char *path, char *err, size_t errlen)
{
  struct json_object *j = report_json(r);
  int rc = 0;
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    snprintf(err, errlen, "%s: path too long", path);
    json_object_put(j);
    return -1;
  }
  /* Written aside and renamed: a reader never sees half a report. */
  if (json_object_to_file_ext(tmp, j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED) != 0 ||
      rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    rc = -1;
  }
  json_object_put(j);
  return rc;
}

static void fmt_ms(char *b, size_t cap, double v)
{
  if (v < 0)
    snprintf(b, cap, "-");
  else
    snprintf(b, cap, "%.1f ms", v);
}

void load_report_print_table(const struct load_report *r, FILE *f)
{
  const struct load_opts *o = r->o;
  double d = r->duration_s > 0 ? r->duration_s : 1;
  char a[32], b[32], c[32], m[32];
  fprintf(f, "\nDeviceStats load run: %s scenario over %s, %.1f s (stopped by %s)\n\n",
          scenario_name(o), o->transport == LOAD_TR_HTTP ? "HTTP" : "MQTT", r->duration_s,
          r->stopped_by ? r->stopped_by : "?");
  fprintf(f, "| what | count | per second |\n| --- | ---: | ---: |\n");
  fprintf(f, "| samples published | %lld | %.0f |\n", r->published, (double)r->published / d);
  if (r->stored >= 0)
    fprintf(f, "| samples stored | %lld | %.0f |\n", r->stored, (double)r->stored / d);
  fprintf(f, "| HTTP requests | %lld | %.1f |\n\n", r->http_requests, (double)r->http_requests / d);

  fprintf(f,
          "| latency | n | p50 | p95 | p99 | max |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
  if (r->markers_sent > 0) {
    fmt_ms(a, sizeof a, r->e2e_p50);
    fmt_ms(b, sizeof b, r->e2e_p95);
    fmt_ms(c, sizeof c, r->e2e_p99);
    fmt_ms(m, sizeof m, r->e2e_max);
    fprintf(f,
            "| publish -> visible in statistics (markers seen/sent %lld/%lld) | %lld | %s | %s "
            "| %s | %s |\n",
            r->markers_seen, r->markers_sent, r->markers_seen, a, b, c, m);
  }
  for (int i = 0; i < LOAD_RT_N; i++) {
    const struct load_route_stats *s = &r->routes[i];
    if (s->requests == 0)
      continue;
    fmt_ms(a, sizeof a, s->p50);
    fmt_ms(b, sizeof b, s->p95);
    fmt_ms(c, sizeof c, s->p99);
    fmt_ms(m, sizeof m, s->max);
    fprintf(f, "| HTTP %s (%lld errors) | %lld | %s | %s | %s | %s |\n",
            load_route_name((enum load_route)i), s->errors, s->requests, a, b, c, m);
  }
  fprintf(f, "\n| errors | count |\n| --- | ---: |\n");
  for (int i = 0; i < LOAD_ERR_N; i++)
    fprintf(f, "| %s | %lld |\n", load_err_name((enum load_err)i), r->errors[i]);
  if (r->count_checked)
    fprintf(f, "\ncount check: published %lld, stored %lld: lost %lld, doubled %lld\n",
            r->cc_published, r->cc_stored, r->lost, r->doubled);
  else
    fprintf(f, "\ncount check: not done (no --http)\n");
  fprintf(f, "loadgen peak RSS: %.1f MiB\n", (double)r->peak_rss_kib / 1024.0);
}
