/* Open-addressing hash map for the device cache (see ingest_devcache.h). */
#include "ingest_devcache.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_name(const char *s)
{
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

int ingest_devcache_init(struct ingest_devcache *c, size_t max_entries)
{
  size_t cap = 64;
  while (cap < max_entries * 2)
    cap *= 2;
  c->slots = calloc(cap, sizeof *c->slots);
  if (c->slots == NULL)
    return DS_ENOMEM;
  c->cap = cap;
  c->used = 0;
  c->max_entries = max_entries;
  return DS_OK;
}

void ingest_devcache_cleanup(struct ingest_devcache *c)
{
  DS_FREE(c->slots);
  c->cap = c->used = 0;
}

static size_t find(const struct ingest_devcache *c, const char *name)
{
  size_t i = (size_t)hash_name(name) & (c->cap - 1);
  while (c->slots[i].name[0] != '\0' && strcmp(c->slots[i].name, name) != 0)
    i = (i + 1) & (c->cap - 1);
  return i;
}

bool ingest_devcache_get(const struct ingest_devcache *c, const char *name, int32_t *key)
{
  size_t i = find(c, name);
  if (c->slots[i].name[0] == '\0')
    return false;
  *key = c->slots[i].key;
  return true;
}

int ingest_devcache_put(struct ingest_devcache *c, const char *name, int32_t key)
{
  size_t len = strlen(name);
  if (len == 0 || len > DS_DEVICE_ID_MAX)
    return DS_EINVAL;
  size_t i = find(c, name);
  if (c->slots[i].name[0] == '\0') {
    if (c->used >= c->max_entries) {
      memset(c->slots, 0, c->cap * sizeof *c->slots);
      c->used = 0;
      i = find(c, name);
    }
    memcpy(c->slots[i].name, name, len + 1);
    c->used++;
  }
  c->slots[i].key = key;
  return DS_OK;
}
