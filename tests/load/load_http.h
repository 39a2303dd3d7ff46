/* The HTTP side of devicestats-loadgen, on one thread with libcurl's multi
 * interface: R readers issuing a weighted mix of GETs, the seed preset's
 * virtual users (POST or publish a sample, then GET the device's all-time
 * statistics, think 1-5 s), and the marker: a sample published every
 * --marker-ms on its own device and polled until the statistics count it
 * (the publish->visible latency). */
#ifndef LOAD_HTTP_H
#define LOAD_HTTP_H

#include "load_fetch.h"
#include "load_run.h"

struct load_http {
  struct load_run *run;
  pthread_t thread;
  bool started;
  atomic_int seed_done; /* the seed users have sent --samples requests */
  /* Owned by the HTTP thread; read after load_http_join. */
  struct load_lat route_lat[LOAD_RT_N];
  long long route_req[LOAD_RT_N], route_err[LOAD_RT_N];
  struct load_lat e2e; /* publish -> visible, ms */
  long long markers_sent, markers_seen;
  char marker_device[LOAD_NAME_MAX + 1];
  int setup_failed; /* could not start (a line on stderr) */
  void *ctx;        /* the thread's own state */
};

/* Starts the HTTP thread.  0, or -1 (with a line on stderr). */
int load_http_start(struct load_run *run, struct load_http *h);
/* Waits for the thread, which ends once run->stop is set and its last
 * requests (and the last marker, at most 10 s more) are answered. */
void load_http_join(struct load_http *h);
/* Frees what the thread left (after join). */
void load_http_cleanup(struct load_http *h);

#endif
