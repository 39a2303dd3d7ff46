/* Device name -> integer key cache of ingest's writer thread.  Names are
 * mapped once; the cache is bounded and simply starts over when full. */
#ifndef INGEST_DEVCACHE_H
#define INGEST_DEVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/sample.h"

struct ingest_devcache_slot {
  char name[DS_DEVICE_ID_MAX + 1]; /* "" marks an empty slot */
  int32_t key;
};

struct ingest_devcache {
  struct ingest_devcache_slot *slots;
  size_t cap; /* power of two */
  size_t used;
  size_t max_entries;
};

DS_MUSTCHECK int ingest_devcache_init(struct ingest_devcache *c, size_t max_entries);
void ingest_devcache_cleanup(struct ingest_devcache *c);
/* Whether name is cached; *key set when it is. */
bool ingest_devcache_get(const struct ingest_devcache *c, const char *name, int32_t *key);
/* Adds or replaces name -> key; clears the cache first when it is full. */
DS_MUSTCHECK int ingest_devcache_put(struct ingest_devcache *c, const char *name, int32_t key);

#endif
