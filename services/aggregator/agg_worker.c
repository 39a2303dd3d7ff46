/* Worker threads: claim, compute and store a batch of devices or one user
 * at a time (see agg_worker.h, agg_batch.h and deploy/sql/003_aggregator.sql
 * for the protocol). */
#include "agg_worker.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agg_batch.h"
#include "agg_runs.h"
#include "agg_snap.h"
#include "agg_work.h"
#include "ds/db.h"
#include "ds/log.h"
#include "ds/signal.h"
#include "ds/store_batch.h"
#include "ds/store_maint.h"
#include "ds/time.h"

/* A work item that fails this many times in a row on database errors is
 * marked failed, so a poison item cannot hold a run for ever. */
#define ITEM_MAX_ATTEMPTS 3
/* A batch aims at about this many samples (~24 MB read), as many devices as
 * that takes at the last batch's mean, within AGGREGATOR_BATCH_DEVICES: a
 * batch of many small devices amortises its round trips and commit, and a
 * batch of large ones stays short, so workers finish a run together. */
#define BATCH_SAMPLES 1000000
/* The first batch's size, before any mean is known. */
#define BATCH_FIRST 16

int agg_worker_compact_device(PGconn *c, int32_t key, long long chunk_rows, long long *rows,
                              char err[DS_ERRLEN])
{
  for (;;) {
    int moved = 0;
    int rc = ds_store_compact(c, key, (int)chunk_rows, &moved, err);
    if (rc != DS_OK)
      return rc;
    *rows += moved;
    if (moved < chunk_rows)
      return DS_OK;
  }
}

/* Calls of ds_merge_chunks per device and pass: each takes at most 64
 * chunks, so this bounds one transaction at ~1,000 chunks; a larger backlog
 * is merged over the next passes. */
#define MERGE_CALLS_MAX 16

int agg_worker_merge_device(PGconn *c, int32_t key, long long chunk_rows, long long *merged,
                            char err[DS_ERRLEN])
{
  for (int i = 0; i < MERGE_CALLS_MAX; i++) {
    int took = 0;
    int rc = ds_store_merge_chunks(c, key, (int)chunk_rows, &took, err);
    if (rc != DS_OK)
      return rc;
    *merged += took;
    if (took == 0)
      break;
  }
  return DS_OK;
}

/* Compacts one device, then merges its small chunks (the new one included),
 * in its own transaction, unless a snapshot or another compactor holds the
 * device (it will be compacted there, or next pass). */
static int compact_one(PGconn *c, int32_t key, long long chunk_rows, long long *rows,
                       long long *merged, char err[DS_ERRLEN])
{
  if (ds_db_exec(c, "BEGIN", 0, NULL, NULL, err) != DS_OK)
    return DS_EDB;
  bool got = false;
  long long moved = 0, took = 0;
  int rc = agg_work_lock_device(c, key, true, &got, err);
  if (rc == DS_OK && got)
    rc = agg_worker_compact_device(c, key, chunk_rows, &moved, err);
  if (rc == DS_OK && got)
    rc = agg_worker_merge_device(c, key, chunk_rows, &took, err);
  if (rc != DS_OK) {
    ds_db_rollback(c);
    return rc;
  }
  if (ds_db_exec(c, "COMMIT", 0, NULL, NULL, err) != DS_OK) {
    ds_db_rollback(c);
    return DS_EDB;
  }
  *rows += moved;
  *merged += took;
  return DS_OK;
}

int agg_worker_compact_pass(PGconn *c, const struct agg_cfg *cfg, long long *rows,
                            long long *merged, char err[DS_ERRLEN])
{
  int32_t *keys = NULL;
  size_t n = 0;
  int rc =
      agg_work_compact_candidates(c, cfg->compact_min_rows, cfg->compact_max_age_s, &keys, &n, err);
  for (size_t i = 0; rc == DS_OK && i < n; i++) {
    if (ds_signal_stop_requested()) {
      rc = DS_ESTOPPED;
      break;
    }
    rc = compact_one(c, keys[i], cfg->chunk_rows, rows, merged, err);
  }
  DS_FREE(keys);
  return rc;
}

/* items: the size of the batch that failed (key is its first item). */
static void log_item_error(struct agg_worker *w, const char *rid, char kind, int32_t key,
                           size_t items, int code, const char *err)
{
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_WARN, "item_error")) {
    ds_log_str(&l, "request_id", rid);
    ds_log_str(&l, "kind", kind == 'd' ? "device" : "user");
    ds_log_int(&l, "key", key);
    if (items > 1)
      ds_log_int(&l, "items", (long long)items);
    ds_log_int(&l, "worker", w->index);
    ds_log_str(&l, "code", ds_strerror(code));
    ds_log_str(&l, "msg", err);
    ds_log_end(&l);
  }
}

/* Computes the claimed user inside its open transaction and stores it. */
static int compute_user(struct agg_worker *w, const char *rid, int32_t key, char err[DS_ERRLEN])
{
  int32_t *keys = NULL;
  size_t nkeys = 0;
  int rc = agg_work_user_devices(w->conn, key, &keys, &nkeys, err);
  if (rc != DS_OK)
    return rc;
  /* Hold the devices against the compactor while computing.  The run does
   * not compact them itself: ds_store_fetch reads recent rows as well, and a
   * compaction here would add writes (and small chunks) to every run; the
   * periodic pass compacts and merges instead. */
  for (size_t i = 0; i < nkeys; i++) {
    bool got = false;
    if ((rc = agg_work_lock_device(w->conn, keys[i], false, &got, err)) != DS_OK)
      goto out;
  }
  ds_values_reset(&w->values);
  if (nkeys > 0 && (rc = ds_store_fetch(w->conn, &w->store_stmts, keys, nkeys, DS_TIME_NONE,
                                        DS_TIME_NONE, false, &w->values, err)) != DS_OK)
    goto out;
  atomic_fetch_add(&w->counters.samples, (long long)w->values.n);
  struct ds_stats st;
  agg_snap_compute(&w->values, &st);
  rc = agg_work_store_user(w->conn, rid, key, keys, nkeys, &st, w->me, err);
  if (rc == DS_OK)
    atomic_fetch_add(&w->counters.users, 1);
out:
  DS_FREE(keys);
  return rc;
}

/* The fetch's callback context: the batch and the next item to match. */
struct batch_ctx {
  struct agg_batch *b;
  size_t next;
  long long samples;
};

/* One device's samples (ds_store_device_fn): its snapshot, or its failure,
 * into its batch item.  Devices come in key order, as the items are. */
static int on_device(void *ctx, int32_t key, struct ds_values *v, int64_t last_pg, int vrc)
{
  struct batch_ctx *bc = ctx;
  struct agg_batch *b = bc->b;
  while (bc->next < b->n && b->items[bc->next].key < key)
    bc->next++;
  if (bc->next >= b->n || b->items[bc->next].key != key)
    return DS_OK; /* not asked for: cannot happen, the statement names the keys */
  struct agg_batch_item *it = &b->items[bc->next++];
  it->has_last = true;
  it->last_pg = last_pg;
  it->code = vrc;
  if (vrc == DS_OK) {
    bc->samples += (long long)v->n;
    agg_snap_compute(v, &it->st);
  }
  return DS_OK;
}

/* Computes the claimed device batch inside its open transaction and stores
 * it.  Items the fetch does not report have no samples: their snapshot
 * says so (count 0), as before batching. */
static int compute_batch(struct agg_worker *w, const char *rid, char err[DS_ERRLEN])
{
  struct agg_batch *b = &w->batch;
  int rc = agg_batch_lock_devices(w->conn, b, err);
  if (rc != DS_OK)
    return rc;
  int32_t keys[AGG_BATCH_MAX];
  for (size_t i = 0; i < b->n; i++)
    keys[i] = b->items[i].key;
  struct batch_ctx bc = {.b = b};
  if ((rc = ds_store_fetch_devices(w->conn, keys, b->n, &w->values, on_device, &bc, err)) != DS_OK)
    return rc;
  size_t done = 0, failed = 0;
  if ((rc = agg_batch_store(w->conn, rid, b, w->me, &done, &failed, err)) != DS_OK)
    return rc;
  atomic_fetch_add(&w->counters.samples, bc.samples);
  atomic_fetch_add(&w->counters.devices, (long long)done);
  atomic_fetch_add(&w->counters.failed, (long long)failed);
  for (size_t i = 0; i < b->n; i++)
    if (b->items[i].code != DS_OK)
      log_item_error(w, rid, 'd', b->items[i].key, 1, b->items[i].code,
                     b->items[i].code == DS_ERANGE ? "too many samples" : "out of memory");
  /* The next batch: about BATCH_SAMPLES samples at this batch's mean. */
  long long mean = bc.samples / (long long)b->n;
  size_t want = mean > 0 ? (size_t)(BATCH_SAMPLES / mean) : b->cap;
  w->batch_want = want < 1 ? 1 : want > b->cap ? b->cap : want;
  return DS_OK;
}

/* Handles a failed item: database errors are retried (the rollback makes
 * the item pending again) up to ITEM_MAX_ATTEMPTS; anything else (too many
 * samples, out of memory) fails the item at once. */
static void item_failed(struct agg_worker *w, const char *rid, char kind, int32_t key, int code,
                        const char *why)
{
  log_item_error(w, rid, kind, key, 1, code, why);
  ds_db_rollback(w->conn);
  if (code == DS_EDB) {
    atomic_fetch_add(&w->counters.db_errors, 1);
    if (strcmp(w->fail_rid, rid) == 0 && w->fail_kind == kind && w->fail_key == key) {
      w->fail_count++;
    } else {
      snprintf(w->fail_rid, sizeof w->fail_rid, "%s", rid);
      w->fail_kind = kind;
      w->fail_key = key;
      w->fail_count = 1;
    }
    if (w->fail_count < ITEM_MAX_ATTEMPTS || ds_db_broken(w->conn))
      return;
  }
  char reason[DS_ERRLEN], err[DS_ERRLEN] = "";
  snprintf(reason, sizeof reason, "%s: %s", ds_strerror(code), why);
  if (agg_work_fail(w->conn, rid, kind, key, reason, w->me, err) == DS_OK)
    atomic_fetch_add(&w->counters.failed, 1);
  else
    log_item_error(w, rid, kind, key, 1, DS_EDB, err);
}

/* Handles a failed batch of several devices: rolled back, so its items are
 * pending again; then this worker takes the next items one at a time (as
 * many as the batch had), so that item_failed singles out an item that
 * fails on its own. */
static void batch_failed(struct agg_worker *w, const char *rid, int code, const char *why)
{
  const struct agg_batch *b = &w->batch;
  if (b->n == 1) {
    item_failed(w, rid, b->kind, b->items[0].key, code, why);
    return;
  }
  log_item_error(w, rid, b->kind, b->items[0].key, b->n, code, why);
  ds_db_rollback(w->conn);
  if (code == DS_EDB)
    atomic_fetch_add(&w->counters.db_errors, 1);
  w->batch_single = b->n;
}

/* Works on run rid until it has no pending work left or a stop is asked. */
static void work_run(struct agg_worker *w, const char *rid)
{
  char err[DS_ERRLEN] = "";
  while (!ds_signal_stop_requested() && !ds_db_broken(w->conn)) {
    struct agg_batch *b = &w->batch;
    if (agg_batch_claim(w->conn, rid, w->batch_single > 0 ? 1 : w->batch_want, b, err) != DS_OK) {
      ds_log_msg(DS_LOG_WARN, "db_error", "claim: %s", err);
      ds_db_rollback(w->conn);
      return;
    }
    if (b->n == 0)
      break;
    if (w->batch_single > 0)
      w->batch_single--;
    int rc =
        b->kind == 'u' ? compute_user(w, rid, b->items[0].key, err) : compute_batch(w, rid, err);
    if (rc != DS_OK)
      batch_failed(w, rid, rc, err);
    bool got = false;
    struct ds_recalc_status st;
    if (agg_runs_progress(w->conn, rid, &got, &st, err) == DS_OK && got) {
      agg_outbox_push(w->outbox, &st);
    }
  }
  if (ds_signal_stop_requested() || ds_db_broken(w->conn))
    return;
  bool done = false;
  struct ds_recalc_status st;
  if (agg_runs_finish(w->conn, rid, &done, &st, err) != DS_OK)
    ds_log_msg(DS_LOG_WARN, "db_error", "finish: %s", err);
  else if (done)
    agg_outbox_push(w->outbox, &st);
}

static void maybe_compact(struct agg_worker *w)
{
  if (w->index != 0 || w->cfg->compact_interval_s <= 0 || ds_time_mono_ms() < w->next_compact_ms)
    return;
  char err[DS_ERRLEN] = "";
  long long rows = 0, merged = 0;
  int64_t t0 = ds_time_mono_ms();
  int rc = agg_worker_compact_pass(w->conn, w->cfg, &rows, &merged, err);
  atomic_fetch_add(&w->counters.compacted_rows, rows);
  w->next_compact_ms = ds_time_mono_ms() + w->cfg->compact_interval_s * 1000;
  if (rc == DS_EDB) {
    ds_log_msg(DS_LOG_WARN, "compact_failed", "%s", err);
    ds_db_rollback(w->conn);
  } else if (rows > 0 || merged > 0) {
    struct ds_logline l;
    if (ds_log_begin(&l, DS_LOG_DEBUG, "compacted")) {
      ds_log_int(&l, "rows", rows);
      ds_log_int(&l, "chunks_merged", merged);
      ds_log_int(&l, "dur_ms", ds_time_mono_ms() - t0);
      ds_log_end(&l);
    }
  }
}

static void set_cancel(struct agg_worker *w, PGcancel *c)
{
  pthread_mutex_lock(&w->cancel_lock);
  if (w->cancel != NULL)
    PQfreeCancel(w->cancel);
  w->cancel = c;
  pthread_mutex_unlock(&w->cancel_lock);
}

static int ensure_conn(struct agg_worker *w)
{
  /* A connection left in pipeline mode by a failed claim is replaced too. */
  if (w->conn != NULL && !ds_db_broken(w->conn) && PQpipelineStatus(w->conn) == PQ_PIPELINE_OFF)
    return DS_OK;
  if (w->conn != NULL) {
    set_cancel(w, NULL);
    PQfinish(w->conn);
    w->conn = NULL;
  }
  if (!ds_backoff_due(&w->db_backoff, ds_time_mono_ms()))
    return DS_EDB;
  char app[64], err[DS_ERRLEN] = "";
  snprintf(app, sizeof app, "devicestats-aggregator-w%d", w->index);
  int rc = ds_db_connect(w->cfg->database_url, app, &w->conn, err);
  if (rc != DS_OK) {
    /* Logged once per outage and worker, like the main thread's. */
    if (ds_backoff_failed(&w->db_backoff, ds_time_mono_ms()))
      ds_log_msg(DS_LOG_WARN, "db_unavailable", "worker %d: %s; retrying with backoff up to %ld ms",
                 w->index, err, w->db_backoff.max_ms);
    return rc;
  }
  if (ds_backoff_succeeded(&w->db_backoff))
    ds_log_msg(DS_LOG_INFO, "db_connected", "worker %d: reachable again", w->index);
  ds_store_stmts_reset(&w->store_stmts);
  if (agg_runs_listen(w->conn, err) != DS_OK) {
    ds_log_msg(DS_LOG_WARN, "db_error", "listen: %s", err);
    (void)ds_backoff_failed(&w->db_backoff, ds_time_mono_ms());
    PQfinish(w->conn);
    w->conn = NULL;
    return DS_EDB;
  }
  /* A backend notices a vanished client only when it next talks to it;
   * with this (PostgreSQL 14+) a statement of a killed aggregator stops
   * within a second and releases its work row.  Older servers: ignored. */
  PGresult *r = PQexec(w->conn, "SET client_connection_check_interval = 1000");
  PQclear(r);
  /* A worker commits once per device; waiting for each commit's WAL flush
   * cost more than the computation for small devices.  Snapshots can be
   * computed again, and a crash of PostgreSQL loses a suffix of these
   * commits as a whole (items go back to pending).  The run's finish
   * commits synchronously (agg_runs_finish), which flushes every earlier
   * commit of the run with it: a run announced done is durable. */
  r = PQexec(w->conn, "SET synchronous_commit = off");
  PQclear(r);
  set_cancel(w, PQgetCancel(w->conn));
  return DS_OK;
}

static void *worker_main(void *arg)
{
  struct agg_worker *w = arg;
  char err[DS_ERRLEN] = "";
  while (!ds_signal_stop_requested()) {
    if (ensure_conn(w) != DS_OK) {
      if (!ds_backoff_wait(&w->db_backoff))
        break;
      continue;
    }
    char rid[DS_RECALC_REQUEST_ID_MAX + 1];
    bool got = false;
    if (agg_runs_active(w->conn, &got, rid, err) != DS_OK) {
      ds_log_msg(DS_LOG_WARN, "db_error", "active run: %s", err);
      ds_signal_sleep_ms(w->cfg->poll_ms);
      continue;
    }
    if (got) {
      work_run(w, rid);
      continue;
    }
    maybe_compact(w);
    if (agg_runs_wait(w->conn, (int)w->cfg->poll_ms, err) != DS_OK)
      ds_signal_sleep_ms(w->cfg->poll_ms);
  }
  ds_db_rollback(w->conn);
  atomic_store(&w->exited, true);
  return NULL;
}

int agg_worker_start(struct agg_worker *w)
{
  if (agg_batch_init(&w->batch, (size_t)w->cfg->batch_devices) != DS_OK)
    return DS_ENOMEM;
  w->batch_want = BATCH_FIRST < w->batch.cap ? BATCH_FIRST : w->batch.cap;
  w->batch_single = 0;
  ds_values_init(&w->values, (size_t)w->cfg->max_samples);
  w->next_compact_ms = ds_time_mono_ms();
  ds_backoff_init(&w->db_backoff, (long)w->cfg->retry_min_ms, (long)w->cfg->retry_max_ms);
  w->conn = NULL;
  w->cancel = NULL;
  atomic_store(&w->exited, false);
  if (pthread_mutex_init(&w->cancel_lock, NULL) != 0) {
    ds_values_cleanup(&w->values);
    agg_batch_cleanup(&w->batch);
    return DS_ENOMEM;
  }
  if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
    ds_values_cleanup(&w->values);
    agg_batch_cleanup(&w->batch);
    pthread_mutex_destroy(&w->cancel_lock);
    return DS_ENOMEM;
  }
  w->started = true;
  return DS_OK;
}

void agg_worker_join(struct agg_worker *w, long long timeout_ms)
{
  if (!w->started)
    return;
  int64_t deadline = ds_time_mono_ms() + timeout_ms;
  while (!atomic_load(&w->exited) && ds_time_mono_ms() < deadline) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (!atomic_load(&w->exited)) {
    pthread_mutex_lock(&w->cancel_lock);
    char errbuf[256];
    if (w->cancel != NULL && PQcancel(w->cancel, errbuf, (int)sizeof errbuf))
      ds_log_msg(DS_LOG_WARN, "shutdown_cancel", "worker %d: statement cancelled", w->index);
    pthread_mutex_unlock(&w->cancel_lock);
  }
  pthread_join(w->thread, NULL);
  set_cancel(w, NULL);
  pthread_mutex_destroy(&w->cancel_lock);
  w->started = false;
  if (w->conn != NULL)
    PQfinish(w->conn);
  w->conn = NULL;
  ds_values_cleanup(&w->values);
  agg_batch_cleanup(&w->batch);
}
