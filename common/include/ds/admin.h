/* The small admin HTTP endpoint of services that have no HTTP API of their
 * own (ingest, the aggregator): GET /health and GET /metrics (Prometheus
 * text) on ADMIN_ADDR:ADMIN_PORT, served by one libmicrohttpd thread.
 * Anything else is 404; only GET and HEAD are answered. */
#ifndef DS_ADMIN_H
#define DS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "ds/buf.h"
#include "ds/err.h"

/* Health: true when the service works; otherwise detail says what is down
 * (at most cap bytes, NUL-terminated).  Called on the admin thread. */
typedef bool (*ds_admin_health_fn)(void *ctx, char *detail, size_t cap);
/* Metrics: appends Prometheus text to out; DS_OK or an error code.
 * Called on the admin thread. */
typedef int (*ds_admin_metrics_fn)(void *ctx, struct ds_buf *out);

struct ds_admin;

/* Listens on addr:port (an IPv4 or IPv6 address); svc names the service in
 * /health's answer.  ctx is borrowed for the endpoint's life.  Free with
 * ds_admin_stop. */
DS_MUSTCHECK int ds_admin_start(const char *addr, int port, const char *svc,
                                ds_admin_health_fn health, ds_admin_metrics_fn metrics, void *ctx,
                                struct ds_admin **out, char err[DS_ERRLEN]);
/* Stops listening and frees; NULL ok. */
void ds_admin_stop(struct ds_admin *a);

#endif
