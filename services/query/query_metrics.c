/* Counters of devicestats-query and their Prometheus text (see
 * query_metrics.h); GET /metrics itself is in query_ops.c. */
#include "query_metrics.h"

#include <inttypes.h>
#include <stdio.h>

#include "ds/chunk_cache.h"
#include "query_http.h"
#include "query_routes.h"

const int64_t query_metrics_lat_bounds_us[QUERY_METRICS_LAT_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};
const int query_metrics_status_codes[QUERY_METRICS_STATUS_N] = {200, 201, 202, 400, 401, 404, 405,
                                                                413, 414, 431, 500, 501, 503};

void query_metrics_record(struct query_metrics *m, int route, int status, int64_t dur_us)
{
  size_t r = route >= 0 && (size_t)route < query_routes_n ? (size_t)route : query_routes_n;
  size_t si = QUERY_METRICS_STATUS_N;
  for (size_t i = 0; i < QUERY_METRICS_STATUS_N; i++)
    if (query_metrics_status_codes[i] == status)
      si = i;
  atomic_fetch_add(&m->requests[r][si], 1);
  size_t b = QUERY_METRICS_LAT_BUCKETS;
  for (size_t i = 0; i < QUERY_METRICS_LAT_BUCKETS; i++)
    if (dur_us <= query_metrics_lat_bounds_us[i]) {
      b = i;
      break;
    }
  atomic_fetch_add(&m->lat_bucket[r][b], 1);
  atomic_fetch_add(&m->lat_sum_us[r], (unsigned long long)(dur_us > 0 ? dur_us : 0));
}

unsigned long long query_metrics_requests_total(const struct query_metrics *m)
{
  unsigned long long total = 0;
  for (size_t r = 0; r <= query_routes_n; r++)
    for (size_t i = 0; i <= QUERY_METRICS_STATUS_N; i++)
      total += atomic_load(&m->requests[r][i]);
  return total;
}

/* method="...",route="..." of route index r (r == query_routes_n: unmatched). */
static void route_labels(size_t r, char *out, size_t cap)
{
  snprintf(out, cap, "method=\"%s\",route=\"%s\"", r < query_routes_n ? query_routes[r].method : "",
           r < query_routes_n ? query_routes[r].pattern : "unmatched");
}

static int write_request_counts(struct ds_buf *b, const struct query_metrics *m)
{
  int rc = ds_buf_append_str(b, "# HELP devicestats_query_requests_total HTTP requests by route "
                                "and status.\n# TYPE devicestats_query_requests_total counter\n");
  for (size_t r = 0; rc == DS_OK && r <= query_routes_n; r++)
    for (size_t i = 0; rc == DS_OK && i <= QUERY_METRICS_STATUS_N; i++) {
      unsigned long long v = atomic_load(&m->requests[r][i]);
      if (v == 0)
        continue;
      char st[16], lbl[128];
      if (i < QUERY_METRICS_STATUS_N)
        snprintf(st, sizeof st, "%d", query_metrics_status_codes[i]);
      else
        snprintf(st, sizeof st, "other");
      route_labels(r, lbl, sizeof lbl);
      rc = ds_buf_appendf(b, "devicestats_query_requests_total{%s,status=\"%s\"} %llu\n", lbl, st,
                          v);
    }
  return rc;
}

/* One route's latency histogram (nothing when it has no requests). */
static int write_latency(struct ds_buf *b, const struct query_metrics *m, size_t r)
{
  unsigned long long cum = 0, cnt = 0;
  for (size_t i = 0; i <= QUERY_METRICS_LAT_BUCKETS; i++)
    cnt += atomic_load(&m->lat_bucket[r][i]);
  if (cnt == 0)
    return DS_OK;
  char lbl[128];
  route_labels(r, lbl, sizeof lbl);
  int rc = DS_OK;
  for (size_t i = 0; rc == DS_OK && i <= QUERY_METRICS_LAT_BUCKETS; i++) {
    cum += atomic_load(&m->lat_bucket[r][i]);
    if (i < QUERY_METRICS_LAT_BUCKETS)
      rc = ds_buf_appendf(b,
                          "devicestats_query_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
                          lbl, (double)query_metrics_lat_bounds_us[i] / 1e6, cum);
    else
      rc = ds_buf_appendf(
          b, "devicestats_query_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lbl, cum);
  }
  if (rc == DS_OK)
    rc = ds_buf_appendf(b,
                        "devicestats_query_request_duration_seconds_sum{%s} %.6f\n"
                        "devicestats_query_request_duration_seconds_count{%s} %llu\n",
                        lbl, (double)atomic_load(&m->lat_sum_us[r]) / 1e6, lbl, cnt);
  return rc;
}

int query_metrics_write_requests(struct ds_buf *b, const struct query_metrics *m)
{
  int rc = write_request_counts(b, m);
  if (rc == DS_OK)
    rc =
        ds_buf_append_str(b, "# HELP devicestats_query_request_duration_seconds Request "
                             "latency by route.\n# TYPE devicestats_query_request_duration_seconds "
                             "histogram\n");
  for (size_t r = 0; rc == DS_OK && r <= query_routes_n; r++)
    rc = write_latency(b, m, r);
  return rc;
}

int query_metrics_write_service(struct ds_buf *b, const struct query_metrics *m, long long threads,
                                int budget_waiting, bool broker_up)
{
  return ds_buf_appendf(
      b,
      "# HELP devicestats_query_db_connections Open database connections (one per server "
      "thread at most).\n# TYPE devicestats_query_db_connections gauge\n"
      "devicestats_query_db_connections %d\n"
      "# HELP devicestats_query_db_pool_size Server threads, each with its own connection.\n"
      "# TYPE devicestats_query_db_pool_size gauge\ndevicestats_query_db_pool_size %lld\n"
      "# TYPE devicestats_query_db_connects_total counter\n"
      "devicestats_query_db_connects_total %llu\n"
      "# TYPE devicestats_query_db_connect_failures_total counter\n"
      "devicestats_query_db_connect_failures_total %llu\n"
      "# TYPE devicestats_query_db_connections_lost_total counter\n"
      "devicestats_query_db_connections_lost_total %llu\n"
      "# TYPE devicestats_query_budget_waiting gauge\n"
      "devicestats_query_budget_waiting %d\n"
      "# TYPE devicestats_query_published_total counter\n"
      "devicestats_query_published_total %llu\n"
      "# TYPE devicestats_query_publish_failures_total counter\n"
      "devicestats_query_publish_failures_total %llu\n"
      "# TYPE devicestats_query_broker_up gauge\ndevicestats_query_broker_up %d\n"
      "# HELP devicestats_query_multipass_requests_total Statistics requests with more samples "
      "than QUERY_MEM_BUDGET_MB holds, read in passes.\n"
      "# TYPE devicestats_query_multipass_requests_total counter\n"
      "devicestats_query_multipass_requests_total %llu\n"
      "# TYPE devicestats_query_multipass_passes_total counter\n"
      "devicestats_query_multipass_passes_total %llu\n",
      atomic_load(&m->db_open), threads, atomic_load(&m->db_connects),
      atomic_load(&m->db_connect_fails), atomic_load(&m->db_lost), budget_waiting,
      atomic_load(&m->publish_ok), atomic_load(&m->publish_fail), broker_up ? 1 : 0,
      atomic_load(&m->multipass_requests), atomic_load(&m->multipass_passes));
}

int query_metrics_write_chunk_cache(struct ds_buf *b, struct ds_chunk_cache *cache)
{
  if (cache == NULL)
    return DS_OK;
  struct ds_chunk_cache_stats cs;
  ds_chunk_cache_stats(cache, &cs);
  return ds_buf_appendf(
      b,
      "# HELP devicestats_query_chunk_cache_hits_total Sample chunks read from the "
      "decoded-chunk cache.\n# TYPE devicestats_query_chunk_cache_hits_total counter\n"
      "devicestats_query_chunk_cache_hits_total %" PRIu64 "\n"
      "# HELP devicestats_query_chunk_cache_misses_total Sample chunks read from the "
      "database.\n# TYPE devicestats_query_chunk_cache_misses_total counter\n"
      "devicestats_query_chunk_cache_misses_total %" PRIu64 "\n"
      "# TYPE devicestats_query_chunk_cache_evictions_total counter\n"
      "devicestats_query_chunk_cache_evictions_total %" PRIu64 "\n"
      "# TYPE devicestats_query_chunk_cache_entries gauge\n"
      "devicestats_query_chunk_cache_entries %zu\n"
      "# TYPE devicestats_query_chunk_cache_bytes gauge\n"
      "devicestats_query_chunk_cache_bytes %zu\n"
      "# TYPE devicestats_query_chunk_cache_max_bytes gauge\n"
      "devicestats_query_chunk_cache_max_bytes %zu\n",
      cs.hits, cs.misses, cs.evictions, cs.entries, cs.bytes, cs.max_bytes);
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static int append_label(struct ds_buf *b, const char *s, size_t len)
{
  int rc = DS_OK;
  for (size_t i = 0; rc == DS_OK && i < len; i++) {
    if (s[i] == '\\' || s[i] == '"')
      rc = ds_buf_appendf(b, "\\%c", s[i]);
    else if (s[i] == '\n')
      rc = ds_buf_append_str(b, "\\n");
    else
      rc = ds_buf_append(b, &s[i], 1);
  }
  return rc;
}

int query_metrics_write_db(struct ds_buf *b, PGresult *rejected)
{
  int rc = DS_OK;
  if (rejected != NULL)
    rc = ds_buf_append_str(b, "# HELP devicestats_rejected_messages Messages kept in the "
                              "rejected table, by reason.\n"
                              "# TYPE devicestats_rejected_messages gauge\n");
  for (int i = 0; rc == DS_OK && rejected != NULL && i < PQntuples(rejected); i++) {
    rc = ds_buf_append_str(b, "devicestats_rejected_messages{reason=\"");
    if (rc == DS_OK)
      rc = append_label(b, PQgetvalue(rejected, i, 0), (size_t)PQgetlength(rejected, i, 0));
    if (rc == DS_OK)
      rc = ds_buf_appendf(b, "\"} %s\n", PQgetvalue(rejected, i, 1));
  }
  if (rc == DS_OK)
    rc = ds_buf_appendf(b, "# TYPE devicestats_query_db_up gauge\ndevicestats_query_db_up %d\n",
                        rejected != NULL ? 1 : 0);
  return rc;
}

int query_metrics_write_ingest(struct ds_buf *b, PGresult *progress)
{
  if (progress == NULL)
    return DS_OK;
  static const struct {
    int col;
    const char *name, *type, *help;
  } series[] = {
      {1, "devicestats_ingest_stored_seq", "gauge",
       "Last spool record each ingest instance has stored."},
      {2, "devicestats_ingest_duplicates_total", "counter",
       "Redelivered messages each ingest instance recognised and did not store again."},
      {3, "devicestats_ingest_last_batch_seconds", "gauge",
       "Unix time of each ingest instance's last stored batch."},
  };
  int rc = DS_OK;
  for (size_t k = 0; rc == DS_OK && k < sizeof series / sizeof series[0]; k++) {
    rc = ds_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help,
                        series[k].name, series[k].type);
    for (int i = 0; rc == DS_OK && i < PQntuples(progress); i++) {
      rc = ds_buf_appendf(b, "%s{instance=\"", series[k].name);
      if (rc == DS_OK)
        rc = append_label(b, PQgetvalue(progress, i, 0), (size_t)PQgetlength(progress, i, 0));
      if (rc == DS_OK)
        rc = ds_buf_appendf(b, "\"} %s\n", PQgetvalue(progress, i, series[k].col));
    }
  }
  return rc;
}
