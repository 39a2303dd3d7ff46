/* Helpers of the shared run state (see load_run.h). */
#include "load_run.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const err_names[LOAD_ERR_N] = {
    "publish_failed", "mqtt_connection", "http_4xx",      "http_404",
    "http_5xx",       "http_transport",  "marker_timeout"};

const char *load_err_name(enum load_err e)
{
  return (unsigned)e < LOAD_ERR_N ? err_names[e] : "?";
}

static double clock_ms(clockid_t clk)
{
  struct timespec t;
  clock_gettime(clk, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

double load_mono_ms(void)
{
  return clock_ms(CLOCK_MONOTONIC);
}

double load_wall_ms(void)
{
  return clock_ms(CLOCK_REALTIME);
}

int load_device_name(const struct load_opts *o, long d, char *buf, size_t cap)
{
  int n = o->scenario == LOAD_SC_SEED ? snprintf(buf, cap, "device-%ld", d + 1)
                                      : snprintf(buf, cap, "%s%04ld", o->prefix, d);
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

long load_device_index(const struct load_opts *o, const char *name)
{
  const char *pre = o->scenario == LOAD_SC_SEED ? "device-" : o->prefix;
  size_t pl = strlen(pre);
  if (strncmp(name, pre, pl) != 0 || name[pl] == '\0')
    return -1;
  long v = 0;
  for (const char *p = name + pl; *p; p++) {
    if (*p < '0' || *p > '9' || v > 100000000)
      return -1;
    v = v * 10 + (*p - '0');
  }
  if (o->scenario == LOAD_SC_SEED)
    v -= 1;
  if (v < 0 || v >= o->devices)
    return -1;
  /* Only the canonical spelling (device-01 or ld-12 are other devices). */
  char canon[LOAD_NAME_MAX + 1];
  if (load_device_name(o, v, canon, sizeof canon) < 0 || strcmp(canon, name) != 0)
    return -1;
  return v;
}

void load_window_add(struct load_window *w, double ms)
{
  pthread_mutex_lock(&w->mu);
  load_lat_add(&w->lat, ms);
  pthread_mutex_unlock(&w->mu);
}
