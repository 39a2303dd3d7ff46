/* Capped exponential backoff around a connection attempt (see ds/retry.h),
 * on the one policy of ds/backoff.h. */
#include "ds/retry.h"

#include <stdbool.h>
#include <stdint.h>

#include "ds/backoff.h"
#include "ds/log.h"
#include "ds/signal.h"
#include "ds/time.h"

int ds_retry(ds_retry_fn attempt, void *ctx, const char *down_event, const char *up_event,
             long max_backoff_ms, long timeout_ms)
{
  struct ds_backoff b;
  ds_backoff_init(&b, DS_BACKOFF_MIN_MS_DEFAULT, max_backoff_ms);
  int64_t start = ds_time_mono_ms();
  for (;;) {
    char err[DS_ERRLEN] = "";
    if (attempt(ctx, err) == DS_OK) {
      if (ds_backoff_succeeded(&b))
        ds_log_msg(DS_LOG_INFO, up_event, "reachable again");
      return DS_OK;
    }
    if (ds_backoff_failed(&b, ds_time_mono_ms()))
      ds_log_msg(DS_LOG_WARN, down_event, "%s; retrying with backoff up to %ld ms", err, b.max_ms);
    if (timeout_ms >= 0 && ds_time_mono_ms() - start >= timeout_ms)
      return DS_ETIMEOUT;
    if (!ds_backoff_wait(&b))
      return DS_ESTOPPED;
  }
}
