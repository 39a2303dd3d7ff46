/* Rate control for the load generator: how many messages should have gone
 * out by a given time, for a fixed rate with an optional linear ramp-up,
 * and how many devices are online during the ramp.  Pure: the caller
 * passes the time (milliseconds on any monotonic clock). */
#ifndef LOAD_RATE_H
#define LOAD_RATE_H

#include <stdint.h>

struct load_rate {
  double rate_per_s; /* full rate; 0 = as fast as possible */
  double ramp_ms;    /* the rate grows linearly from 0 over this time */
  double start_ms;
  int64_t sent;
};

/* Starts pacing at start_ms. */
void load_rate_init(struct load_rate *r, double rate_per_s, double ramp_ms, double start_ms);

/* Messages due by now_ms since the start: rate x elapsed after the ramp,
 * the integral of the linear ramp during it (rate t^2 / 2 ramp). */
double load_rate_target(const struct load_rate *r, double now_ms);

/* How many messages may go now (due minus sent, at least 0); unlimited
 * rates answer max.  Burst: at most max at once, so a stall does not turn
 * into a flood bigger than the caller's window. */
int64_t load_rate_allowed(const struct load_rate *r, double now_ms, int64_t max);

/* Records n messages sent. */
void load_rate_sent(struct load_rate *r, int64_t n);

/* Milliseconds from now_ms until the next message is due (0 when one is
 * due now or the rate is unlimited). */
double load_rate_wait_ms(const struct load_rate *r, double now_ms);

/* Devices online at now_ms during a ramp of ramp_ms from start_ms: evenly
 * from 1 to total (total when ramp_ms is 0 or past). */
long load_rate_online(long total, double ramp_ms, double start_ms, double now_ms);

#endif
