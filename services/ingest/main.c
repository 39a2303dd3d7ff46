/* devicestats-ingest: MQTT samples -> PostgreSQL in batches.
 * Wires the config, the bounded queue, the writer thread and the MQTT loop,
 * and shuts down in order: stop receiving, store what is held, exit. */
#include <stdio.h>
#include <string.h>

#include "ds/cfg.h"
#include "ds/log.h"
#include "ds/signal.h"
#include "ingest_cfg.h"
#include "ingest_mqtt.h"
#include "ingest_writer.h"

extern char **environ;

int main(int argc, char **argv)
{
  struct ingest_cfg cfg;
  struct ingest_queue queue;
  struct ingest_writer writer;
  struct ingest_counters counters;
  char err[DS_ERRLEN];
  int status = 1;
  bool queue_ok = false, writer_ok = false;

  memset(&cfg, 0, sizeof cfg);
  memset(&counters, 0, sizeof counters);
  ds_log_init("ingest", DS_LOG_INFO);
  ds_signal_install();
  if (argc > 1 && strcmp(argv[1], "--help-config") == 0) {
    ds_cfg_print_markdown("devicestats-ingest", ingest_cfg_vars, ingest_cfg_nvars);
    return 0;
  }
  if (ds_cfg_load(ingest_cfg_vars, ingest_cfg_nvars, &cfg, ds_cfg_env_lookup, NULL, err) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "%s", err);
    status = 2;
    goto out;
  }
  int level = ds_log_level_parse(cfg.log_level);
  if (level < 0) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "LOG_LEVEL: '%s' is not error/warn/info/debug",
               cfg.log_level);
    status = 2;
    goto out;
  }
  ds_log_init("ingest", (enum ds_log_level)level);
  ds_cfg_warn_unknown(ingest_cfg_vars, ingest_cfg_nvars, "INGEST_", environ);
  ds_cfg_log(ingest_cfg_vars, ingest_cfg_nvars, &cfg);
  if (argc > 1 && strcmp(argv[1], "--check-config") == 0) {
    status = 0;
    goto out;
  }

  if (ingest_queue_init(&queue, (size_t)cfg.buffer_max) != DS_OK)
    goto out;
  queue_ok = true;
  if (ingest_writer_init(&writer, &cfg, &queue, &counters) != DS_OK ||
      ingest_writer_start(&writer) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "cannot start the writer thread");
    ingest_writer_cleanup(&writer);
    goto out;
  }
  writer_ok = true;

  int rc = ingest_mqtt_run(&cfg, &queue, &counters);

  ds_log_msg(DS_LOG_INFO, "shutdown_started", "broker disconnected; storing %zu held samples",
             ingest_queue_weight(&queue));
  ingest_queue_close(&queue);
  bool kept_all = ingest_writer_join(&writer);
  status = (rc == DS_OK && kept_all) ? 0 : 1;

out:
  if (writer_ok)
    ingest_writer_cleanup(&writer);
  if (queue_ok)
    ingest_queue_cleanup(&queue);
  if (status != 2) {
    struct ds_logline l;
    if (ds_log_begin(&l, DS_LOG_INFO, "shutdown_complete")) {
      ds_log_int(&l, "stored", (long long)atomic_load(&counters.stored));
      ds_log_int(&l, "rejected", (long long)atomic_load(&counters.rejected_stored));
      ds_log_int(&l, "exit", status);
      ds_log_end(&l);
    }
  }
  ds_cfg_cleanup(ingest_cfg_vars, ingest_cfg_nvars, &cfg);
  return status;
}
