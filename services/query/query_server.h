/* The HTTP server of devicestats-query over GNU libmicrohttpd: the daemon
 * (thread pool, request size limits, bodies, bearer-token checks on write
 * routes, dispatch through the routing table) and its lifecycle (start,
 * the loop that keeps the broker connected and logs event=stats, graceful
 * shutdown).  It owns the parts handlers reach through their request: the
 * per-thread database state (query_db.h), the memory budget
 * (query_budget.h), the chunk cache, the metrics (query_metrics.h). */
#ifndef QUERY_SERVER_H
#define QUERY_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "ds/err.h"
#include "query_cfg.h"

struct ds_mqtt;
struct ds_chunk_cache;
struct query_server;

/* Request size limits, answered with JSON 414/431 by the access handler.
 * libmicrohttpd's own limit (the per-connection memory pool,
 * QUERY_SERVER_MHD_POOL_BYTES) sits well above their sum, so only requests
 * past it get libmicrohttpd's HTML answers (and a rate-limited
 * event=http_server, query_log.h). */
#define QUERY_SERVER_URI_MAX 8192      /* raw request target, path plus query string */
#define QUERY_SERVER_HEADERS_MAX 16384 /* request header lines, "name: value\r\n" each */
#define QUERY_SERVER_MHD_POOL_BYTES (64u * 1024)

/* Creates the server and starts listening (threads from cfg); makes a
 * first broker connection attempt.  cfg and mqtt are borrowed (mqtt may be
 * NULL) and must outlive the server.  *out freed by query_server_free. */
DS_MUSTCHECK int query_server_start(const struct query_cfg *cfg, struct ds_mqtt *mqtt,
                                    struct query_server **out, char err[DS_ERRLEN]);
/* The bound TCP port. */
unsigned query_server_port(const struct query_server *s);
/* Runs until a stop is requested (ds_signal): keeps the broker connection
 * up and logs event=stats periodically.  Then stops accepting, waits for
 * in-flight requests up to cfg->shutdown_timeout_ms. */
void query_server_run(struct query_server *s);
/* Stops the threads (closing their connections) and frees; NULL ok. */
void query_server_free(struct query_server *s);

/* For handlers; each returns NULL (false) when s is NULL (unit tests). */
struct query_metrics *query_server_metrics(struct query_server *s);
struct query_budget *query_server_budget(struct query_server *s);
/* The decoded-chunk cache (QUERY_CHUNK_CACHE_MB), shared by every thread;
 * NULL when disabled. */
struct ds_chunk_cache *query_server_chunk_cache(struct query_server *s);
/* Whether the broker was connected at the loop's last check. */
bool query_server_mqtt_up(struct query_server *s);

#endif
