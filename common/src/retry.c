/* Capped exponential backoff around a connection attempt (see ds/retry.h). */
#include "ds/retry.h"

#include <stdbool.h>
#include <stdint.h>

#include "ds/log.h"
#include "ds/signal.h"
#include "ds/time.h"

int ds_retry(ds_retry_fn attempt, void *ctx, const char *down_event, const char *up_event,
             long max_backoff_ms, long timeout_ms)
{
  long backoff = 100;
  int64_t start = ds_time_mono_ms();
  bool reported = false;
  for (;;) {
    char err[DS_ERRLEN] = "";
    if (attempt(ctx, err) == DS_OK) {
      if (reported)
        ds_log_msg(DS_LOG_INFO, up_event, "reachable again");
      return DS_OK;
    }
    if (!reported) {
      ds_log_msg(DS_LOG_WARN, down_event, "%s; retrying with backoff up to %ld ms", err,
                 max_backoff_ms);
      reported = true;
    }
    if (timeout_ms >= 0 && ds_time_mono_ms() - start >= timeout_ms)
      return DS_ETIMEOUT;
    if (!ds_signal_sleep_ms(backoff))
      return DS_ESTOPPED;
    backoff = backoff * 2 > max_backoff_ms ? max_backoff_ms : backoff * 2;
  }
}
