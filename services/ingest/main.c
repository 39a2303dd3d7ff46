/* devicestats-ingest: MQTT samples -> PostgreSQL in batches.
 * Wires the config, the bounded queue, the writer thread and the MQTT loop,
 * and shuts down in order: stop receiving, store what is held, exit. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ds/cfg.h"
#include "ds/log.h"
#include "ds/signal.h"
#include "ingest_cfg.h"
#include "ingest_mqtt.h"
#include "ingest_writer.h"

int main(int argc, char **argv)
{
  struct ingest_cfg cfg;
  struct ingest_queue queue;
  struct ingest_writer writer;
  struct ingest_counters counters;
  int status = 1;
  bool queue_ok = false, writer_ok = false;

  memset(&cfg, 0, sizeof cfg);
  memset(&counters, 0, sizeof counters);
  ds_signal_install();
  if (!ds_cfg_startup("ingest", ingest_cfg_vars, ingest_cfg_nvars, &cfg, "INGEST_",
                      offsetof(struct ingest_cfg, log_level), argc, argv, &status))
    goto out;
  status = 1;

  if (ingest_queue_init(&queue, (size_t)cfg.buffer_max) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "cannot set up the queue");
    goto out;
  }
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
  if (writer_ok || queue_ok) {
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
