/* Reading samples back for statistics, shared by the query service and the
 * aggregator.  Samples live in two tables (see deploy/sql/001_init.sql):
 * samples_recent, one row per sample as ingest COPYs them, and
 * sample_chunks, one row per device per compacted chunk holding arrays.
 * ds_store_fetch reads both, in binary, and returns plain value arrays;
 * ds_store_fetch_cached does the same through a ds/chunk_cache.h cache.
 * Compaction and merging (the aggregator's) are in ds/store_maint.h. */
#ifndef DS_STORE_H
#define DS_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/stats.h"

struct ds_chunk_cache;

/* The store's prepared statements on one connection.  Whoever owns a
 * PGconn keeps one of these beside it (zeroed, or ds_store_stmts_reset,
 * when the connection is made) and passes both to every call below; the
 * library keeps no state of its own per thread or per connection.  A
 * thread may use any number of connections, each with its own. */
struct ds_store_stmts {
  int pid;           /* backend pid of the connection they were prepared on */
  unsigned prepared; /* one bit per statement */
};

/* Forgets every prepared statement (for a new connection). */
void ds_store_stmts_reset(struct ds_store_stmts *st);

/* Columns of samples; ts is filled only when asked for.  In flush mode
 * (ds_values_set_flush) the arrays are a window: when the next values do
 * not fit, the fetch hands the window to the flush function and starts it
 * over, so any number of samples pass through cap of memory. */
struct ds_values {
  double *x, *y, *z;
  int64_t *ts; /* Unix microseconds, or NULL */
  size_t n, cap;
  size_t max;     /* hard limit on flushed + n; DS_ERANGE past it */
  size_t flushed; /* values handed to flush so far */
  bool fixed;     /* the arrays are the caller's (ds_values_init_fixed) */
  /* The window's n values (the caller empties nothing: the fetch does);
   * DS_OK or an error, which ends the fetch with it. */
  int (*flush)(void *arg, const struct ds_values *v);
  void *flush_arg;
};

void ds_values_init(struct ds_values *v, size_t max);
/* Values in the caller's arrays (borrowed until cleanup), each of cap
 * elements: never reallocated (DS_ERANGE past cap, as past max = cap) nor
 * freed.  ts may be NULL (then a fetch with want_ts fails with DS_ERANGE). */
void ds_values_init_fixed(struct ds_values *v, double *x, double *y, double *z, int64_t *ts,
                          size_t cap);
/* Flush mode for fixed arrays (cap >= 1), with at most max values in all:
 * see struct ds_values.  The last window is the caller's to flush after
 * the fetch (v->n values). */
void ds_values_set_flush(struct ds_values *v, size_t max,
                         int (*flush)(void *arg, const struct ds_values *v), void *arg);
void ds_values_cleanup(struct ds_values *v);
/* Empties v (flushed values too). */
void ds_values_reset(struct ds_values *v);

/* Looks up a device's integer key by name: DS_OK, DS_ENOTFOUND or DS_EDB.
 * st: conn's statements (borrowed, updated). */
DS_MUSTCHECK int ds_store_device_key(PGconn *conn, struct ds_store_stmts *st, const char *name,
                                     int32_t *key, char err[DS_ERRLEN]);

/* Appends to out every sample of the devices keys[0..nkeys) with
 * start_us <= ts < end_us (either bound may be DS_TIME_NONE), fetching ts
 * as well when want_ts.  Order is unspecified. */
DS_MUSTCHECK int ds_store_fetch(PGconn *conn, struct ds_store_stmts *st, const int32_t *keys,
                                size_t nkeys, int64_t start_us, int64_t end_us, bool want_ts,
                                struct ds_values *out, char err[DS_ERRLEN]);

/* As ds_store_fetch (same samples, same errors, one statement and so one
 * snapshot), but chunks found in cache (borrowed; shared by any number of
 * threads) are not transferred: the statement names them and gets only
 * their metadata.  Chunks the range covers partially are decoded into the
 * cache.  cache NULL: exactly ds_store_fetch. */
DS_MUSTCHECK int ds_store_fetch_cached(PGconn *conn, struct ds_store_stmts *st,
                                       struct ds_chunk_cache *cache, const int32_t *keys,
                                       size_t nkeys, int64_t start_us, int64_t end_us, bool want_ts,
                                       struct ds_values *out, char err[DS_ERRLEN]);

/* Statistics of every value in v (reorders its arrays). */
void ds_values_stats(struct ds_values *v, struct ds_stats *out);

#endif
