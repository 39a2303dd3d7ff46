/* The shared sample-memory budget (see query_budget.h): a byte count under
 * a mutex, a condition variable for the requests waiting for theirs, and
 * the blocks kept between requests. */
#include "query_budget.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

/* A block: a private anonymous mapping whose first BLOCK_HEAD bytes hold
 * its size; the caller's memory follows (aligned to BLOCK_HEAD). */
#define BLOCK_HEAD 64
#define HUGE_PAGE ((size_t)2 << 20)

int query_budget_init(struct query_budget *b, size_t max)
{
  b->used = 0;
  b->max = max;
  b->nkept = b->kept_bytes = b->mapped = 0;
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

static size_t block_size(const void *p)
{
  return *(const size_t *)(const void *)((const unsigned char *)p - BLOCK_HEAD);
}

static void block_unmap(void *p)
{
  unsigned char *base = (unsigned char *)p - BLOCK_HEAD;
  munmap(base, *(size_t *)(void *)base);
}

/* The size of the mapping for bytes (0 when too large): whole huge pages,
 * so that with transparent huge pages (madvise mode) one fault maps 2 MB
 * instead of 4 KB. */
static size_t map_size(size_t bytes)
{
  if (bytes > SIZE_MAX - BLOCK_HEAD - HUGE_PAGE)
    return 0;
  return (bytes + BLOCK_HEAD + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}

static void *block_map(size_t size)
{
  void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    return NULL;
  (void)madvise(base, size, MADV_HUGEPAGE); /* advice only: fails without THP */
  *(size_t *)base = size;
  return (unsigned char *)base + BLOCK_HEAD;
}

/* Takes the smallest kept block out (under mu; nkept > 0) and returns it. */
static void *drop_smallest(struct query_budget *b)
{
  size_t small = 0;
  for (size_t i = 1; i < b->nkept; i++)
    if (block_size(b->kept[i]) < block_size(b->kept[small]))
      small = i;
  void *p = b->kept[small];
  b->kept_bytes -= block_size(p);
  b->mapped -= block_size(p);
  b->kept[small] = b->kept[--b->nkept];
  return p;
}

void *query_budget_block_get(struct query_budget *b, size_t bytes)
{
  size_t size = map_size(bytes);
  if (size == 0)
    return NULL;
  if (b == NULL)
    return block_map(size);
  void *drop[QUERY_BUDGET_KEEP_MAX];
  size_t ndrop = 0;
  pthread_mutex_lock(&b->mu);
  size_t best = b->nkept;
  for (size_t i = 0; i < b->nkept; i++)
    if (block_size(b->kept[i]) - BLOCK_HEAD >= bytes &&
        (best == b->nkept || block_size(b->kept[i]) < block_size(b->kept[best])))
      best = i;
  if (best < b->nkept) {
    void *p = b->kept[best];
    b->kept_bytes -= block_size(p);
    b->kept[best] = b->kept[--b->nkept];
    pthread_mutex_unlock(&b->mu);
    return p;
  }
  /* None large enough: kept ones go first while all mapped blocks would
   * exceed the budget's size with the new one. */
  while (b->nkept > 0 && b->mapped + size > b->max)
    drop[ndrop++] = drop_smallest(b);
  b->mapped += size;
  pthread_mutex_unlock(&b->mu);
  for (size_t i = 0; i < ndrop; i++)
    block_unmap(drop[i]);
  void *p = block_map(size);
  if (p == NULL) {
    pthread_mutex_lock(&b->mu);
    b->mapped -= size;
    pthread_mutex_unlock(&b->mu);
  }
  return p;
}

void query_budget_block_put(struct query_budget *b, void *p)
{
  if (p == NULL)
    return;
  if (b == NULL) {
    block_unmap(p);
    return;
  }
  void *drop[QUERY_BUDGET_KEEP_MAX + 1];
  size_t ndrop = 0;
  pthread_mutex_lock(&b->mu);
  if (block_size(p) > b->max) { /* a request that ran alone */
    b->mapped -= block_size(p);
    pthread_mutex_unlock(&b->mu);
    block_unmap(p);
    return;
  }
  b->kept[b->nkept++] = p; /* nkept < KEEP_MAX between calls */
  b->kept_bytes += block_size(p);
  /* Every mapped block (in use or kept) within the budget's size, so what
   * is kept never adds to what requests use; the smallest go first. */
  while (b->nkept > 0 && (b->mapped > b->max || b->nkept == QUERY_BUDGET_KEEP_MAX))
    drop[ndrop++] = drop_smallest(b);
  pthread_mutex_unlock(&b->mu);
  for (size_t i = 0; i < ndrop; i++)
    block_unmap(drop[i]);
}

void query_budget_cleanup(struct query_budget *b)
{
  for (size_t i = 0; i < b->nkept; i++)
    block_unmap(b->kept[i]);
  b->nkept = b->kept_bytes = b->mapped = 0;
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
