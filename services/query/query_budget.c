/* The shared sample-memory budget (see query_budget.h): a byte count under
 * a mutex, and a condition variable for the requests waiting for theirs. */
#include "query_budget.h"

#include <errno.h>
#include <time.h>

int query_budget_init(struct query_budget *b, size_t max)
{
  b->used = 0;
  b->max = max;
  atomic_init(&b->waiting, 0);
  if (pthread_mutex_init(&b->mu, NULL) != 0)
    return DS_ENOMEM;
  pthread_condattr_t ca;
  int rc = pthread_condattr_init(&ca) == 0 ? DS_OK : DS_ENOMEM;
  if (rc == DS_OK) {
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&b->cv, &ca) != 0)
      rc = DS_ENOMEM;
    pthread_condattr_destroy(&ca);
  }
  if (rc != DS_OK)
    pthread_mutex_destroy(&b->mu);
  return rc;
}

void query_budget_cleanup(struct query_budget *b)
{
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
}

int query_budget_acquire(struct query_budget *b, size_t bytes, int timeout_ms)
{
  if (b == NULL)
    return DS_OK;
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  int rc = DS_OK;
  pthread_mutex_lock(&b->mu);
  atomic_fetch_add(&b->waiting, 1);
  /* A request larger than the whole budget runs when it is alone. */
  while (b->used > 0 && b->used + bytes > b->max) {
    if (pthread_cond_timedwait(&b->cv, &b->mu, &dl) == ETIMEDOUT) {
      rc = DS_ETIMEOUT;
      break;
    }
  }
  atomic_fetch_sub(&b->waiting, 1);
  if (rc == DS_OK)
    b->used += bytes;
  pthread_mutex_unlock(&b->mu);
  return rc;
}

void query_budget_release(struct query_budget *b, size_t bytes)
{
  if (b == NULL || bytes == 0)
    return;
  pthread_mutex_lock(&b->mu);
  b->used -= bytes < b->used ? bytes : b->used;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

int query_budget_waiting(struct query_budget *b)
{
  return b != NULL ? atomic_load(&b->waiting) : 0;
}
