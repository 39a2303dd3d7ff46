/* Bounded decoder-thread -> writer-thread queue (see ingest_queue.h). */
#include "ingest_queue.h"

#include <errno.h>
#include <string.h>
#include <time.h>

int ingest_queue_init(struct ingest_queue *q, size_t max_weight)
{
  memset(q, 0, sizeof *q);
  q->max_weight = max_weight;
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0)
    return DS_ENOMEM;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rc = DS_OK;
  if (pthread_mutex_init(&q->mu, NULL) != 0 || pthread_cond_init(&q->not_empty, &ca) != 0 ||
      pthread_cond_init(&q->not_full, &ca) != 0)
    rc = DS_ENOMEM;
  pthread_condattr_destroy(&ca);
  return rc;
}

void ingest_queue_cleanup(struct ingest_queue *q)
{
  struct ingest_item *it = q->head;
  while (it != NULL) {
    struct ingest_item *next = it->next;
    ingest_item_free(it);
    it = next;
  }
  q->head = q->tail = NULL;
  pthread_cond_destroy(&q->not_empty);
  pthread_cond_destroy(&q->not_full);
  pthread_mutex_destroy(&q->mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static void append_locked(struct ingest_queue *q, struct ingest_item *it)
{
  it->next = NULL;
  if (q->tail != NULL)
    q->tail->next = it;
  else
    q->head = it;
  q->tail = it;
  q->weight += ingest_item_weight(it);
  pthread_cond_signal(&q->not_empty);
}

void ingest_queue_push_force(struct ingest_queue *q, struct ingest_item *it)
{
  pthread_mutex_lock(&q->mu);
  append_locked(q, it);
  pthread_mutex_unlock(&q->mu);
}

bool ingest_queue_push(struct ingest_queue *q, struct ingest_item *it, int wait_ms)
{
  size_t w = ingest_item_weight(it);
  struct timespec dl;
  deadline_in(&dl, wait_ms);
  pthread_mutex_lock(&q->mu);
  while (q->head != NULL && q->weight + w > q->max_weight && !q->closed) {
    if (pthread_cond_timedwait(&q->not_full, &q->mu, &dl) == ETIMEDOUT)
      break;
  }
  bool ok = q->head == NULL || q->weight + w <= q->max_weight || q->closed;
  if (ok)
    append_locked(q, it);
  pthread_mutex_unlock(&q->mu);
  return ok;
}

struct ingest_item *ingest_queue_pop(struct ingest_queue *q, int wait_ms, bool *closed)
{
  struct timespec dl;
  deadline_in(&dl, wait_ms);
  pthread_mutex_lock(&q->mu);
  while (q->head == NULL && !q->closed && wait_ms > 0) {
    if (pthread_cond_timedwait(&q->not_empty, &q->mu, &dl) == ETIMEDOUT)
      break;
  }
  struct ingest_item *it = q->head;
  if (it != NULL) {
    q->head = it->next;
    if (q->head == NULL)
      q->tail = NULL;
    q->weight -= ingest_item_weight(it);
    it->next = NULL;
    pthread_cond_signal(&q->not_full);
  }
  *closed = q->closed && q->head == NULL;
  pthread_mutex_unlock(&q->mu);
  return it;
}

void ingest_queue_close(struct ingest_queue *q)
{
  pthread_mutex_lock(&q->mu);
  q->closed = true;
  pthread_cond_broadcast(&q->not_empty);
  pthread_cond_broadcast(&q->not_full);
  pthread_mutex_unlock(&q->mu);
}

bool ingest_queue_closed(struct ingest_queue *q)
{
  pthread_mutex_lock(&q->mu);
  bool closed = q->closed;
  pthread_mutex_unlock(&q->mu);
  return closed;
}

size_t ingest_queue_weight(struct ingest_queue *q)
{
  pthread_mutex_lock(&q->mu);
  size_t w = q->weight;
  pthread_mutex_unlock(&q->mu);
  return w;
}
