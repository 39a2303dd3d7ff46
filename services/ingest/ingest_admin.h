/* Ingest's admin endpoint (ADMIN_PORT): GET /health (200 while the broker
 * is connected and the last storing attempt worked, else 503 saying which)
 * and GET /metrics (the counters of the stats line and the spool's figures
 * as Prometheus text). */
#ifndef INGEST_ADMIN_H
#define INGEST_ADMIN_H

#include "ds/admin.h"
#include "ingest_spool.h"
#include "ingest_writer.h"

struct ingest_admin_ctx {
  struct ingest_counters *counters; /* borrowed */
  struct ingest_spool *spool;       /* borrowed */
};

bool ingest_admin_health(void *ctx, char *detail, size_t cap);
int ingest_admin_metrics(void *ctx, struct ds_buf *out);

#endif
