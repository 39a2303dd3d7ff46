/* Rate control (see load_rate.h).  The target is a closed form of the
 * elapsed time, so pacing never drifts however late the sender wakes up. */
#include "load_rate.h"

#include <math.h>

void load_rate_init(struct load_rate *r, double rate_per_s, double ramp_ms, double start_ms)
{
  r->rate_per_s = rate_per_s > 0 ? rate_per_s : 0;
  r->ramp_ms = ramp_ms > 0 ? ramp_ms : 0;
  r->start_ms = start_ms;
  r->sent = 0;
}

double load_rate_target(const struct load_rate *r, double now_ms)
{
  double t = now_ms - r->start_ms, per_ms = r->rate_per_s / 1000.0;
  if (t <= 0)
    return 0;
  if (t < r->ramp_ms)
    return per_ms * t * t / (2.0 * r->ramp_ms);
  return per_ms * (t - r->ramp_ms / 2.0);
}

int64_t load_rate_allowed(const struct load_rate *r, double now_ms, int64_t max)
{
  if (r->rate_per_s <= 0)
    return max;
  /* The first message goes at the start: floor(target) + 1 are due. */
  double due = floor(load_rate_target(r, now_ms)) + 1 - (double)r->sent;
  if (due <= 0)
    return 0;
  return due > (double)max ? max : (int64_t)due;
}

void load_rate_sent(struct load_rate *r, int64_t n)
{
  r->sent += n;
}

double load_rate_wait_ms(const struct load_rate *r, double now_ms)
{
  if (r->rate_per_s <= 0 || load_rate_allowed(r, now_ms, 1) > 0)
    return 0;
  /* The time at which target reaches sent (the (sent+1)-th message). */
  double want = (double)r->sent, per_ms = r->rate_per_s / 1000.0, t;
  double ramp_total = per_ms * r->ramp_ms / 2.0; /* due by the end of the ramp */
  if (r->ramp_ms > 0 && want < ramp_total)
    t = sqrt(want * 2.0 * r->ramp_ms / per_ms);
  else
    t = want / per_ms + r->ramp_ms / 2.0;
  double w = r->start_ms + t - now_ms;
  return w > 0 ? w : 0;
}

long load_rate_online(long total, double ramp_ms, double start_ms, double now_ms)
{
  if (total <= 0)
    return 0;
  double t = now_ms - start_ms;
  if (ramp_ms <= 0 || t >= ramp_ms)
    return total;
  if (t <= 0)
    return 1;
  long n = (long)ceil((double)total * t / ramp_ms);
  return n < 1 ? 1 : n > total ? total : n;
}
