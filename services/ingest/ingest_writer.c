/* Ingest's writer thread (see ingest_writer.h). */
#include "ingest_writer.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ds/db.h"
#include "ds/log.h"
#include "ds/time.h"

#define COPY_BUF_MAX ((size_t)256 << 20)

int ingest_writer_init(struct ingest_writer *w, const struct ingest_cfg *cfg,
                       struct ingest_queue *q, struct ingest_counters *counters)
{
  memset(w, 0, sizeof *w);
  w->cfg = cfg;
  w->queue = q;
  w->counters = counters;
  ds_buf_init(&w->copy, COPY_BUF_MAX);
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
  if (w->conn != NULL)
    PQfinish(w->conn);
  w->conn = NULL;
}

static void batch_add(struct ingest_writer *w, struct ingest_item *it)
{
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

static int exec_cmd(PGconn *c, const char *sql, char err[DS_ERRLEN])
{
  PGresult *r = PQexec(c, sql);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? DS_OK : DS_EDB;
  if (rc != DS_OK)
    ds_db_errmsg(c, r, err);
  PQclear(r);
  return rc;
}

/* Maps every device name of the batch that the cache lacks to its key,
 * creating devices on first sight.  Runs outside the batch transaction, so
 * keys stay valid even if the batch has to be retried. */
static int resolve_devices(struct ingest_writer *w, char err[DS_ERRLEN])
{
  struct ds_buf arr;
  ds_buf_init(&arr, (size_t)64 << 20);
  int rc = DS_OK;
  /* Two rounds: a device created concurrently by another ingest instance is
   * invisible to the first round's snapshot. */
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
    PGresult *r =
        PQexecParams(w->conn,
                     "WITH ins AS (INSERT INTO devices (name) SELECT DISTINCT unnest($1::text[])"
                     " ON CONFLICT (name) DO NOTHING RETURNING id, name)"
                     " SELECT id, name FROM ins UNION ALL"
                     " SELECT id, name FROM devices WHERE name = ANY ($1::text[])",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      ds_db_errmsg(w->conn, r, err);
      PQclear(r);
      rc = DS_EDB;
      goto out;
    }
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
    PGresult *r = PQexecParams(w->conn,
                               "INSERT INTO rejected (topic, payload, payload_size, reason)"
                               " VALUES ($1, $2::bytea, $3::int, $4)",
                               4, NULL, vals, lens, fmts, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
      ds_db_errmsg(w->conn, r, err);
    PQclear(r);
    if (!ok)
      return DS_EDB;
  }
  return DS_OK;
}

int ingest_writer_flush_once(struct ingest_writer *w, char err[DS_ERRLEN])
{
  if (w->batch_head == NULL)
    return DS_OK;
  if (ds_db_broken(w->conn)) {
    if (w->conn != NULL)
      PQfinish(w->conn);
    w->conn = NULL;
    int rc = ds_db_connect(w->cfg->database_url, "devicestats-ingest", &w->conn, err);
    if (rc != DS_OK)
      return rc;
  }
  int64_t t0 = ds_time_mono_ms();
  int rc = resolve_devices(w, err);
  if (rc != DS_OK)
    return rc;
  rc = exec_cmd(w->conn, "BEGIN", err);
  if (rc != DS_OK)
    return rc;
  if (w->batch_samples > 0)
    rc = copy_samples(w, err);
  if (rc == DS_OK && w->batch_items > 0)
    rc = insert_rejected(w, err);
  if (rc == DS_OK)
    rc = exec_cmd(w->conn, "COMMIT", err);
  if (rc != DS_OK) {
    char ignored[DS_ERRLEN];
    if (!ds_db_broken(w->conn))
      (void)exec_cmd(w->conn, "ROLLBACK", ignored);
    return rc;
  }
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
    ds_log_int(&l, "dur_ms", (long long)(ds_time_mono_ms() - t0));
    ds_log_end(&l);
  }
  batch_clear(w);
  return DS_OK;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Stores the batch, retrying with capped backoff until it is stored or,
 * once shutting down, the shutdown deadline passes. */
static void flush_retrying(struct ingest_writer *w)
{
  long backoff = 100;
  bool reported = false;
  for (;;) {
    char err[DS_ERRLEN];
    int rc = ingest_writer_flush_once(w, err);
    if (rc == DS_OK) {
      if (reported)
        ds_log_msg(DS_LOG_INFO, "db_connected", "batch stored after retrying");
      return;
    }
    atomic_fetch_add(&w->counters->flush_failures, 1);
    if (!reported) {
      struct ds_logline l;
      if (ds_log_begin(&l, DS_LOG_WARN, "batch_failed")) {
        ds_log_int(&l, "samples", (long long)w->batch_samples);
        ds_log_str(&l, "msg", err);
        ds_log_str(&l, "action", "keeping the batch and retrying with backoff");
        ds_log_end(&l);
      }
      reported = true;
    }
    if (ds_db_broken(w->conn) && w->conn != NULL) {
      PQfinish(w->conn);
      w->conn = NULL;
    }
    if (w->give_up_at_ms != 0 && ds_time_mono_ms() >= w->give_up_at_ms) {
      struct ds_logline l;
      if (ds_log_begin(&l, DS_LOG_ERROR, "data_lost")) {
        ds_log_int(&l, "samples", (long long)w->batch_samples);
        ds_log_str(&l, "msg", "shutdown timeout passed with the database unreachable");
        ds_log_end(&l);
      }
      w->lost = true;
      batch_clear(w);
      return;
    }
    sleep_ms(backoff);
    backoff = backoff * 2 > w->cfg->retry_max_ms ? (long)w->cfg->retry_max_ms : backoff * 2;
  }
}

static void *writer_main(void *arg)
{
  struct ingest_writer *w = arg;
  const size_t batch_max = (size_t)w->cfg->batch_max;
  for (;;) {
    int wait = 250;
    if (w->batch_head != NULL) {
      int64_t left = w->batch_started_ms + w->cfg->flush_ms - ds_time_mono_ms();
      wait = left < 0 ? 0 : (int)(left < 250 ? left : 250);
    }
    bool closed = false;
    struct ingest_item *it = ingest_queue_pop(w->queue, wait, &closed);
    if (closed && w->give_up_at_ms == 0)
      w->give_up_at_ms = ds_time_mono_ms() + w->cfg->shutdown_timeout_ms;
    if (it != NULL) {
      batch_add(w, it);
      /* Drain what is already queued, up to the batch size, without waiting. */
      while (w->batch_samples < batch_max && (it = ingest_queue_pop(w->queue, 0, &closed)) != NULL)
        batch_add(w, it);
    }
    bool due =
        w->batch_head != NULL && (w->batch_samples >= batch_max || closed ||
                                  ds_time_mono_ms() - w->batch_started_ms >= w->cfg->flush_ms);
    if (due)
      flush_retrying(w);
    if (closed && w->batch_head == NULL)
      break;
  }
  return NULL;
}

int ingest_writer_start(struct ingest_writer *w)
{
  return pthread_create(&w->thread, NULL, writer_main, w) == 0 ? DS_OK : DS_ENOMEM;
}

bool ingest_writer_join(struct ingest_writer *w)
{
  pthread_join(w->thread, NULL);
  return !w->lost;
}
