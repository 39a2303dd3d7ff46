/* Ingest's writer thread: takes decoded items from the queue, batches them
 * and stores each batch in one transaction (samples by binary COPY into
 * samples_recent, rejections into rejected).  A failed batch is kept and
 * retried with capped backoff after reconnecting, so nothing it holds is
 * lost while the database is away; meanwhile the queue fills and the MQTT
 * thread stops taking messages. */
#ifndef INGEST_WRITER_H
#define INGEST_WRITER_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ingest_cfg.h"
#include "ingest_devcache.h"
#include "ingest_queue.h"

struct ingest_counters {
  atomic_uint_fast64_t received; /* messages taken from the broker */
  atomic_uint_fast64_t accepted; /* samples decoded */
  atomic_uint_fast64_t rejected; /* messages rejected */
  atomic_uint_fast64_t stored;   /* samples committed */
  atomic_uint_fast64_t rejected_stored;
  atomic_uint_fast64_t batches; /* committed batches */
  atomic_uint_fast64_t flush_failures;
  atomic_uint_fast64_t max_batch; /* largest batch, samples */
};

struct ingest_writer {
  const struct ingest_cfg *cfg;     /* borrowed for the writer's life */
  struct ingest_queue *queue;       /* borrowed */
  struct ingest_counters *counters; /* borrowed */
  PGconn *conn;
  struct ingest_devcache cache;
  struct ingest_item *batch_head, *batch_tail;
  size_t batch_samples, batch_items;
  int64_t batch_started_ms;
  struct ds_buf copy;
  int64_t give_up_at_ms; /* set once the queue closes: shutdown deadline */
  bool lost;             /* shutdown ran out of time with data held */
  pthread_t thread;
};

DS_MUSTCHECK int ingest_writer_init(struct ingest_writer *w, const struct ingest_cfg *cfg,
                                    struct ingest_queue *q, struct ingest_counters *counters);
/* Frees what the writer holds (after join). */
void ingest_writer_cleanup(struct ingest_writer *w);
/* Starts the thread; it runs until the queue is closed and drained. */
DS_MUSTCHECK int ingest_writer_start(struct ingest_writer *w);
/* Waits for the thread; returns false when it had to drop data. */
bool ingest_writer_join(struct ingest_writer *w);

/* Stores the current batch once (no retry): DS_OK or DS_EDB with err.
 * Exposed for tests. */
DS_MUSTCHECK int ingest_writer_flush_once(struct ingest_writer *w, char err[DS_ERRLEN]);

#endif
