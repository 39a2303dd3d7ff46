/* The configuration table of devicestats-ingest (docs/config.md). */
#include "ingest_cfg.h"

#include "ds/sample.h"

#define F(field) offsetof(struct ingest_cfg, field)

const struct ds_cfg_var ingest_cfg_vars[] = {
    {"MQTT_URL", DS_CFG_STR, "tcp://127.0.0.1:1883", 0, 1024, false, false, "broker address",
     F(mqtt_url)},
    {"MQTT_CA_FILE", DS_CFG_STR, NULL, 0, 4096, false, false,
     "PEM CA file the broker's certificate is checked against when MQTT_URL is ssl:// or mqtts:// "
     "(unset: the system's CAs)",
     F(mqtt_ca_file)},
    {"MQTT_USERNAME", DS_CFG_STR, NULL, 0, 256, false, false, "broker user name", F(mqtt_username)},
    {"MQTT_PASSWORD", DS_CFG_STR, NULL, 0, 256, false, true, "broker password", F(mqtt_password)},
    {"DATABASE_URL", DS_CFG_STR, NULL, 0, 4096, false, true,
     "libpq connection URI; when unset the PG* variables apply", F(database_url)},
    {"INGEST_CLIENT_ID", DS_CFG_STR, "devicestats-ingest", 1, 128, false, false,
     "MQTT client id; the broker keeps this client's session, so give each instance its own",
     F(client_id)},
    {"INGEST_TOPIC", DS_CFG_STR, "devices/+/data", 1, 512, false, false, "topic filter for samples",
     F(topic)},
    {"INGEST_SHARE_GROUP", DS_CFG_STR, NULL, 0, 128, false, false,
     "when set, subscribe as $share/<group>/<topic> so N instances split the load", F(share_group)},
    {"INGEST_QOS", DS_CFG_INT, "1", 0, 1, false, false, "subscription QoS", F(qos)},
    {"INGEST_CLEAN_SESSION", DS_CFG_BOOL, "0", 0, 0, false, false,
     "1 drops the broker-side session (and what it queued) at each connect", F(clean_session)},
    {"INGEST_BATCH_MAX", DS_CFG_INT, "5000", 1, 1000000, false, false,
     "flush a batch when it holds this many samples", F(batch_max)},
    {"INGEST_FLUSH_MS", DS_CFG_INT, "200", 1, 600000, false, false,
     "flush a batch at the latest this long after its first sample", F(flush_ms)},
    {"INGEST_SPOOL_DIR", DS_CFG_STR, "/var/lib/devicestats/spool", 1, 3000, false, false,
     "directory of the durable spool; each instance uses <dir>/<INGEST_CLIENT_ID>", F(spool_dir)},
    {"INGEST_SPOOL_MAX_MB", DS_CFG_INT, "1024", 1, 1048576, false, false,
     "spool bound; at the bound ingest stops taking messages and the broker holds them",
     F(spool_max_mb)},
    {"INGEST_SPOOL_SYNC_MS", DS_CFG_INT, "100", -1, 60000, false, false,
     "fdatasync the spool at most this long after a message is acknowledged (0: before each "
     "acknowledgement; -1: never, leave it to the OS)",
     F(spool_sync_ms)},
    {"INGEST_REJECT_KEEP_BYTES", DS_CFG_INT, "262144", 0, 16777216, false, false,
     "bytes of a rejected payload kept in the rejected table", F(reject_keep_bytes)},
    {"INGEST_DEVICE_CACHE_MAX", DS_CFG_INT, "100000", 16, 100000000, false, false,
     "device name -> key cache entries", F(device_cache_max)},
    {"RETRY_MIN_MS", DS_CFG_INT, "100", 10, 600000, false, false,
     "first delay of the reconnect backoff (broker and database)", F(retry_min_ms)},
    {"RETRY_MAX_MS", DS_CFG_INT, "5000", 100, 600000, false, false,
     "cap of the reconnect backoff (broker and database)", F(retry_max_ms)},
    {"SHUTDOWN_TIMEOUT_MS", DS_CFG_INT, "30000", 0, 3600000, false, false,
     "how long SIGTERM may spend storing what the spool holds (the rest stays there)",
     F(shutdown_timeout_ms)},
    {"ADMIN_PORT", DS_CFG_INT, "0", 0, 65535, false, false,
     "port of GET /health and GET /metrics (0: off; run.sh passes INGEST_ADMIN_PORT, 8001)",
     F(admin_port)},
    {"ADMIN_ADDR", DS_CFG_STR, "127.0.0.1", 1, 64, false, false,
     "address the admin port listens on", F(admin_addr)},
    {"STATS_PERIOD_S", DS_CFG_INT, "60", 1, 86400, false, false, "period of the stats log line",
     F(stats_period_s)},
    {"LOG_LEVEL", DS_CFG_STR, "info", 0, 16, false, false, "error, warn, info or debug",
     F(log_level)},
};

const size_t ingest_cfg_nvars = sizeof ingest_cfg_vars / sizeof ingest_cfg_vars[0];
