/* devicestats-aggregator: recalculation commands from control/recalculate,
 * snapshots of all-time statistics, status events on
 * control/recalculate/status.  Thin: configuration, wiring, shutdown. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agg_cfg.h"
#include "agg_svc.h"
#include "ds/log.h"
#include "ds/signal.h"

int main(int argc, char **argv)
{
  struct agg_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  char err[DS_ERRLEN] = "";
  char filter[256];
  int status = 2;
  if (!ds_cfg_startup("aggregator", agg_cfg_vars, agg_cfg_vars_n, &cfg, "AGGREGATOR_",
                      offsetof(struct agg_cfg, log_level), argc, argv, &status)) {
    ds_cfg_cleanup(agg_cfg_vars, agg_cfg_vars_n, &cfg);
    return status;
  }
  if (agg_cfg_filter(&cfg, filter, sizeof filter) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "AGGREGATOR_GROUP must not contain / + or #");
    ds_cfg_cleanup(agg_cfg_vars, agg_cfg_vars_n, &cfg);
    return 2;
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
