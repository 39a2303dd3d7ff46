/* The HTTP server of devicestats-query over GNU libmicrohttpd: a thread
 * pool, one PostgreSQL connection per server thread, body/header limits,
 * bearer-token checks on write routes, metrics, graceful shutdown. */
#ifndef Q_SERVER_H
#define Q_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "query_cfg.h"
#include "query_http.h"

struct ds_mqtt;
struct ds_chunk_cache;

/* Latency histogram bounds in microseconds (Prometheus le= in seconds). */
#define Q_LAT_BUCKETS 12
extern const int64_t q_lat_bounds_us[Q_LAT_BUCKETS];
/* Status codes counted separately; anything else counts as "other". */
#define Q_STATUS_N 13
extern const int q_status_codes[Q_STATUS_N];
#define Q_ROUTES_MAX 32

/* Request size limits, answered with JSON 414/431 by the access handler.
 * libmicrohttpd's own limit (the per-connection memory pool,
 * Q_MHD_POOL_BYTES) sits well above their sum, so only requests past it get
 * libmicrohttpd's HTML answers (and a rate-limited event=http_server). */
#define Q_URI_MAX 8192      /* raw request target, path plus query string */
#define Q_HEADERS_MAX 16384 /* request header lines, "name: value\r\n" each */
#define Q_MHD_POOL_BYTES (64u * 1024)
/* libmicrohttpd's messages: at most one line per this many ms, the next
 * one saying how many were suppressed in between. */
#define Q_MHD_LOG_PERIOD_MS 5000

struct q_metrics {
  /* [route index, or q_routes_n for "unmatched"][status index] */
  atomic_ullong requests[Q_ROUTES_MAX + 1][Q_STATUS_N + 1];
  atomic_ullong lat_bucket[Q_ROUTES_MAX + 1][Q_LAT_BUCKETS + 1];
  atomic_ullong lat_sum_us[Q_ROUTES_MAX + 1];
  atomic_int db_open;             /* server threads holding a connection */
  atomic_ullong db_connects;      /* successful connects */
  atomic_ullong db_connect_fails; /* failed attempts */
  atomic_ullong db_lost;          /* connections found broken */
  atomic_ullong publish_ok, publish_fail;
  atomic_int budget_waiting;
};

/* Creates the server and starts listening (threads from cfg).  mqtt is
 * borrowed (may be NULL) and must outlive the server.  *out freed by
 * q_server_free. */
DS_MUSTCHECK int q_server_start(const struct q_cfg *cfg, struct ds_mqtt *mqtt,
                                struct q_server **out, char err[DS_ERRLEN]);
/* The bound TCP port. */
unsigned q_server_port(const struct q_server *s);
/* Runs until a stop is requested (ds_signal): keeps the broker connection
 * up and logs event=stats periodically.  Then stops accepting, waits for
 * in-flight requests up to cfg->shutdown_timeout_ms. */
void q_server_run(struct q_server *s);
/* Stops the threads (closing their connections) and frees; NULL ok. */
void q_server_free(struct q_server *s);

/* For handlers. */
struct q_metrics *q_server_metrics(struct q_server *s);
/* Reserves bytes of the shared sample-memory budget, waiting up to
 * timeout_ms (a request larger than the whole budget waits until it runs
 * alone).  DS_OK or DS_ETIMEOUT.  No-op when s is NULL. */
DS_MUSTCHECK int q_budget_acquire(struct q_server *s, size_t bytes, int timeout_ms);
void q_budget_release(struct q_server *s, size_t bytes);
/* The server's decoded-chunk cache (QUERY_CHUNK_CACHE_MB), shared by every
 * thread; NULL when disabled or s is NULL. */
struct ds_chunk_cache *q_server_chunk_cache(struct q_server *s);
/* Whether the broker is connected. */
bool q_server_mqtt_up(struct q_server *s);

#endif
