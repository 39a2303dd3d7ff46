/* The report of a load run: one row per second (the timeline the progress
 * line shows and the charts draw) and the totals, written as a summary
 * table for people and as a JSON file for tools (and load_plot.c). */
#ifndef LOAD_REPORT_H
#define LOAD_REPORT_H

#include <stdio.h>

#include "load_args.h"
#include "load_run.h"

/* One second of the run; counts are deltas over that second, latencies in
 * ms, -1 where there is nothing (no request, no marker, stored unknown). */
struct load_tick {
  double t_s; /* seconds since the start, at the end of the second */
  long long published, stored, http, errors;
  double http_p50, http_p95, http_p99;
  double e2e_p50, e2e_p95, e2e_p99;
};

struct load_route_stats {
  long long requests, errors;
  double p50, p95, p99, max, mean;
};

struct load_report {
  const struct load_opts *o;
  double started_wall_ms, duration_s;
  const char *stopped_by; /* "duration", "samples", "signal", "error" */
  long long published, messages, stored, http_requests; /* stored -1: unknown */
  long long markers_sent, markers_seen;
  double e2e_p50, e2e_p95, e2e_p99, e2e_max;
  struct load_route_stats routes[LOAD_RT_N];
  long long errors[LOAD_ERR_N];
  int count_checked; /* 0: no --http, nothing compared */
  long long cc_published, cc_stored, lost, doubled;
  long peak_rss_kib;
  struct load_tick *ticks; /* owned */
  size_t nticks, cap;
};

/* Appends a second.  0, or -1 when out of memory. */
int load_report_tick(struct load_report *r, const struct load_tick *t);
void load_report_cleanup(struct load_report *r);

/* Writes the JSON report to path.  0, or -1 with the reason in err. */
int load_report_write_json(const struct load_report *r, const char *path, char *err, size_t errlen);

/* The summary table (markdown, readable as plain text). */
void load_report_print_table(const struct load_report *r, FILE *f);

#endif
