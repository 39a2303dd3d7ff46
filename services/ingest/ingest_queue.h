/* The bounded queue between ingest's decoder thread (spool records ->
 * items) and its writer thread (items -> batches -> PostgreSQL), so that
 * decoding the next batch overlaps storing this one.  The bound is in
 * samples (plus one per rejection), so memory stays fixed whatever the
 * message sizes; a full queue makes the decoder wait (the spool holds the
 * rest). */
#ifndef INGEST_QUEUE_H
#define INGEST_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "ds/err.h"
#include "ingest_item.h"

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
 * heavier than the bound still passes, or closed), waiting up to wait_ms;
 * returns false, keeping it with the caller, when still full. */
bool ingest_queue_push(struct ingest_queue *q, struct ingest_item *it, int wait_ms);
/* Takes it over whatever the bound. */
void ingest_queue_push_force(struct ingest_queue *q, struct ingest_item *it);
/* Returns the oldest item (caller frees), waiting up to wait_ms; NULL when
 * none arrived.  *closed tells whether the queue is closed and empty. */
struct ingest_item *ingest_queue_pop(struct ingest_queue *q, int wait_ms, bool *closed);
/* No more pushes; pop drains what is left. */
void ingest_queue_close(struct ingest_queue *q);
bool ingest_queue_closed(struct ingest_queue *q);
size_t ingest_queue_weight(struct ingest_queue *q);

#endif
