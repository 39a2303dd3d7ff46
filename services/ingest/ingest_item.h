/* A decoded message, as the writer batches it: the samples of one device,
 * or one rejection with its reason.  Items of a batch are chained by next. */
#ifndef INGEST_ITEM_H
#define INGEST_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/sample.h"

enum ingest_item_kind { INGEST_ITEM_SAMPLES, INGEST_ITEM_REJECTED };

struct ingest_item {
  struct ingest_item *next;
  enum ingest_item_kind kind;
  uint64_t seq;                      /* spool sequence number of its message */
  char device[DS_DEVICE_ID_MAX + 1]; /* SAMPLES */
  size_t n;                          /* SAMPLES: samples[0..n) */
  char *topic;                       /* REJECTED: sanitised topic text */
  void *payload;                     /* REJECTED: kept bytes */
  size_t payload_len;                /* REJECTED: kept length */
  size_t payload_size;               /* REJECTED: original size */
  char *reason;                      /* REJECTED */
  struct ds_sample samples[];
};

/* Newly allocated items; ingest_item_free releases them (NULL ok). */
struct ingest_item *ingest_item_new_samples(const char *device, const struct ds_sample *s,
                                            size_t n);
struct ingest_item *ingest_item_new_rejected(const char *topic, size_t topic_len,
                                             const void *payload, size_t payload_len,
                                             size_t keep_max, const char *reason);
void ingest_item_free(struct ingest_item *it);
/* Weight of an item in a batch: its samples, or 1 for a rejection. */
size_t ingest_item_weight(const struct ingest_item *it);

#endif
