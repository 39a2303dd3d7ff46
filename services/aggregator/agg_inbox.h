/* The bounded queue that carries recorded commands from the command
 * receiver (agg_cmd.h, on Paho's thread) to the main thread, which starts
 * runs and publishes status events.  Only commands already recorded in
 * recalc_runs pass through it, so losing one (a killed process) loses a
 * status event, never a command: the run is in the queue table. */
#ifndef AGG_INBOX_H
#define AGG_INBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "ds/recalc_status.h"

#define AGG_INBOX_CAP 32

/* One recorded command: the run's status as the record left it. */
struct agg_recorded {
  struct ds_recalc_status st;
  bool inserted;  /* false: its request_id was recorded before (duplicate) */
  bool malformed; /* recorded as failed (st.error says why) */
};

struct agg_inbox {
  pthread_mutex_t lock;
  pthread_cond_t changed; /* signalled on every push and pop */
  struct agg_recorded items[AGG_INBOX_CAP];
  size_t head, len;
};

DS_MUSTCHECK int agg_inbox_init(struct agg_inbox *q);
void agg_inbox_cleanup(struct agg_inbox *q);
/* Copies *r (borrowed) in, waiting up to timeout_ms for room; false when
 * still full then. */
bool agg_inbox_push(struct agg_inbox *q, const struct agg_recorded *r, long timeout_ms);
/* Copies the oldest item out; false when empty. */
bool agg_inbox_pop(struct agg_inbox *q, struct agg_recorded *r);
/* Waits up to timeout_ms until the queue holds something; true when it
 * does. */
bool agg_inbox_wait(struct agg_inbox *q, long timeout_ms);

#endif
