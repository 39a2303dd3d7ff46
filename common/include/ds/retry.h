/* Retrying a connection with capped exponential backoff, logging the state
 * change rather than every attempt.  Shared by the database and broker
 * helpers. */
#ifndef DS_RETRY_H
#define DS_RETRY_H

#include "ds/err.h"

/* One attempt: DS_OK, or an error code with detail in err. */
typedef int (*ds_retry_fn)(void *ctx, char err[DS_ERRLEN]);

/* Calls attempt(ctx, err) until it returns DS_OK, sleeping 100 ms, then
 * twice as long each time up to max_backoff_ms, between attempts.  Logs
 * down_event (warn, with the first failure's detail) once, and up_event
 * (info) when an attempt succeeds after failures.  Returns DS_OK,
 * DS_ESTOPPED when a stop is requested while waiting, or DS_ETIMEOUT once
 * timeout_ms has passed (timeout_ms < 0: never). */
DS_MUSTCHECK int ds_retry(ds_retry_fn attempt, void *ctx, const char *down_event,
                          const char *up_event, long max_backoff_ms, long timeout_ms);

#endif
