/* A bounded, thread-safe cache of decoded sample chunks keyed by chunk_id,
 * for ds_store_fetch_cached.  A chunk_id's content never changes (chunks
 * are only inserted and deleted), so an entry never goes stale; one mutex
 * guards the lists, the counters and every reference count. */
#include <pthread.h>
#include <string.h>

#include "chunk_cache_internal.h"

#define DEV_BUCKETS 256

struct ds_chunk_cache {
  pthread_mutex_t mu;
  size_t max_bytes, bytes, entries;
  struct ds_chunk *lru_head, *lru_tail; /* head: most recently used */
  struct ds_chunk *dev[DEV_BUCKETS];    /* by device key, any order */
  uint64_t hits, misses, inserts, evictions;
};

int ds_chunk_cache_new(size_t max_bytes, struct ds_chunk_cache **out)
{
  struct ds_chunk_cache *c = calloc(1, sizeof *c);
  if (c == NULL)
    return DS_ENOMEM;
  if (pthread_mutex_init(&c->mu, NULL) != 0) {
    free(c);
    return DS_ENOMEM;
  }
  c->max_bytes = max_bytes;
  *out = c;
  return DS_OK;
}

static size_t dev_bucket(int32_t device)
{
  return (uint32_t)device % DEV_BUCKETS;
}

static void chunk_free(struct ds_chunk *e)
{
  free(e);
}

struct ds_chunk *dscc_chunk_new(int64_t id, int32_t device, int64_t first_ts, int64_t last_ts,
                                size_t n)
{
  /* One allocation: the header, then ts, x, y, z (all 8-byte elements). */
  if (n > (SIZE_MAX - sizeof(struct ds_chunk)) / 32)
    return NULL;
  size_t bytes = sizeof(struct ds_chunk) + n * 32;
  struct ds_chunk *e = malloc(bytes);
  if (e == NULL)
    return NULL;
  memset(e, 0, sizeof *e);
  e->id = id;
  e->device = device;
  e->first_ts = first_ts;
  e->last_ts = last_ts;
  e->n = n;
  e->ts = (int64_t *)(void *)(e + 1);
  e->x = (double *)(void *)(e->ts + n);
  e->y = e->x + n;
  e->z = e->y + n;
  e->bytes = bytes;
  e->refs = 1;
  return e;
}

void dscc_discard(struct ds_chunk *e)
{
  chunk_free(e);
}

static void lru_unlink(struct ds_chunk_cache *c, struct ds_chunk *e)
{
  if (e->lru_prev != NULL)
    e->lru_prev->lru_next = e->lru_next;
  else
    c->lru_head = e->lru_next;
  if (e->lru_next != NULL)
    e->lru_next->lru_prev = e->lru_prev;
  else
    c->lru_tail = e->lru_prev;
  e->lru_prev = e->lru_next = NULL;
}

static void lru_push_head(struct ds_chunk_cache *c, struct ds_chunk *e)
{
  e->lru_prev = NULL;
  e->lru_next = c->lru_head;
  if (c->lru_head != NULL)
    c->lru_head->lru_prev = e;
  else
    c->lru_tail = e;
  c->lru_head = e;
}

/* Takes e out of both lists and drops the cache's reference.  Under mu. */
static void unlist(struct ds_chunk_cache *c, struct ds_chunk *e)
{
  lru_unlink(c, e);
  struct ds_chunk **pp = &c->dev[dev_bucket(e->device)];
  while (*pp != e)
    pp = &(*pp)->dev_next;
  *pp = e->dev_next;
  e->dev_next = NULL;
  e->listed = false;
  c->bytes -= e->bytes;
  c->entries--;
  if (--e->refs == 0)
    chunk_free(e);
}

void ds_chunk_cache_free(struct ds_chunk_cache *c)
{
  if (c == NULL)
    return;
  dscc_clear(c);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

void dscc_clear(struct ds_chunk_cache *c)
{
  pthread_mutex_lock(&c->mu);
  while (c->lru_head != NULL)
    unlist(c, c->lru_head);
  pthread_mutex_unlock(&c->mu);
}

void dscc_pin_range(struct ds_chunk_cache *c, const int32_t *keys, size_t nkeys, int64_t start_pg,
                    int64_t end_pg, struct ds_chunk **pins, size_t max, size_t *npins)
{
  size_t k = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < nkeys && k < max; i++) {
    /* Keys repeated in keys[] would pin an entry twice: skip them. */
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++)
      dup = keys[j] == keys[i];
    if (dup)
      continue;
    for (struct ds_chunk *e = c->dev[dev_bucket(keys[i])]; e != NULL && k < max; e = e->dev_next) {
      if (e->device != keys[i] || e->first_ts >= end_pg || e->last_ts < start_pg)
        continue;
      e->refs++;
      pins[k++] = e;
      lru_unlink(c, e);
      lru_push_head(c, e);
    }
  }
  pthread_mutex_unlock(&c->mu);
  *npins = k;
}

void dscc_insert(struct ds_chunk_cache *c, struct ds_chunk *e)
{
  if (e->n < DS_CHUNK_CACHE_MIN_N || e->bytes > c->max_bytes)
    return;
  pthread_mutex_lock(&c->mu);
  struct ds_chunk **head = &c->dev[dev_bucket(e->device)];
  for (struct ds_chunk *o = *head; o != NULL; o = o->dev_next)
    if (o->id == e->id)
      goto out; /* another request listed the same chunk first */
  while (c->lru_tail != NULL && c->bytes + e->bytes > c->max_bytes) {
    unlist(c, c->lru_tail);
    c->evictions++;
  }
  e->refs++;
  e->listed = true;
  e->dev_next = *head;
  *head = e;
  lru_push_head(c, e);
  c->bytes += e->bytes;
  c->entries++;
  c->inserts++;
out:
  pthread_mutex_unlock(&c->mu);
}

void dscc_release(struct ds_chunk_cache *c, struct ds_chunk *e)
{
  if (e == NULL)
    return;
  pthread_mutex_lock(&c->mu);
  bool last = --e->refs == 0;
  pthread_mutex_unlock(&c->mu);
  if (last)
    chunk_free(e);
}

void dscc_count(struct ds_chunk_cache *c, uint64_t hits, uint64_t misses)
{
  pthread_mutex_lock(&c->mu);
  c->hits += hits;
  c->misses += misses;
  pthread_mutex_unlock(&c->mu);
}

void ds_chunk_cache_stats(struct ds_chunk_cache *c, struct ds_chunk_cache_stats *out)
{
  memset(out, 0, sizeof *out);
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->mu);
  out->hits = c->hits;
  out->misses = c->misses;
  out->inserts = c->inserts;
  out->evictions = c->evictions;
  out->entries = c->entries;
  out->bytes = c->bytes;
  out->max_bytes = c->max_bytes;
  pthread_mutex_unlock(&c->mu);
}
