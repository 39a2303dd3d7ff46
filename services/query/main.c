/* devicestats-query: the HTTP API.  Loads the configuration, connects the
 * MQTT publisher (for POST /devices/{id}/data; the broker may come later),
 * starts the HTTP server and, on SIGTERM, finishes in-flight requests. */
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ds/cfg.h"
#include "ds/log.h"
#include "ds/mqtt.h"
#include "ds/signal.h"
#include "query_cfg.h"
#include "query_server.h"

int main(int argc, char **argv)
{
  struct query_cfg cfg;
  struct ds_mqtt *mqtt = NULL;
  struct query_server *srv = NULL;
  char err[DS_ERRLEN] = "";
  char client_id[64];
  int status = 1;

  memset(&cfg, 0, sizeof cfg);
  /* Sample arrays live in the memory budget's blocks (query_budget.h).
   * The rest is small or short-lived: a fixed mmap threshold hands what is
   * large back to the system on free (glibc would otherwise raise it and
   * keep it in per-thread arenas), which keeps the resident size bounded;
   * a trim threshold of a few MB keeps the arenas' free top instead of
   * giving it back after every chunk row that libpq allocates and frees
   * (a page fault costs ~45 us here: re-touching 200 KB per row was 4,000
   * faults for a million samples). */
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
  mallopt(M_ARENA_MAX, 2);
  ds_signal_install();
  if (!ds_cfg_startup("query", query_cfg_vars, query_cfg_vars_n, &cfg, "QUERY_",
                      offsetof(struct query_cfg, log_level), argc, argv, &status))
    goto out;
  status = 1;
  if (cfg.api_token == NULL || cfg.api_token[0] == '\0')
    ds_log_msg(DS_LOG_WARN, "api_token_unset", "write routes will answer 401");

  snprintf(client_id, sizeof client_id, "devicestats-query-%ld", (long)getpid());
  struct ds_mqtt_opts mo = {
      .url = cfg.mqtt_url,
      .client_id = cfg.mqtt_client_id != NULL ? cfg.mqtt_client_id : client_id,
      .username = cfg.mqtt_username,
      .password = cfg.mqtt_password,
      .clean_session = true,
      .keepalive_s = 30,
      .publish_only = true,
      .ca_file = cfg.mqtt_ca_file,
  };
  if (ds_mqtt_new(&mo, &mqtt, err) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "MQTT: %s", err);
    status = 2;
    goto out;
  }
  /* The server makes the first attempt and keeps trying while the broker
   * is away (query_mqtt.c). */
  if (query_server_start(&cfg, mqtt, &srv, err) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "%s", err);
    goto out;
  }
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_INFO, "ready")) {
    ds_log_str(&l, "addr", cfg.http_addr);
    ds_log_int(&l, "port", query_server_port(srv));
    ds_log_int(&l, "threads", cfg.threads);
    ds_log_end(&l);
  }
  query_server_run(srv);
  status = 0;

out:
  query_server_free(srv);
  bool started = mqtt != NULL;
  ds_mqtt_free(mqtt, 1000);
  if (started)
    ds_log_msg(DS_LOG_INFO, "shutdown_complete", "exit %d", status);
  ds_cfg_cleanup(query_cfg_vars, query_cfg_vars_n, &cfg);
  return status;
}
