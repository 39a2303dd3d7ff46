/* Ingest's writer thread (see ingest_writer.h). */
#include "ingest_writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds/db.h"
#include "ds/log.h"
#include "ds/time.h"
#include "ingest_parse.h"

#define COPY_BUF_MAX ((size_t)256 << 20)

int ingest_writer_init(struct ingest_writer *w, const struct ingest_cfg *cfg,
                       struct ingest_spool *spool, struct ingest_counters *counters)
{
  memset(w, 0, sizeof *w);
  w->cfg = cfg;
  w->spool = spool;
  w->counters = counters;
  atomic_init(&w->draining, false);
  ds_buf_init(&w->copy, COPY_BUF_MAX);
  ds_backoff_init(&w->backoff, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
  atomic_init(&w->reader_go, false);
  w->scratch = malloc(DS_SAMPLES_MAX * sizeof *w->scratch);
  if (w->scratch == NULL)
    return DS_ENOMEM;
  /* Two batches' worth: the next one decodes while this one is stored. */
  int rc = ingest_queue_init(&w->queue, 2 * (size_t)cfg->batch_max);
  if (rc != DS_OK)
    return rc;
  w->queue_ok = true;
  return ingest_devcache_init(&w->cache, (size_t)cfg->device_cache_max);
}

static void batch_clear(struct ingest_writer *w)
{
  struct ingest_item *it = w->batch_head;
  while (it != NULL) {
    struct ingest_item *next = it->next;
    ingest_item_free(it);
    it = next;
  }
  w->batch_head = w->batch_tail = NULL;
  w->batch_samples = w->batch_items = 0;
}

void ingest_writer_cleanup(struct ingest_writer *w)
{
  batch_clear(w);
  ingest_devcache_cleanup(&w->cache);
  ds_buf_cleanup(&w->copy);
  DS_FREE(w->scratch);
  if (w->queue_ok)
    ingest_queue_cleanup(&w->queue);
  w->queue_ok = false;
  if (w->conn != NULL)
    PQfinish(w->conn);
  w->conn = NULL;
}

static void batch_add(struct ingest_writer *w, struct ingest_item *it, uint64_t seq)
{
  w->batch_last_seq = seq;
  if (w->batch_head == NULL) {
    w->batch_head = it;
    w->batch_started_ms = ds_time_mono_ms();
  } else {
    w->batch_tail->next = it;
  }
  w->batch_tail = it;
  it->next = NULL;
  w->batch_items++;
  if (it->kind == INGEST_ITEM_SAMPLES)
    w->batch_samples += it->n;
}

/* Maps every device name of the batch that the cache lacks to its key,
 * creating devices on first sight.  Runs outside the batch transaction, so
 * keys stay valid even if the batch has to be retried. */
static int resolve_devices(struct ingest_writer *w, char err[DS_ERRLEN])
{
  struct ds_buf arr;
  ds_buf_init(&arr, (size_t)64 << 20);
  int rc = DS_OK;
  /* Up to three rounds: a device created concurrently by another ingest
   * instance is invisible to the first round's snapshot. */
  for (int round = 0; round < 3; round++) {
    ds_buf_reset(&arr);
    size_t missing = 0;
    rc = ds_buf_append(&arr, "{", 1);
    for (struct ingest_item *it = w->batch_head; it != NULL && rc == DS_OK; it = it->next) {
      int32_t key;
      if (it->kind != INGEST_ITEM_SAMPLES || ingest_devcache_get(&w->cache, it->device, &key))
        continue;
      /* Device ids are [A-Za-z0-9_.-] only, so quoting needs no escapes.
       * Duplicates in the array are harmless. */
      rc = ds_buf_appendf(&arr, "%s\"%s\"", missing ? "," : "", it->device);
      missing++;
    }
    if (rc == DS_OK)
      rc = ds_buf_append(&arr, "}", 1);
    if (rc != DS_OK) {
      snprintf(err, DS_ERRLEN, "device list: %s", ds_strerror(rc));
      goto out;
    }
    if (missing == 0)
      goto out;
    const char *params[1] = {arr.data};
    PGresult *r = NULL;
    rc = ds_db_exec(w->conn,
                    "WITH ins AS (INSERT INTO devices (name) SELECT DISTINCT unnest($1::text[])"
                    " ON CONFLICT (name) DO NOTHING RETURNING id, name)"
                    " SELECT id, name FROM ins UNION ALL"
                    " SELECT id, name FROM devices WHERE name = ANY ($1::text[])",
                    1, params, &r, err);
    if (rc != DS_OK)
      goto out;
    for (int i = 0; i < PQntuples(r); i++) {
      long id = strtol(PQgetvalue(r, i, 0), NULL, 10);
      rc = ingest_devcache_put(&w->cache, PQgetvalue(r, i, 1), (int32_t)id);
      if (rc != DS_OK)
        break;
      struct ds_logline l;
      if (ds_log_begin(&l, DS_LOG_DEBUG, "device_mapped")) {
        ds_log_str(&l, "device", PQgetvalue(r, i, 1));
        ds_log_int(&l, "key", id);
        ds_log_end(&l);
      }
    }
    PQclear(r);
    if (rc != DS_OK)
      goto out;
  }
  snprintf(err, DS_ERRLEN, "could not map every device name to a key");
  rc = DS_EDB;
out:
  ds_buf_cleanup(&arr);
  return rc;
}

static int double_bits_be(struct ds_buf *b, double v)
{
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  int rc = ds_buf_append_be32(b, 8);
  return rc != DS_OK ? rc : ds_buf_append_be64(b, u);
}

/* Builds the binary COPY stream for the batch's samples. */
static int build_copy(struct ingest_writer *w)
{
  struct ds_buf *b = &w->copy;
  ds_buf_reset(b);
  static const char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};
  int rc = ds_buf_append(b, sig, sizeof sig);
  if (rc == DS_OK)
    rc = ds_buf_append_be32(b, 0); /* flags */
  if (rc == DS_OK)
    rc = ds_buf_append_be32(b, 0); /* header extension length */
  for (struct ingest_item *it = w->batch_head; it != NULL && rc == DS_OK; it = it->next) {
    if (it->kind != INGEST_ITEM_SAMPLES)
      continue;
    int32_t key = 0;
    if (!ingest_devcache_get(&w->cache, it->device, &key))
      return DS_ENOTFOUND;
    rc = ds_buf_reserve(b, it->n * 58);
    for (size_t i = 0; i < it->n && rc == DS_OK; i++) {
      const struct ds_sample *s = &it->samples[i];
      rc = ds_buf_append_be16(b, 5);
      if (rc == DS_OK)
        rc = ds_buf_append_be32(b, 4);
      if (rc == DS_OK)
        rc = ds_buf_append_be32(b, (uint32_t)key);
      if (rc == DS_OK)
        rc = ds_buf_append_be32(b, 8);
      if (rc == DS_OK)
        rc = ds_buf_append_be64(b, (uint64_t)ds_pg_ts_from_unix(s->ts_us));
      if (rc == DS_OK)
        rc = double_bits_be(b, s->x);
      if (rc == DS_OK)
        rc = double_bits_be(b, s->y);
      if (rc == DS_OK)
        rc = double_bits_be(b, s->z);
    }
  }
  if (rc == DS_OK)
    rc = ds_buf_append_be16(b, 0xFFFF); /* trailer */
  return rc;
}

static int copy_samples(struct ingest_writer *w, char err[DS_ERRLEN])
{
  int rc = build_copy(w);
  if (rc != DS_OK) {
    snprintf(err, DS_ERRLEN, "building COPY data: %s", ds_strerror(rc));
    return rc;
  }
  PGresult *r = PQexec(w->conn, "COPY samples_recent (device_id, ts, x, y, z) FROM STDIN"
                                " (FORMAT binary)");
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    ds_db_errmsg(w->conn, r, err);
    PQclear(r);
    return DS_EDB;
  }
  PQclear(r);
  /* Send in 1 MiB pieces. */
  size_t off = 0;
  while (off < w->copy.len) {
    size_t n = w->copy.len - off;
    if (n > ((size_t)1 << 20))
      n = (size_t)1 << 20;
    if (PQputCopyData(w->conn, w->copy.data + off, (int)n) != 1) {
      ds_db_errmsg(w->conn, NULL, err);
      return DS_EDB;
    }
    off += n;
  }
  if (PQputCopyEnd(w->conn, NULL) != 1) {
    ds_db_errmsg(w->conn, NULL, err);
    return DS_EDB;
  }
  rc = DS_OK;
  while ((r = PQgetResult(w->conn)) != NULL) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      ds_db_errmsg(w->conn, r, err);
      rc = DS_EDB;
    }
    PQclear(r);
  }
  return rc;
}

static int insert_rejected(struct ingest_writer *w, char err[DS_ERRLEN])
{
  for (struct ingest_item *it = w->batch_head; it != NULL; it = it->next) {
    if (it->kind != INGEST_ITEM_REJECTED)
      continue;
    char size[24];
    snprintf(size, sizeof size, "%zu", it->payload_size);
    const char *vals[4] = {it->topic, it->payload, size, it->reason};
    int lens[4] = {0, (int)it->payload_len, 0, 0};
    int fmts[4] = {0, 1, 0, 0};
    /* The payload travels as binary (bytea): ds_db_exec passes text only. */
    int rc = ds_db_result(w->conn,
                          PQexecParams(w->conn,
                                       "INSERT INTO rejected (topic, payload, payload_size, reason)"
                                       " VALUES ($1, $2::bytea, $3::int, $4)",
                                       4, NULL, vals, lens, fmts, 0),
                          NULL, err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

/* Reads this instance's progress: the last spool record the database holds.
 * A progress row of another spool (the spool was replaced) counts as none. */
static int load_progress(struct ingest_writer *w, char err[DS_ERRLEN])
{
  const char *params[1] = {w->cfg->client_id};
  PGresult *r = NULL;
  int rc = ds_db_exec(w->conn, "SELECT spool_id, seq FROM ingest_progress WHERE instance = $1", 1,
                      params, &r, err);
  if (rc != DS_OK)
    return rc;
  uint64_t seq = 0;
  if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), ingest_spool_id(w->spool)) == 0)
    seq = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
  PQclear(r);
  if (!w->progress_known || seq > w->committed_seq) {
    w->committed_seq = seq;
    ingest_spool_commit(w->spool, seq);
  }
  w->progress_known = true;
  return DS_OK;
}

static int save_progress(struct ingest_writer *w, char err[DS_ERRLEN])
{
  char seq[24], dups[24];
  snprintf(seq, sizeof seq, "%" PRIu64, w->batch_last_seq);
  snprintf(dups, sizeof dups, "%" PRIuFAST64, atomic_load(&w->counters->duplicates));
  const char *params[4] = {w->cfg->client_id, ingest_spool_id(w->spool), seq, dups};
  return ds_db_exec(
      w->conn,
      "INSERT INTO ingest_progress (instance, spool_id, seq, duplicates) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (instance) DO UPDATE SET spool_id = EXCLUDED.spool_id, seq = EXCLUDED.seq,"
      " duplicates = EXCLUDED.duplicates, updated_at = now()",
      4, params, NULL, err);
}

/* Connects when there is no usable connection, and reads the progress
 * when it is not known (at start, and after any failure: a COMMIT whose
 * answer was lost may have stored the batch). */
static int ensure_db(struct ingest_writer *w, char err[DS_ERRLEN])
{
  if (ds_db_broken(w->conn)) {
    if (w->conn != NULL)
      PQfinish(w->conn);
    w->conn = NULL;
    w->progress_known = false;
    int rc = ds_db_connect(w->cfg->database_url, "devicestats-ingest", &w->conn, err);
    if (rc != DS_OK)
      return rc;
  }
  return w->progress_known ? DS_OK : load_progress(w, err);
}

/* One storing attempt for the current batch (no retry): DS_OK or DS_EDB
 * with err. */
static int flush_once(struct ingest_writer *w, char err[DS_ERRLEN])
{
  int rc = ensure_db(w, err);
  if (rc != DS_OK || w->batch_head == NULL)
    return rc;
  if (w->batch_last_seq <= w->committed_seq) {
    /* Stored by an attempt whose COMMIT answer never arrived. */
    ds_log_msg(DS_LOG_INFO, "batch_already_stored", "up to spool record %" PRIu64,
               w->batch_last_seq);
    batch_clear(w);
    return DS_OK;
  }
  int64_t t0 = ds_time_mono_ms();
  rc = resolve_devices(w, err);
  if (rc != DS_OK)
    return rc;
  rc = ds_db_exec(w->conn, "BEGIN", 0, NULL, NULL, err);
  if (rc != DS_OK)
    return rc;
  if (w->batch_samples > 0)
    rc = copy_samples(w, err);
  if (rc == DS_OK && w->batch_items > 0)
    rc = insert_rejected(w, err);
  if (rc == DS_OK)
    rc = save_progress(w, err);
  if (rc == DS_OK)
    rc = ds_db_exec(w->conn, "COMMIT", 0, NULL, NULL, err);
  if (rc != DS_OK) {
    ds_db_rollback(w->conn);
    w->progress_known = false;
    return rc;
  }
  w->committed_seq = w->batch_last_seq;
  ingest_spool_commit(w->spool, w->committed_seq);
  size_t rejected = w->batch_items;
  for (struct ingest_item *it = w->batch_head; it != NULL; it = it->next)
    if (it->kind == INGEST_ITEM_SAMPLES)
      rejected--;
  atomic_fetch_add(&w->counters->stored, w->batch_samples);
  atomic_fetch_add(&w->counters->rejected_stored, rejected);
  atomic_fetch_add(&w->counters->batches, 1);
  if (w->batch_samples > atomic_load(&w->counters->max_batch))
    atomic_store(&w->counters->max_batch, w->batch_samples);
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_DEBUG, "batch_stored")) {
    ds_log_int(&l, "samples", (long long)w->batch_samples);
    ds_log_int(&l, "rejected", (long long)rejected);
    ds_log_int(&l, "seq", (long long)w->batch_last_seq);
    ds_log_int(&l, "dur_ms", (long long)(ds_time_mono_ms() - t0));
    ds_log_end(&l);
  }
  batch_clear(w);
  return DS_OK;
}

static bool out_of_time(const struct ingest_writer *w)
{
  return atomic_load(&w->draining) && ds_time_mono_ms() >= w->give_up_at_ms;
}

/* Sleeps up to ms in short slices; false once draining has run out of
 * time (the stop flag does not cut this short: the writer still stores
 * what it can until the shutdown deadline). */
static bool nap(const struct ingest_writer *w, long ms)
{
  int64_t until = ds_time_mono_ms() + ms;
  while (ds_time_mono_ms() < until) {
    if (out_of_time(w))
      return false;
    long left = (long)(until - ds_time_mono_ms());
    struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
    nanosleep(&ts, NULL);
  }
  return !out_of_time(w);
}

/* One storing attempt with the backoff's bookkeeping: true when the batch
 * (if any) is stored and the progress known. */
static bool store_step(struct ingest_writer *w)
{
  char err[DS_ERRLEN];
  int rc = flush_once(w, err);
  atomic_store(&w->counters->db_up, rc == DS_OK);
  if (rc == DS_OK) {
    if (ds_backoff_succeeded(&w->backoff))
      ds_log_msg(DS_LOG_INFO, "db_connected", "storing again");
    return true;
  }
  atomic_fetch_add(&w->counters->flush_failures, 1);
  if (ds_backoff_failed(&w->backoff, ds_time_mono_ms())) {
    struct ds_logline l;
    if (ds_log_begin(&l, DS_LOG_WARN, "batch_failed")) {
      ds_log_int(&l, "samples", (long long)w->batch_samples);
      ds_log_str(&l, "msg", err);
      ds_log_str(&l, "action", "keeping the batch and the spool; retrying with backoff");
      ds_log_end(&l);
    }
  }
  if (ds_db_broken(w->conn) && w->conn != NULL) {
    PQfinish(w->conn);
    w->conn = NULL;
  }
  return false;
}

/* Decodes a spool record into an item (NULL when out of memory). */
static struct ingest_item *decode_record(struct ingest_writer *w,
                                         const struct ingest_spool_rec *rec)
{
  struct ingest_item *it = ingest_parse_message(rec->topic, rec->topic_len, rec->payload,
                                                rec->payload_len, rec->payload_size, rec->recv_us,
                                                (size_t)w->cfg->reject_keep_bytes, w->scratch);
  if (it == NULL)
    return NULL;
  it->seq = rec->seq;
  if (it->kind == INGEST_ITEM_REJECTED) {
    atomic_fetch_add(&w->counters->rejected, 1);
    struct ds_logline l;
    if (ds_log_begin(&l, DS_LOG_DEBUG, "message_rejected")) {
      ds_log_str(&l, "topic", it->topic);
      ds_log_int(&l, "bytes", (long long)rec->payload_size);
      ds_log_str(&l, "reason", it->reason);
      ds_log_end(&l);
    }
  } else {
    atomic_fetch_add(&w->counters->accepted, it->n);
  }
  return it;
}

/* The decoder thread: spool records -> items -> queue, from where the
 * database's progress says (the writer sets reader_go once it knows), until
 * the spool is drained at shutdown or the writer closes the queue. */
static void *decoder_main(void *arg)
{
  struct ingest_writer *w = arg;
  while (!atomic_load(&w->reader_go)) {
    if (ingest_queue_closed(&w->queue))
      return NULL;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  struct ingest_item *held = NULL;
  while (!ingest_queue_closed(&w->queue)) {
    if (held != NULL) {
      if (ingest_queue_push(&w->queue, held, 250))
        held = NULL;
      continue;
    }
    bool draining = atomic_load(&w->draining);
    struct ingest_spool_rec rec;
    bool got = false;
    char err[DS_ERRLEN];
    if (ingest_spool_next(w->spool, draining ? 0 : 250, &rec, &got, err) != DS_OK) {
      ds_log_msg(DS_LOG_ERROR, "spool_read_failed", "%s; retrying", err);
      (void)nap(w, 1000);
      continue;
    }
    if (!got) {
      if (draining)
        break; /* nothing more will be appended */
      continue;
    }
    held = decode_record(w, &rec);
    if (held == NULL) {
      ds_log_msg(DS_LOG_ERROR, "spool_read_failed", "out of memory decoding record %" PRIu64,
                 rec.seq);
      (void)nap(w, 1000);
      /* Read it again: back off the reader by closing over the record. */
      ingest_spool_rewind(w->spool, rec.seq);
    }
  }
  ingest_item_free(held);
  ingest_queue_close(&w->queue);
  return NULL;
}

/* Fills the batch from the queue, waiting at most until the batch is due.
 * Sets *closed once the decoder has finished and the queue is empty. */
static void fill_batch(struct ingest_writer *w, bool *closed)
{
  const size_t batch_max = (size_t)w->cfg->batch_max;
  while (w->batch_samples < batch_max && w->batch_items < INGEST_BATCH_ITEMS_MAX) {
    int wait = 250;
    if (w->batch_head != NULL) {
      int64_t left = w->batch_started_ms + w->cfg->flush_ms - ds_time_mono_ms();
      wait = left <= 0 ? 0 : (int)(left < 250 ? left : 250);
    }
    struct ingest_item *it = ingest_queue_pop(&w->queue, wait, closed);
    if (it == NULL)
      return;
    batch_add(w, it, it->seq);
  }
}

static void *writer_main(void *arg)
{
  struct ingest_writer *w = arg;
  bool closed = false;
  for (;;) {
    /* Backing off after a failure: wait (until the drain deadline). */
    long left = ds_backoff_left_ms(&w->backoff, ds_time_mono_ms());
    if (out_of_time(w) || (left > 0 && !nap(w, left)))
      break;
    /* Where to start (or go on) reading: the progress in the database. */
    if (!w->progress_known && !store_step(w))
      continue;
    atomic_store(&w->reader_go, true);
    if (!closed && w->batch_samples < (size_t)w->cfg->batch_max &&
        w->batch_items < INGEST_BATCH_ITEMS_MAX)
      fill_batch(w, &closed);
    bool due =
        w->batch_head != NULL &&
        (closed || atomic_load(&w->draining) || w->batch_samples >= (size_t)w->cfg->batch_max ||
         w->batch_items >= INGEST_BATCH_ITEMS_MAX ||
         ds_time_mono_ms() - w->batch_started_ms >= w->cfg->flush_ms);
    if (due && !store_step(w))
      continue;
    if (closed && w->batch_head == NULL)
      break;
  }
  /* Out of time (or done): the decoder stops too. */
  ingest_queue_close(&w->queue);
  return NULL;
}

int ingest_writer_start(struct ingest_writer *w)
{
  if (pthread_create(&w->decoder, NULL, decoder_main, w) != 0)
    return DS_ENOMEM;
  if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
    ingest_queue_close(&w->queue);
    pthread_join(w->decoder, NULL);
    return DS_ENOMEM;
  }
  w->started = true;
  return DS_OK;
}

void ingest_writer_drain(struct ingest_writer *w)
{
  w->give_up_at_ms = ds_time_mono_ms() + w->cfg->shutdown_timeout_ms;
  atomic_store(&w->draining, true);
}

uint64_t ingest_writer_join(struct ingest_writer *w)
{
  pthread_join(w->thread, NULL);
  pthread_join(w->decoder, NULL);
  w->started = false;
  struct ingest_spool_stats st;
  ingest_spool_stats(w->spool, &st);
  return st.next_seq - 1 - st.committed_seq;
}
