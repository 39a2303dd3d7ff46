/* devicestats-migrate: applies the pending migrations of deploy/sql
 * (ds_db_migrate, common/src/db_migrate.c) to the database named by
 * DATABASE_URL or the PG* variables, then exits.  A program, not library
 * code: run.sh, the test harness and compose's migrate service call it. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ds/cfg.h"
#include "ds/db.h"
#include "ds/log.h"
#include "ds/signal.h"

struct migrate_cfg {
  char *database_url;
  char *sql_dir;
  long long wait_s;
  char *log_level;
};

static const struct ds_cfg_var vars[] = {
    {"DATABASE_URL", DS_CFG_STR, NULL, 0, 4096, false, true,
     "libpq connection URI; when unset the PG* variables apply",
     offsetof(struct migrate_cfg, database_url)},
    {"DEVICESTATS_SQL_DIR", DS_CFG_STR, "deploy/sql", 0, 4096, false, false,
     "directory holding the NNN_*.sql migrations (relative: to the working directory)",
     offsetof(struct migrate_cfg, sql_dir)},
    {"MIGRATE_WAIT_S", DS_CFG_INT, "30", 0, 3600, false, false,
     "how long to wait for the database to accept connections",
     offsetof(struct migrate_cfg, wait_s)},
    {"LOG_LEVEL", DS_CFG_STR, "info", 0, 16, false, false, "error, warn, info or debug",
     offsetof(struct migrate_cfg, log_level)},
};
#define NVARS (sizeof vars / sizeof vars[0])

int main(int argc, char **argv)
{
  struct migrate_cfg cfg;
  char err[DS_ERRLEN];
  PGconn *conn = NULL;
  int status = 1;

  memset(&cfg, 0, sizeof cfg);
  ds_signal_install();
  if (!ds_cfg_startup("migrate", vars, NVARS, &cfg, "MIGRATE_",
                      offsetof(struct migrate_cfg, log_level), argc, argv, &status))
    goto out;
  status = 1;
  if (ds_db_connect_retry(cfg.database_url, "devicestats-migrate", 1000, cfg.wait_s * 1000,
                          &conn) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "database unreachable for %lld s", cfg.wait_s);
    goto out;
  }
  int applied = 0;
  if (ds_db_migrate(conn, cfg.sql_dir, &applied, err) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "migrate_failed", "%s", err);
    goto out;
  }
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_INFO, "migrated")) {
    ds_log_int(&l, "applied", applied);
    ds_log_str(&l, "dir", cfg.sql_dir);
    ds_log_end(&l);
  }
  status = 0;
out:
  if (conn != NULL)
    PQfinish(conn);
  ds_cfg_cleanup(vars, NVARS, &cfg);
  return status;
}
