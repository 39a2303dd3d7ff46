/* Configuration from the environment, read once from a per-service table.
 * Nothing else in DeviceStats calls getenv.  Each entry names a variable, its
 * type, default, range, whether it is required or secret, a one-line help
 * and where in the service's config struct the parsed value goes. */
#ifndef DS_CFG_H
#define DS_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "ds/err.h"

enum ds_cfg_type {
  DS_CFG_STR,  /* char * (newly allocated, freed by ds_cfg_cleanup) */
  DS_CFG_INT,  /* long long, checked against [min, max] */
  DS_CFG_BOOL, /* bool: 1/0, true/false, yes/no, on/off */
};

struct ds_cfg_var {
  const char *name;
  enum ds_cfg_type type;
  const char *def; /* default as text; NULL means unset (STR stays NULL) */
  long long min, max;
  bool required;
  bool secret; /* masked when logged */
  const char *help;
  size_t offset; /* offsetof(struct your_cfg, field) */
};

/* Returns the value of name or NULL; ctx is passed through. */
typedef const char *(*ds_cfg_lookup_fn)(const char *name, void *ctx);

/* The real environment (getenv). */
const char *ds_cfg_env_lookup(const char *name, void *ctx);

/* Fills out (a struct laid out as the table says) from lookup.  On failure
 * returns DS_EINVAL with err naming the variable and the bad value; fields
 * already set are freed by ds_cfg_cleanup as usual. */
DS_MUSTCHECK int ds_cfg_load(const struct ds_cfg_var *vars, size_t n, void *out,
                             ds_cfg_lookup_fn lookup, void *ctx, char err[DS_ERRLEN]);
/* Frees the strings ds_cfg_load allocated in out. */
void ds_cfg_cleanup(const struct ds_cfg_var *vars, size_t n, void *out);
/* Logs the loaded configuration (event=config), secrets masked. */
void ds_cfg_log(const struct ds_cfg_var *vars, size_t n, const void *cfg);
/* Warns (event=config_unknown_var) about each variable in envp that starts
 * with prefix but is not in the table: it catches typos. */
void ds_cfg_warn_unknown(const struct ds_cfg_var *vars, size_t n, const char *prefix,
                         char *const *envp);
/* Prints the table as a Markdown section (for docs/config.md). */
void ds_cfg_print_markdown(const char *svc, const struct ds_cfg_var *vars, size_t n);

/* What every service's main does first, in one place:
 *   --help-config   prints the table as Markdown;
 *   otherwise       loads the table from the environment (errors name the
 *                   variable), sets the log threshold from the string field
 *                   at log_level_offset (LOG_LEVEL), warns about unknown
 *                   variables starting with prefix, logs the configuration
 *                   (secrets masked);
 *   --check-config  stops there.
 * svc is the short name used in logs ("ingest"); the log is initialised
 * with it.  Returns true when the service should run; false with *exit_code
 * set (0 after --help-config or --check-config, 2 for a bad configuration or
 * argument, logged as event=startup_failed).  Either way the caller frees
 * cfg with ds_cfg_cleanup. */
bool ds_cfg_startup(const char *svc, const struct ds_cfg_var *vars, size_t n, void *cfg,
                    const char *prefix, size_t log_level_offset, int argc, char **argv,
                    int *exit_code);

#endif
