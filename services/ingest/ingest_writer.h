/* Ingest's writer: a decoder thread reads the spool from the first record
 * the database does not hold yet and decodes each message into a bounded
 * queue; the writer thread batches the results and stores each batch in one
 * transaction (decoding the next batch overlaps storing this one): samples by binary COPY into
 * samples_recent, rejections into rejected, and the batch's last spool
 * sequence number into ingest_progress.  Since the progress commits with
 * the samples, a batch is never stored twice: after a failure (even a
 * COMMIT whose answer was lost) the writer reads the progress back before
 * trying again.  A batch that fails is kept and retried with backoff; the
 * spool keeps everything behind it. */
#ifndef INGEST_WRITER_H
#define INGEST_WRITER_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ds/backoff.h"
#include "ds/buf.h"
#include "ingest_cfg.h"
#include "ingest_devcache.h"
#include "ingest_item.h"
#include "ingest_queue.h"
#include "ingest_spool.h"

/* A batch holds at most this many items (messages), whatever their size. */
#define INGEST_BATCH_ITEMS_MAX 10000

struct ingest_counters {
  atomic_uint_fast64_t received;   /* messages taken from the broker */
  atomic_uint_fast64_t duplicates; /* redeliveries recognised and not spooled again */
  atomic_uint_fast64_t accepted;   /* samples decoded */
  atomic_uint_fast64_t rejected;   /* messages rejected */
  atomic_uint_fast64_t stored;     /* samples committed */
  atomic_uint_fast64_t rejected_stored;
  atomic_uint_fast64_t batches; /* committed batches */
  atomic_uint_fast64_t flush_failures;
  atomic_uint_fast64_t max_batch; /* largest batch, samples */
  atomic_bool mqtt_up;            /* connected to the broker */
  atomic_bool db_up;              /* the last storing attempt worked */
};

struct ingest_writer {
  const struct ingest_cfg *cfg;     /* borrowed for the writer's life */
  struct ingest_spool *spool;       /* borrowed */
  struct ingest_counters *counters; /* borrowed */
  PGconn *conn;
  struct ingest_devcache cache;
  struct ingest_item *batch_head, *batch_tail;
  size_t batch_samples, batch_items;
  uint64_t batch_last_seq; /* spool sequence number of the batch's last record */
  int64_t batch_started_ms;
  bool progress_known; /* committed_seq read from the database */
  uint64_t committed_seq;
  struct ds_backoff backoff;
  struct ds_buf copy;
  struct ds_sample *scratch; /* decode space (decoder thread) */
  struct ingest_queue queue; /* decoder -> writer */
  bool queue_ok, started;
  atomic_bool reader_go; /* the progress is known: the decoder may read */
  atomic_bool draining;  /* set by ingest_writer_drain */
  int64_t give_up_at_ms; /* drain deadline */
  pthread_t thread, decoder;
};

DS_MUSTCHECK int ingest_writer_init(struct ingest_writer *w, const struct ingest_cfg *cfg,
                                    struct ingest_spool *spool, struct ingest_counters *counters);
/* Frees what the writer holds (after join). */
void ingest_writer_cleanup(struct ingest_writer *w);
/* Starts the decoder and writer threads; they run until drained
 * (ingest_writer_drain). */
DS_MUSTCHECK int ingest_writer_start(struct ingest_writer *w);
/* Nothing more will be appended: store what the spool holds, giving up
 * after SHUTDOWN_TIMEOUT_MS (what is left stays in the spool). */
void ingest_writer_drain(struct ingest_writer *w);
/* Waits for the threads; returns the number of spooled records it left
 * unstored (0 when everything is in the database). */
uint64_t ingest_writer_join(struct ingest_writer *w);

#endif
