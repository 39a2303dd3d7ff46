/* Counters of devicestats-query (requests by route and status, latency
 * histograms, database connections, publications) and their Prometheus
 * text for GET /metrics.  Every server thread adds to the counters
 * (atomics); the metrics route and the stats log line read them. */
#ifndef QUERY_METRICS_H
#define QUERY_METRICS_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ds/err.h"

struct ds_chunk_cache;

/* Latency histogram bounds in microseconds (Prometheus le= in seconds). */
#define QUERY_METRICS_LAT_BUCKETS 12
extern const int64_t query_metrics_lat_bounds_us[QUERY_METRICS_LAT_BUCKETS];
/* Status codes counted separately; anything else counts as "other". */
#define QUERY_METRICS_STATUS_N 13
extern const int query_metrics_status_codes[QUERY_METRICS_STATUS_N];
/* Most routes counted separately (the routing table must not be longer). */
#define QUERY_METRICS_ROUTES_MAX 32

struct query_metrics {
  /* [route index, or query_routes_n for "unmatched"][status index] */
  atomic_ullong requests[QUERY_METRICS_ROUTES_MAX + 1][QUERY_METRICS_STATUS_N + 1];
  atomic_ullong lat_bucket[QUERY_METRICS_ROUTES_MAX + 1][QUERY_METRICS_LAT_BUCKETS + 1];
  atomic_ullong lat_sum_us[QUERY_METRICS_ROUTES_MAX + 1];
  atomic_int db_open;             /* server threads holding a connection */
  atomic_ullong db_connects;      /* successful connects */
  atomic_ullong db_connect_fails; /* failed attempts */
  atomic_ullong db_lost;          /* connections found broken */
  atomic_ullong publish_ok, publish_fail;
  /* statistics read in passes (more samples than the budget holds) */
  atomic_ullong multipass_requests, multipass_passes;
};

/* Counts one finished request: route is an index in query_routes (or
 * negative: unmatched), status its HTTP status, dur_us its duration. */
void query_metrics_record(struct query_metrics *m, int route, int status, int64_t dur_us);
/* Requests counted so far, over every route and status. */
unsigned long long query_metrics_requests_total(const struct query_metrics *m);

/* The Prometheus text of GET /metrics, appended to b in parts; each
 * returns DS_OK or ds_buf's error. */
/* Requests by route and status, and the latency histograms. */
DS_MUSTCHECK int query_metrics_write_requests(struct ds_buf *b, const struct query_metrics *m);
/* Database connections (threads: the pool size), requests waiting for the
 * memory budget, publications and whether the broker is up. */
DS_MUSTCHECK int query_metrics_write_service(struct ds_buf *b, const struct query_metrics *m,
                                             long long threads, int budget_waiting, bool broker_up);
/* The decoded-chunk cache's counters (cache borrowed; nothing for NULL). */
DS_MUSTCHECK int query_metrics_write_chunk_cache(struct ds_buf *b, struct ds_chunk_cache *cache);
/* Rejected messages by reason, from rows (reason code, count) of res
 * (borrowed); NULL: the database is down, only db_up 0 is written. */
DS_MUSTCHECK int query_metrics_write_db(struct ds_buf *b, PGresult *rejected);
/* Each ingest instance's progress from rows (instance, last stored spool
 * record, redeliveries recognised, Unix time of the last batch) of res
 * (borrowed); nothing for NULL. */
DS_MUSTCHECK int query_metrics_write_ingest(struct ds_buf *b, PGresult *progress);

#endif
