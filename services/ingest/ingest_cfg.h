/* devicestats-ingest configuration: the table and the struct it fills. */
#ifndef INGEST_CFG_H
#define INGEST_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "ds/cfg.h"

struct ingest_cfg {
  char *mqtt_url, *mqtt_username, *mqtt_password, *mqtt_ca_file;
  char *database_url;
  char *client_id;
  char *topic;
  char *share_group;
  long long qos;
  bool clean_session;
  long long batch_max;
  long long flush_ms;
  char *spool_dir;
  long long spool_max_mb;
  long long spool_sync_ms;
  long long reject_keep_bytes;
  long long device_cache_max;
  long long retry_min_ms, retry_max_ms;
  long long shutdown_timeout_ms;
  long long stats_period_s;
  long long admin_port;
  char *admin_addr;
  char *log_level;
};

extern const struct ds_cfg_var ingest_cfg_vars[];
extern const size_t ingest_cfg_nvars;

#endif
