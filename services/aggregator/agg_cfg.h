/* The aggregator's configuration: the AGGREGATOR_* table plus the contract's
 * MQTT_* and DATABASE_URL variables, loaded once through ds_cfg. */
#ifndef AGG_CFG_H
#define AGG_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "ds/cfg.h"
#include "ds/err.h"

struct agg_cfg {
  char *mqtt_url;
  char *mqtt_username;
  char *mqtt_password;
  char *mqtt_ca_file;
  char *database_url;      /* NULL: libpq's PG* variables */
  char *group;             /* shared-subscription group; "" = plain subscription */
  char *client_id;         /* NULL: devicestats-aggregator-<hostname> (agg_svc_init) */
  long long interval_s;    /* scheduled full-scope recalculation; 0 = off */
  long long workers;       /* computing threads, one database connection each */
  long long batch_devices; /* most devices per claim and transaction */
  long long poll_ms;       /* how often runs and the queue are looked at */
  long long compact_interval_s;
  long long compact_min_rows;
  long long compact_max_age_s;
  long long chunk_rows;
  long long max_samples; /* per device or user computed at once */
  long long stats_period_s;
  long long shutdown_timeout_ms;
  long long retry_min_ms; /* reconnect backoff (ds_backoff): first delay */
  long long retry_max_ms; /* ... and cap */
  long long admin_port;   /* GET /health and /metrics; 0 = off */
  char *admin_addr;
  char *log_level;
};

extern const struct ds_cfg_var agg_cfg_vars[];
extern const size_t agg_cfg_vars_n;

/* The subscription filter for cfg->group into out:
 * "$share/<group>/control/recalculate" or "control/recalculate". */
DS_MUSTCHECK int agg_cfg_filter(const struct agg_cfg *cfg, char *out, size_t out_len);

#endif
