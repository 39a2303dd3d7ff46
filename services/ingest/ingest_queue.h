/* The bounded queue between ingest's MQTT thread and its writer thread.
 * Items are decoded messages: samples of one device, or one rejection.
 * The bound is in samples (plus one per rejection), so memory stays fixed
 * whatever the message sizes; a full queue makes the MQTT thread stop
 * receiving, and the broker holds the rest. */
#ifndef INGEST_QUEUE_H
#define INGEST_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/sample.h"

enum ingest_item_kind { INGEST_ITEM_SAMPLES, INGEST_ITEM_REJECTED };

struct ingest_item {
  struct ingest_item *next;
  enum ingest_item_kind kind;
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
/* Weight of an item against the queue bound. */
size_t ingest_item_weight(const struct ingest_item *it);

struct ingest_queue {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  struct ingest_item *head, *tail;
  size_t weight, max_weight;
  bool closed;
};

DS_MUSTCHECK int ingest_queue_init(struct ingest_queue *q, size_t max_weight);
/* Frees any items left. */
void ingest_queue_cleanup(struct ingest_queue *q);
/* Takes it over when there is room (or the queue is empty, so that an item
 * heavier than the bound still passes), waiting up to wait_ms; returns
 * false, keeping it with the caller, when still full. */
bool ingest_queue_push(struct ingest_queue *q, struct ingest_item *it, int wait_ms);
/* Takes it over whatever the bound (shutdown only: the last message). */
void ingest_queue_push_force(struct ingest_queue *q, struct ingest_item *it);
/* Returns the oldest item (caller frees), waiting up to wait_ms; NULL when
 * none arrived.  *closed tells whether the queue is closed and empty. */
struct ingest_item *ingest_queue_pop(struct ingest_queue *q, int wait_ms, bool *closed);
/* No more pushes; pop drains what is left. */
void ingest_queue_close(struct ingest_queue *q);
size_t ingest_queue_weight(struct ingest_queue *q);

#endif
