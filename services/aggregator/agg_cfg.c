/* The aggregator's configuration table (docs/config.md is generated from
 * it with --help-config). */
#include "agg_cfg.h"

#include <stdio.h>
#include <string.h>

#include "ds/recalc.h"

#define INT_VAR(name, field, def, min, max, help)                                                  \
  {                                                                                                \
    name, DS_CFG_INT, def, min, max, false, false, help, offsetof(struct agg_cfg, field)           \
  }
#define STR_VAR(name, field, def, secret, help)                                                    \
  {                                                                                                \
    name, DS_CFG_STR, def, 0, 1024, false, secret, help, offsetof(struct agg_cfg, field)           \
  }

const struct ds_cfg_var agg_cfg_vars[] = {
    STR_VAR("MQTT_URL", mqtt_url, "tcp://127.0.0.1:1883", false, "broker URL"),
    STR_VAR("MQTT_CA_FILE", mqtt_ca_file, NULL, false,
            "PEM CA file the broker's certificate is checked against when MQTT_URL is ssl:// or "
            "mqtts:// (unset: the system's CAs)"),
    STR_VAR("MQTT_USERNAME", mqtt_username, NULL, false, "broker user name (none when unset)"),
    STR_VAR("MQTT_PASSWORD", mqtt_password, NULL, true, "broker password"),
    STR_VAR("DATABASE_URL", database_url, NULL, true,
            "libpq connection string or URL; unset: the PG* variables"),
    STR_VAR("AGGREGATOR_GROUP", group, "aggregator", false,
            "shared-subscription group ($share/<group>/control/recalculate); empty: plain "
            "subscription"),
    STR_VAR("AGGREGATOR_CLIENT_ID", client_id, NULL, false,
            "MQTT client id, unique per instance (persistent session); default "
            "devicestats-aggregator-<hostname>"),
    INT_VAR("AGGREGATOR_INTERVAL_S", interval_s, "0", 0, 31536000,
            "recalculate all devices every N seconds (incremental); 0 = off"),
    INT_VAR("AGGREGATOR_WORKERS", workers, "2", 1, 64,
            "computing threads, each with its own database connection"),
    INT_VAR("AGGREGATOR_BATCH_DEVICES", batch_devices, "64", 1, 1024,
            "most devices a worker claims, reads and stores in one transaction (fewer when "
            "they hold many samples: about 1M samples per batch)"),
    INT_VAR("AGGREGATOR_POLL_MS", poll_ms, "250", 10, 10000,
            "how often the run queue and running runs are checked"),
    INT_VAR(
        "AGGREGATOR_COMPACT_INTERVAL_S", compact_interval_s, "10", 0, 86400,
        "background compaction period; 0 = never (reads stay correct, storage stays row-sized)"),
    INT_VAR("AGGREGATOR_COMPACT_MIN_ROWS", compact_min_rows, "1000", 1, 100000000,
            "compact a device once it has this many recent rows"),
    INT_VAR("AGGREGATOR_COMPACT_MAX_AGE_S", compact_max_age_s, "300", 0, 31536000,
            "... or once its oldest recent row is this old"),
    INT_VAR("AGGREGATOR_CHUNK_ROWS", chunk_rows, "10000", 100, 1000000,
            "most samples per compacted chunk"),
    INT_VAR("AGGREGATOR_MAX_SAMPLES", max_samples, "100000000", 1000, 2000000000,
            "most samples of one device or user held in memory at once (24 bytes each)"),
    INT_VAR("STATS_PERIOD_S", stats_period_s, "60", 1, 86400, "period of event=stats lines"),
    INT_VAR("SHUTDOWN_TIMEOUT_MS", shutdown_timeout_ms, "10000", 0, 600000,
            "how long a stop waits for the devices being computed"),
    INT_VAR("RETRY_MIN_MS", retry_min_ms, "100", 10, 600000,
            "first delay of the broker and database reconnect backoff"),
    INT_VAR("RETRY_MAX_MS", retry_max_ms, "5000", 100, 600000,
            "cap of the reconnect backoff (doubling from RETRY_MIN_MS)"),
    INT_VAR("ADMIN_PORT", admin_port, "0", 0, 65535,
            "port of GET /health and GET /metrics (0: off; run.sh passes AGGREGATOR_ADMIN_PORT, "
            "8002)"),
    {"ADMIN_ADDR", DS_CFG_STR, "127.0.0.1", 1, 64, false, false,
     "address the admin port listens on", offsetof(struct agg_cfg, admin_addr)},
    STR_VAR("LOG_LEVEL", log_level, "info", false, "error, warn, info or debug"),
};
const size_t agg_cfg_vars_n = sizeof agg_cfg_vars / sizeof agg_cfg_vars[0];

int agg_cfg_filter(const struct agg_cfg *cfg, char *out, size_t out_len)
{
  int n;
  if (cfg->group != NULL && strpbrk(cfg->group, "/+#") != NULL)
    return DS_EINVAL;
  if (cfg->group != NULL && cfg->group[0] != '\0')
    n = snprintf(out, out_len, "$share/%s/" DS_RECALC_TOPIC, cfg->group);
  else
    n = snprintf(out, out_len, DS_RECALC_TOPIC);
  return n < 0 || (size_t)n >= out_len ? DS_ERANGE : DS_OK;
}
