/* The bounded queue that carries status events from the worker threads to
 * the main thread, which alone talks to the broker.  When full, the oldest
 * event is dropped (and counted): a newer status of a run supersedes it. */
#ifndef AGG_OUTBOX_H
#define AGG_OUTBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "ds/recalc_status.h"

#define AGG_OUTBOX_CAP 128

struct agg_outbox {
  pthread_mutex_t lock;
  struct ds_recalc_status items[AGG_OUTBOX_CAP];
  size_t head, len;
  unsigned long long dropped;
};

DS_MUSTCHECK int agg_outbox_init(struct agg_outbox *o);
void agg_outbox_cleanup(struct agg_outbox *o);
/* Copies *st in. */
void agg_outbox_push(struct agg_outbox *o, const struct ds_recalc_status *st);
/* Copies the oldest event out; false when empty. */
bool agg_outbox_pop(struct agg_outbox *o, struct ds_recalc_status *st);
unsigned long long agg_outbox_dropped(struct agg_outbox *o);

#endif
