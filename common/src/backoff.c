/* Capped exponential backoff (see ds/backoff.h). */
#include "ds/backoff.h"

#include "ds/signal.h"
#include "ds/time.h"

void ds_backoff_init(struct ds_backoff *b, long min_ms, long max_ms)
{
  if (min_ms <= 0)
    min_ms = DS_BACKOFF_MIN_MS_DEFAULT;
  if (max_ms < min_ms)
    max_ms = min_ms > DS_BACKOFF_MAX_MS_DEFAULT ? min_ms : DS_BACKOFF_MAX_MS_DEFAULT;
  b->min_ms = min_ms;
  b->max_ms = max_ms;
  b->delay_ms = min_ms;
  b->next_at_ms = 0;
  b->down = false;
  b->failures = 0;
}

bool ds_backoff_due(const struct ds_backoff *b, int64_t now_ms)
{
  return now_ms >= b->next_at_ms;
}

long ds_backoff_left_ms(const struct ds_backoff *b, int64_t now_ms)
{
  return now_ms >= b->next_at_ms ? 0 : (long)(b->next_at_ms - now_ms);
}

bool ds_backoff_failed(struct ds_backoff *b, int64_t now_ms)
{
  bool began = !b->down;
  b->down = true;
  b->failures++;
  b->next_at_ms = now_ms + b->delay_ms;
  b->delay_ms = b->delay_ms > b->max_ms / 2 ? b->max_ms : b->delay_ms * 2;
  return began;
}

bool ds_backoff_succeeded(struct ds_backoff *b)
{
  bool ended = b->down;
  b->down = false;
  b->failures = 0;
  b->delay_ms = b->min_ms;
  b->next_at_ms = 0;
  return ended;
}

bool ds_backoff_wait(const struct ds_backoff *b)
{
  long left = ds_backoff_left_ms(b, ds_time_mono_ms());
  return left == 0 ? !ds_signal_stop_requested() : ds_signal_sleep_ms(left);
}
