/* Configuration of devicestats-query: the variable table and the struct it
 * fills (see docs/config.md, generated from the table). */
#ifndef QUERY_CFG_H
#define QUERY_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "ds/cfg.h"

struct query_cfg {
  long long http_port;
  char *http_addr;
  char *database_url;
  char *mqtt_url;
  char *mqtt_username;
  char *mqtt_password;
  char *mqtt_ca_file;
  char *mqtt_client_id;
  char *api_token;
  char *api_read_token; /* NULL: read routes open */
  char *log_level;
  long long stats_period_s;
  long long shutdown_timeout_ms;
  long long threads;
  long long conn_timeout_s;
  long long max_connections;
  long long max_connections_per_ip;
  long long body_max;
  long long mem_budget_mb;
  long long chunk_cache_mb;
  long long max_samples;
  long long series_max_buckets;
  long long publish_timeout_ms;
  long long statement_timeout_ms;
  long long rejected_max;
  long long retry_min_ms;
  long long retry_max_ms;
};

extern const struct ds_cfg_var query_cfg_vars[];
extern const size_t query_cfg_vars_n;

#endif
