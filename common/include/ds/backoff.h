/* One reconnect policy for every service: capped exponential backoff that
 * never blocks by itself.  The caller asks whether an attempt is due, reports
 * each attempt's outcome, and logs the outage once (when ds_backoff_failed
 * says it began) and the recovery once (when ds_backoff_succeeded says it
 * ended).  ds_backoff_wait is the stop-aware sleep for loops that have
 * nothing else to do.  Settings: RETRY_MIN_MS / RETRY_MAX_MS. */
#ifndef DS_BACKOFF_H
#define DS_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define DS_BACKOFF_MIN_MS_DEFAULT 100
#define DS_BACKOFF_MAX_MS_DEFAULT 5000

struct ds_backoff {
  long min_ms, max_ms; /* first delay, cap */
  long delay_ms;       /* delay after the next failure */
  int64_t next_at_ms;  /* monotonic time of the next attempt; 0: now */
  bool down;           /* an outage is under way (reported once) */
  uint64_t failures;   /* failed attempts in this outage */
};

/* min_ms <= 0 or max_ms < min_ms fall back to the defaults above. */
void ds_backoff_init(struct ds_backoff *b, long min_ms, long max_ms);
/* True when an attempt may be made at now_ms (ds_time_mono_ms). */
bool ds_backoff_due(const struct ds_backoff *b, int64_t now_ms);
/* Milliseconds until the next attempt is due (0 when due). */
long ds_backoff_left_ms(const struct ds_backoff *b, int64_t now_ms);
/* Records a failed attempt and schedules the next one.  Returns true when
 * this failure begins an outage: the caller logs it then, and only then. */
bool ds_backoff_failed(struct ds_backoff *b, int64_t now_ms);
/* Records a successful attempt and resets the delay.  Returns true when it
 * ends an outage: the caller logs the recovery then. */
bool ds_backoff_succeeded(struct ds_backoff *b);
/* Sleeps until the next attempt is due, in slices of at most 250 ms;
 * false (early) once a stop is requested. */
bool ds_backoff_wait(const struct ds_backoff *b);

#endif
