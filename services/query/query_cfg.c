/* The configuration table of devicestats-query.  Contract variables keep
 * their DESIGN.md names; the service's own knobs start with QUERY_. */
#include "query_cfg.h"

#include <stddef.h>

#define F(field) offsetof(struct query_cfg, field)

const struct ds_cfg_var query_cfg_vars[] = {
    {"HTTP_PORT", DS_CFG_INT, "8000", 0, 65535, false, false,
     "TCP port of the HTTP API (0: any free port, logged with event=ready)", F(http_port)},
    {"HTTP_ADDR", DS_CFG_STR, "127.0.0.1", 0, 0, false, false,
     "IPv4 address to listen on; 0.0.0.0 for every interface (containers)", F(http_addr)},
    {"DATABASE_URL", DS_CFG_STR, NULL, 0, 0, false, true,
     "libpq connection string or URL; unset: the PG* variables", F(database_url)},
    {"MQTT_URL", DS_CFG_STR, "tcp://127.0.0.1:1883", 0, 0, false, false,
     "broker for POST /devices/{id}/data", F(mqtt_url)},
    {"MQTT_CA_FILE", DS_CFG_STR, NULL, 0, 0, false, false,
     "PEM CA file the broker's certificate is checked against when MQTT_URL is ssl:// or mqtts:// "
     "(unset: the system's CAs)",
     F(mqtt_ca_file)},
    {"MQTT_USERNAME", DS_CFG_STR, NULL, 0, 0, false, false, "broker user name", F(mqtt_username)},
    {"MQTT_PASSWORD", DS_CFG_STR, NULL, 0, 0, false, true, "broker password", F(mqtt_password)},
    {"QUERY_MQTT_CLIENT_ID", DS_CFG_STR, NULL, 0, 0, false, false,
     "MQTT client id (default devicestats-query-<pid>)", F(mqtt_client_id)},
    {"API_TOKEN", DS_CFG_STR, NULL, 0, 0, false, true,
     "bearer token of the write routes (POST/PUT); unset: write routes answer 401", F(api_token)},
    {"API_READ_TOKEN", DS_CFG_STR, NULL, 0, 0, false, true,
     "bearer token the data-reading routes require when set (API_TOKEN is accepted too); unset: "
     "they are open. /health, /metrics, /docs, /openapi.json and the dashboard's files stay open",
     F(api_read_token)},
    {"LOG_LEVEL", DS_CFG_STR, "info", 0, 0, false, false, "error, warn, info or debug",
     F(log_level)},
    {"STATS_PERIOD_S", DS_CFG_INT, "60", 1, 86400, false, false,
     "seconds between event=stats lines", F(stats_period_s)},
    {"SHUTDOWN_TIMEOUT_MS", DS_CFG_INT, "10000", 0, 600000, false, false,
     "how long SIGTERM waits for in-flight requests", F(shutdown_timeout_ms)},
    {"QUERY_THREADS", DS_CFG_INT, "4", 1, 64, false, false,
     "HTTP server threads (each with its own database connection)", F(threads)},
    {"QUERY_CONN_TIMEOUT_S", DS_CFG_INT, "30", 1, 3600, false, false,
     "idle or slow client connections are closed after this many seconds", F(conn_timeout_s)},
    {"QUERY_MAX_CONNECTIONS", DS_CFG_INT, "1024", 1, 100000, false, false,
     "concurrent client connections (past it new ones are closed at once)", F(max_connections)},
    {"QUERY_MAX_CONNECTIONS_PER_IP", DS_CFG_INT, "64", 0, 100000, false, false,
     "concurrent connections from one client address (0: no limit; behind a reverse proxy "
     "every client has the proxy's address)",
     F(max_connections_per_ip)},
    {"QUERY_BODY_MAX", DS_CFG_INT, "262144", 1024, 16777216, false, false,
     "largest request body in bytes (413 past it)", F(body_max)},
    {"QUERY_MEM_BUDGET_MB", DS_CFG_INT, "32", 1, 65536, false, false,
     "memory shared by concurrent statistics requests for sample values; requests wait for "
     "their share; statistics over more samples than it holds are computed in passes in a "
     "working set of 9 MiB (a copy of the samples in an unlinked file under $TMPDIR, 24 bytes "
     "each); a series past it is refused (413)",
     F(mem_budget_mb)},
    {"QUERY_CHUNK_CACHE_MB", DS_CFG_INT, "16", 0, 65536, false, false,
     "memory for decoded sample chunks kept between requests, so short ranges inside "
     "compacted chunks are not transferred again (0: no cache)",
     F(chunk_cache_mb)},
    {"QUERY_MAX_SAMPLES", DS_CFG_INT, "20000000", 1, 1000000000, false, false,
     "most samples in the range of one request (413 past it)", F(max_samples)},
    {"QUERY_SERIES_MAX_BUCKETS", DS_CFG_INT, "10000", 1, 1000000, false, false,
     "most buckets a series request may span (400 past it)", F(series_max_buckets)},
    {"QUERY_PUBLISH_TIMEOUT_MS", DS_CFG_INT, "5000", 100, 60000, false, false,
     "how long POST /devices/{id}/data waits for the broker's acknowledgement",
     F(publish_timeout_ms)},
    {"QUERY_STATEMENT_TIMEOUT_MS", DS_CFG_INT, "30000", 0, 3600000, false, false,
     "PostgreSQL statement_timeout of the service's connections (0: none)",
     F(statement_timeout_ms)},
    {"QUERY_REJECTED_MAX", DS_CFG_INT, "1000", 1, 100000, false, false,
     "largest limit GET /rejected accepts", F(rejected_max)},
    {"RETRY_MIN_MS", DS_CFG_INT, "100", 10, 600000, false, false,
     "first delay of the broker reconnect backoff (doubles per failure)", F(retry_min_ms)},
    {"RETRY_MAX_MS", DS_CFG_INT, "5000", 100, 600000, false, false,
     "longest delay of the broker reconnect backoff", F(retry_max_ms)},
};

const size_t query_cfg_vars_n = sizeof query_cfg_vars / sizeof query_cfg_vars[0];
