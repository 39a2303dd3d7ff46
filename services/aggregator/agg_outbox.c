/* Status events from workers to the main thread (see agg_outbox.h). */
#include "agg_outbox.h"

#include <string.h>

int agg_outbox_init(struct agg_outbox *o)
{
  memset(o, 0, sizeof *o);
  return pthread_mutex_init(&o->lock, NULL) == 0 ? DS_OK : DS_ENOMEM;
}

void agg_outbox_cleanup(struct agg_outbox *o)
{
  pthread_mutex_destroy(&o->lock);
}

void agg_outbox_push(struct agg_outbox *o, const struct ds_recalc_status *st)
{
  pthread_mutex_lock(&o->lock);
  if (o->len == AGG_OUTBOX_CAP) {
    o->head = (o->head + 1) % AGG_OUTBOX_CAP;
    o->len--;
    o->dropped++;
  }
  o->items[(o->head + o->len) % AGG_OUTBOX_CAP] = *st;
  o->len++;
  pthread_mutex_unlock(&o->lock);
}

bool agg_outbox_pop(struct agg_outbox *o, struct ds_recalc_status *st)
{
  pthread_mutex_lock(&o->lock);
  bool got = o->len > 0;
  if (got) {
    *st = o->items[o->head];
    o->head = (o->head + 1) % AGG_OUTBOX_CAP;
    o->len--;
  }
  pthread_mutex_unlock(&o->lock);
  return got;
}

unsigned long long agg_outbox_dropped(struct agg_outbox *o)
{
  pthread_mutex_lock(&o->lock);
  unsigned long long d = o->dropped;
  pthread_mutex_unlock(&o->lock);
  return d;
}
