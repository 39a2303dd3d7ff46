/* Reading samples for the statistics routes (query_fetch.c): one REPEATABLE
 * READ snapshot per request, the sample count checked against
 * QUERY_MAX_SAMPLES, and memory taken from the server's shared budget
 * (query_budget.h), so concurrent requests cannot push the process past
 * QUERY_MEM_BUDGET_MB.
 *
 * Statistics whose samples fit in the budget are read once into memory;
 * larger ones are summarised in a fixed working set (QUERY_FETCH_WINDOW
 * samples read at a time and ds/select.h per axis), reading the samples
 * again for each pass in the same snapshot: the answer is the same, memory
 * does not grow with the history. */
#ifndef QUERY_FETCH_H
#define QUERY_FETCH_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/select.h"
#include "ds/stats.h"
#include "ds/store.h"
#include "query_http.h"

#define QUERY_FETCH_WINDOW 65536         /* samples read between passes' updates */
#define QUERY_FETCH_SEL_CAP (256 * 1024) /* values collected per axis */
#define QUERY_FETCH_PASSES_MAX 8         /* ds/select.h needs at most 7 */

/* A statistics read in progress: transaction, memory reservation, values. */
struct query_fetch {
  PGconn *db;
  bool in_tx;
  size_t reserved; /* bytes taken from the budget */
  void *block;     /* their memory (query_budget_block_get) */
  struct ds_values v;
  struct ds_sel sel[3]; /* x, y, z when read in passes */
};

/* Begins the request's snapshot.  Answers the request itself and returns
 * false on failure (*rc the handler's return value). */
bool query_fetch_begin(struct query_http_req *req, struct query_fetch *f, int *rc);

/* The most samples of keys in [start, end) (chunks the range covers
 * partly counted whole) into *most: answers 413 when surely past
 * QUERY_MAX_SAMPLES (the exact count is checked as they are read).
 * Answers and returns false on failure. */
bool query_fetch_count(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                       size_t nkeys, int64_t start, int64_t end, size_t *most, int *rc);

/* Whether most samples' values fit in the budget at once. */
bool query_fetch_fits(struct query_http_req *req, size_t most);

/* Makes f->v ready in memory for most samples (of query_fetch_count), with
 * times when want_ts: answers 413 when times are wanted for more samples
 * than the budget holds and they turn out to be more; 503 when the budget
 * stays taken.  Answers and returns false on failure. */
bool query_fetch_alloc(struct query_http_req *req, struct query_fetch *f, size_t most, bool want_ts,
                       int *rc);

/* Appends the samples of keys to f->v; answers and returns false on
 * failure. */
bool query_fetch_keys(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                      size_t nkeys, int64_t start, int64_t end, bool want_ts, int *rc);

/* The statistics of the samples of keys in [start, end) into *out (count
 * 0: none), in memory or in passes (see above); f's memory is given back
 * before it returns, its snapshot kept.  Answers and returns false on
 * failure. */
bool query_fetch_stats(struct query_http_req *req, struct query_fetch *f, const int32_t *keys,
                       size_t nkeys, int64_t start, int64_t end, struct ds_stats *out, int *rc);

/* Gives f's memory back to the budget (the snapshot stays). */
void query_fetch_free(struct query_http_req *req, struct query_fetch *f);
/* Ends the snapshot and gives everything back. */
void query_fetch_end(struct query_http_req *req, struct query_fetch *f);

#endif
