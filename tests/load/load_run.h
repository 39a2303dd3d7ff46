/* The state one load run shares between its threads: the MQTT publishing
 * threads (load_mqtt.c), the HTTP thread (load_http.c) and the main thread
 * (progress, report).  Counters are atomics; the two per-second latency
 * windows are locked; everything else is owned by one thread and read by
 * the main thread only after that thread has been joined. */
#ifndef LOAD_RUN_H
#define LOAD_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "load_args.h"
#include "load_lat.h"

/* Errors by kind, as the report names them. */
enum load_err {
  LOAD_ERR_PUBLISH,        /* a publish call failed */
  LOAD_ERR_CONN,           /* an MQTT connection failed or was lost */
  LOAD_ERR_HTTP_4XX,       /* a 4xx answer other than 404 */
  LOAD_ERR_HTTP_404,       /* 404: unknown device or no samples (not a failure of the run) */
  LOAD_ERR_HTTP_5XX,       /* a 5xx answer */
  LOAD_ERR_HTTP_TRANSPORT, /* no answer (refused, timeout, reset) */
  LOAD_ERR_MARKER_TIMEOUT, /* a marker not visible within 30 s */
  LOAD_ERR_N
};

const char *load_err_name(enum load_err e);

/* Latencies of the current second, locked (filled by one thread, read and
 * reset by the main thread). */
struct load_window {
  pthread_mutex_t mu;
  struct load_lat lat;
};

struct load_run {
  const struct load_opts *o;
  atomic_int stop;            /* set by the main thread: stop sending */
  double start_mono_ms;       /* CLOCK_MONOTONIC at the start */
  double start_wall_ms;       /* CLOCK_REALTIME at the start */
  atomic_llong published;     /* samples published (markers excluded) */
  atomic_llong messages;      /* messages (MQTT) or POSTs carrying them */
  atomic_llong http_requests; /* answered requests (marker polls excluded) */
  atomic_llong errors[LOAD_ERR_N];
  struct load_window http_win; /* this second's HTTP latencies (marker polls excluded) */
  struct load_window e2e_win;  /* this second's publish->visible latencies */
  /* Samples published per device (index as in load_device_name); each
   * device is written by one thread only. */
  int64_t *dev_published;
  long ndev;
};

/* Monotonic and wall-clock milliseconds. */
double load_mono_ms(void);
double load_wall_ms(void);

/* The name of device index d (0-based) of this run: prefix%04ld, or
 * device-(d+1) in the seed preset.  Returns the length, or -1 when it does
 * not fit in cap. */
int load_device_name(const struct load_opts *o, long d, char *buf, size_t cap);
/* The inverse: the device index of name in this run, or -1. */
long load_device_index(const struct load_opts *o, const char *name);

/* Adds one latency to a window. */
void load_window_add(struct load_window *w, double ms);

#endif
