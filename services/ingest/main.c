/* devicestats-ingest: MQTT samples -> durable spool -> PostgreSQL in batches.
 * Wires the config, the spool, the writer thread and the MQTT side, and
 * shuts down in order: stop taking messages, store what the spool holds
 * (within SHUTDOWN_TIMEOUT_MS; the rest stays in the spool), exit. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ds/cfg.h"
#include "ds/log.h"
#include "ds/signal.h"
#include "ingest_admin.h"
#include "ingest_cfg.h"
#include "ingest_mqtt.h"
#include "ingest_spool.h"
#include "ingest_writer.h"

/* Opens <INGEST_SPOOL_DIR>/<client id> and logs what it holds. */
static int open_spool(const struct ingest_cfg *cfg, struct ingest_spool **out)
{
  char dir[4096], err[DS_ERRLEN];
  const char *id = cfg->client_id;
  if (strchr(id, '/') != NULL || strcmp(id, ".") == 0 || strcmp(id, "..") == 0) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed",
               "INGEST_CLIENT_ID '%s' names the spool directory: it may not contain '/'", id);
    return DS_EINVAL;
  }
  int n = snprintf(dir, sizeof dir, "%s/%s", cfg->spool_dir, id);
  if (n < 0 || (size_t)n >= sizeof dir) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "INGEST_SPOOL_DIR is too long");
    return DS_ERANGE;
  }
  uint64_t max = (uint64_t)cfg->spool_max_mb << 20;
  uint64_t seg = max / 4 < ((uint64_t)64 << 20) ? max / 4 : ((uint64_t)64 << 20);
  struct ingest_spool_opts o = {
      .dir = dir, .max_bytes = max, .segment_bytes = seg, .sync_ms = (long)cfg->spool_sync_ms};
  struct ingest_spool_info info;
  int rc = ingest_spool_open(&o, out, &info, err);
  if (rc != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "spool: %s", err);
    return rc;
  }
  struct ds_logline l;
  if (ds_log_begin(&l, info.torn_bytes ? DS_LOG_WARN : DS_LOG_INFO, "spool_opened")) {
    ds_log_str(&l, "dir", dir);
    ds_log_str(&l, "spool_id", ingest_spool_id(*out));
    ds_log_int(&l, "created", info.created);
    ds_log_int(&l, "segments", (long long)info.segments);
    ds_log_int(&l, "records", (long long)info.records);
    ds_log_int(&l, "bytes", (long long)info.bytes);
    ds_log_int(&l, "next_seq", (long long)info.next_seq);
    ds_log_int(&l, "torn_bytes", (long long)info.torn_bytes);
    ds_log_end(&l);
  }
  return DS_OK;
}

int main(int argc, char **argv)
{
  struct ingest_cfg cfg;
  struct ingest_spool *spool = NULL;
  struct ds_admin *admin = NULL;
  struct ingest_writer writer;
  struct ingest_counters counters;
  int status = 1;
  bool writer_ok = false;
  uint64_t left = 0;

  memset(&cfg, 0, sizeof cfg);
  memset(&counters, 0, sizeof counters);
  ds_signal_install();
  if (!ds_cfg_startup("ingest", ingest_cfg_vars, ingest_cfg_nvars, &cfg, "INGEST_",
                      offsetof(struct ingest_cfg, log_level), argc, argv, &status))
    goto out;
  status = 1;

  if (open_spool(&cfg, &spool) != DS_OK)
    goto out;
  struct ingest_admin_ctx actx = {&counters, spool};
  if (cfg.admin_port > 0) {
    char err[DS_ERRLEN];
    if (ds_admin_start(cfg.admin_addr, (int)cfg.admin_port, "ingest", ingest_admin_health,
                       ingest_admin_metrics, &actx, &admin, err) != DS_OK) {
      ds_log_msg(DS_LOG_ERROR, "startup_failed", "admin port: %s", err);
      goto out;
    }
    ds_log_msg(DS_LOG_INFO, "admin_listening", "GET /health and /metrics on %s:%lld",
               cfg.admin_addr, cfg.admin_port);
  }

  if (ingest_writer_init(&writer, &cfg, spool, &counters) != DS_OK ||
      ingest_writer_start(&writer) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "cannot start the writer thread");
    ingest_writer_cleanup(&writer);
    goto out;
  }
  writer_ok = true;

  int rc = ingest_mqtt_run(&cfg, spool, &counters);

  ds_log_msg(DS_LOG_INFO, "shutdown_started", "broker disconnected; storing what the spool holds");
  ingest_writer_drain(&writer);
  left = ingest_writer_join(&writer);
  if (left > 0) {
    /* Not lost: the next start stores it. */
    struct ds_logline l;
    if (ds_log_begin(&l, DS_LOG_WARN, "spool_kept")) {
      ds_log_int(&l, "records", (long long)left);
      ds_log_str(&l, "msg",
                 "database unavailable until the shutdown timeout; stored at next start");
      ds_log_end(&l);
    }
  }
  status = rc == DS_OK ? 0 : 1;

out:
  ds_admin_stop(admin);
  if (writer_ok)
    ingest_writer_cleanup(&writer);
  ingest_spool_close(spool);
  if (writer_ok) {
    struct ds_logline l;
    if (ds_log_begin(&l, DS_LOG_INFO, "shutdown_complete")) {
      ds_log_int(&l, "stored", (long long)atomic_load(&counters.stored));
      ds_log_int(&l, "rejected", (long long)atomic_load(&counters.rejected_stored));
      ds_log_int(&l, "spool_left", (long long)left);
      ds_log_int(&l, "exit", status);
      ds_log_end(&l);
    }
  }
  ds_cfg_cleanup(ingest_cfg_vars, ingest_cfg_nvars, &cfg);
  return status;
}
