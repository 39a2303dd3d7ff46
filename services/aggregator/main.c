/* devicestats-aggregator: recalculation commands from control/recalculate,
 * snapshots of all-time statistics, status events on
 * control/recalculate/status.  Thin: configuration, wiring, shutdown. */
#include <stdio.h>
#include <string.h>

#include "agg_cfg.h"
#include "agg_svc.h"
#include "ds/log.h"
#include "ds/signal.h"

extern char **environ;

int main(int argc, char **argv)
{
  bool check_only = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--check-config") == 0) {
      check_only = true;
    } else if (strcmp(argv[i], "--help-config") == 0) {
      ds_cfg_print_markdown("devicestats-aggregator", agg_cfg_vars, agg_cfg_vars_n);
      return 0;
    } else {
      fprintf(stderr, "usage: %s [--check-config | --help-config]\n", argv[0]);
      return 2;
    }
  }
  ds_log_init("aggregator", DS_LOG_INFO);
  struct agg_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  char err[DS_ERRLEN] = "";
  if (ds_cfg_load(agg_cfg_vars, agg_cfg_vars_n, &cfg, ds_cfg_env_lookup, NULL, err) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "%s", err);
    ds_cfg_cleanup(agg_cfg_vars, agg_cfg_vars_n, &cfg);
    return 2;
  }
  int level = ds_log_level_parse(cfg.log_level);
  char filter[256];
  if (level < 0 || agg_cfg_filter(&cfg, filter, sizeof filter) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "%s",
               level < 0 ? "LOG_LEVEL must be error, warn, info or debug"
                         : "AGGREGATOR_GROUP must not contain / + or #");
    ds_cfg_cleanup(agg_cfg_vars, agg_cfg_vars_n, &cfg);
    return 2;
  }
  ds_log_init("aggregator", (enum ds_log_level)level);
  ds_cfg_warn_unknown(agg_cfg_vars, agg_cfg_vars_n, "AGGREGATOR_", environ);
  ds_cfg_log(agg_cfg_vars, agg_cfg_vars_n, &cfg);
  if (check_only) {
    ds_cfg_cleanup(agg_cfg_vars, agg_cfg_vars_n, &cfg);
    return 0;
  }
  ds_signal_install();
  struct agg_svc svc;
  int rc = agg_svc_init(&svc, &cfg, err);
  if (rc == DS_OK)
    agg_svc_run(&svc);
  agg_svc_cleanup(&svc);
  ds_cfg_cleanup(agg_cfg_vars, agg_cfg_vars_n, &cfg);
  if (rc != DS_OK && rc != DS_ESTOPPED) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "%s", err);
    return rc == DS_EINVAL ? 2 : 1;
  }
  ds_log_msg(DS_LOG_INFO, "shutdown_complete", "bye");
  return 0;
}
