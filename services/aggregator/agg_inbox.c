/* Recorded commands from the receiver to the main thread (see agg_inbox.h). */
#include "agg_inbox.h"

#include <string.h>
#include <time.h>

int agg_inbox_init(struct agg_inbox *q)
{
  memset(q, 0, sizeof *q);
  if (pthread_mutex_init(&q->lock, NULL) != 0)
    return DS_ENOMEM;
  pthread_condattr_t a;
  int rc = pthread_condattr_init(&a);
  if (rc == 0) {
    /* Timeouts on the monotonic clock: a wall-clock step must not stretch
     * a wait. */
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (rc == 0)
      rc = pthread_cond_init(&q->changed, &a);
    pthread_condattr_destroy(&a);
  }
  if (rc != 0) {
    pthread_mutex_destroy(&q->lock);
    return DS_ENOMEM;
  }
  return DS_OK;
}

void agg_inbox_cleanup(struct agg_inbox *q)
{
  pthread_cond_destroy(&q->changed);
  pthread_mutex_destroy(&q->lock);
}

static struct timespec deadline(long timeout_ms)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  long ns = t.tv_nsec + (timeout_ms % 1000) * 1000000L;
  t.tv_sec += timeout_ms / 1000 + ns / 1000000000L;
  t.tv_nsec = ns % 1000000000L;
  return t;
}

bool agg_inbox_push(struct agg_inbox *q, const struct agg_recorded *r, long timeout_ms)
{
  struct timespec until = deadline(timeout_ms > 0 ? timeout_ms : 0);
  pthread_mutex_lock(&q->lock);
  while (q->len == AGG_INBOX_CAP)
    if (pthread_cond_timedwait(&q->changed, &q->lock, &until) != 0)
      break;
  bool room = q->len < AGG_INBOX_CAP;
  if (room) {
    q->items[(q->head + q->len) % AGG_INBOX_CAP] = *r;
    q->len++;
    pthread_cond_broadcast(&q->changed);
  }
  pthread_mutex_unlock(&q->lock);
  return room;
}

bool agg_inbox_pop(struct agg_inbox *q, struct agg_recorded *r)
{
  pthread_mutex_lock(&q->lock);
  bool got = q->len > 0;
  if (got) {
    *r = q->items[q->head];
    q->head = (q->head + 1) % AGG_INBOX_CAP;
    q->len--;
    pthread_cond_broadcast(&q->changed);
  }
  pthread_mutex_unlock(&q->lock);
  return got;
}

bool agg_inbox_wait(struct agg_inbox *q, long timeout_ms)
{
  struct timespec until = deadline(timeout_ms > 0 ? timeout_ms : 0);
  pthread_mutex_lock(&q->lock);
  while (q->len == 0)
    if (pthread_cond_timedwait(&q->changed, &q->lock, &until) != 0)
      break;
  bool any = q->len > 0;
  pthread_mutex_unlock(&q->lock);
  return any;
}
