/* Table-driven configuration from the environment (see ds/cfg.h). */
#include "ds/cfg.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <unistd.h>

#include "ds/log.h"

const char *ds_cfg_env_lookup(const char *name, void *ctx)
{
  (void)ctx;
  return getenv(name);
}

/* The decimal digits [s, end) (at most 18) as a number. */
static bool parse_int_prefix(const char *s, const char *end, long long *out)
{
  long long v = 0;
  if (end == s || end - s > 18)
    return false;
  for (const char *p = s; p < end; p++) {
    if (*p < '0' || *p > '9')
      return false;
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return true;
}

static int parse_int(const char *s, long long *out)
{
  /* strtoll skips leading blanks; a value with them is a typo here. */
  if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+'))
    return DS_EINVAL;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    return DS_EINVAL;
  *out = v;
  return DS_OK;
}

static int parse_bool(const char *s, bool *out)
{
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) {
      *out = true;
      return DS_OK;
    }
    if (strcasecmp(s, no[i]) == 0) {
      *out = false;
      return DS_OK;
    }
  }
  return DS_EINVAL;
}

/* Semantic checks of the contract's variables (DESIGN.md § Running it),
 * which mean the same in every service's table, so they live here keyed by
 * name instead of in each table.  Whatever the check finds, a secret's
 * value is never quoted (libpq's own parse errors quote the value, a
 * password included, so they are not passed on). */
static bool url_ok(const char *u)
{
  static const char *const schemes[] = {"tcp://",   "mqtt://", "ssl://",
                                        "mqtts://", "ws://",   "wss://"};
  const char *rest = NULL;
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0] && rest == NULL; i++)
    if (strncasecmp(u, schemes[i], strlen(schemes[i])) == 0)
      rest = u + strlen(schemes[i]);
  if (rest == NULL || rest[0] == '\0' || rest[0] == ':' || rest[0] == '/')
    return false;
  const char *colon = strrchr(rest, ':'), *close = strrchr(rest, ']');
  if (colon == NULL || (close != NULL && close > colon))
    return true; /* no port */
  const char *port = colon + 1, *end = port;
  while (*end >= '0' && *end <= '9')
    end++;
  long long p = 0;
  return end != port && (*end == '\0' || *end == '/') && end - port <= 5 &&
         parse_int_prefix(port, end, &p) && p >= 1 && p <= 65535;
}

static int check_known(const struct ds_cfg_var *v, const char *val, char err[DS_ERRLEN])
{
  if (val == NULL)
    return DS_OK;
  if (strcmp(v->name, "MQTT_URL") == 0 && !url_ok(val)) {
    snprintf(err, DS_ERRLEN,
             "MQTT_URL: '%.128s' is not tcp://, mqtt://, ssl:// or mqtts:// (or ws/wss) "
             "host[:port]",
             v->secret ? "***" : val);
    return DS_EINVAL;
  }
  if (strcmp(v->name, "DATABASE_URL") == 0) {
    char *perr = NULL;
    PQconninfoOption *o = PQconninfoParse(val, &perr);
    PQfreemem(perr);
    if (o == NULL) {
      snprintf(err, DS_ERRLEN,
               "DATABASE_URL: not a libpq connection string or "
               "postgresql:// URL (value not shown: it may hold a password)");
      return DS_EINVAL;
    }
    PQconninfoFree(o);
  }
  if ((strcmp(v->name, "HTTP_ADDR") == 0 || strcmp(v->name, "ADMIN_ADDR") == 0)) {
    unsigned char a[16];
    if (inet_pton(AF_INET, val, a) != 1 && inet_pton(AF_INET6, val, a) != 1) {
      snprintf(err, DS_ERRLEN, "%s: '%.64s' is not an IPv4 or IPv6 address", v->name, val);
      return DS_EINVAL;
    }
  }
  if (strcmp(v->name, "LOG_LEVEL") == 0 && ds_log_level_parse(val) < 0) {
    snprintf(err, DS_ERRLEN, "LOG_LEVEL: '%.32s' is not error, warn, info or debug", val);
    return DS_EINVAL;
  }
  if (strcmp(v->name, "MQTT_CA_FILE") == 0 && access(val, R_OK) != 0) {
    snprintf(err, DS_ERRLEN, "MQTT_CA_FILE: cannot read '%.128s': %s", val, strerror(errno));
    return DS_EINVAL;
  }
  return DS_OK;
}

int ds_cfg_load(const struct ds_cfg_var *vars, size_t n, void *out, ds_cfg_lookup_fn lookup,
                void *ctx, char err[DS_ERRLEN])
{
  char *base = out;
  for (size_t i = 0; i < n; i++) {
    const struct ds_cfg_var *v = &vars[i];
    const char *val = lookup(v->name, ctx);
    bool from_env = val != NULL && val[0] != '\0';
    if (!from_env) {
      if (v->required) {
        snprintf(err, DS_ERRLEN, "%s is required (%s)", v->name, v->help);
        return DS_EINVAL;
      }
      val = v->def;
    }
    switch (v->type) {
    case DS_CFG_STR: {
      char **field = (char **)(void *)(base + v->offset);
      *field = NULL;
      if (val != NULL) {
        size_t len = strlen(val);
        if (v->max > 0 && (long long)len > v->max) {
          snprintf(err, DS_ERRLEN, "%s: value is %zu bytes, at most %lld allowed", v->name, len,
                   v->max);
          return DS_EINVAL;
        }
        int rc = check_known(v, val, err);
        if (rc != DS_OK)
          return rc;
        *field = strdup(val);
        if (*field == NULL)
          return DS_ENOMEM;
      }
      break;
    }
    case DS_CFG_INT: {
      long long x = 0;
      if (val == NULL || parse_int(val, &x) != DS_OK) {
        snprintf(err, DS_ERRLEN, "%s: '%.64s' is not an integer", v->name, val ? val : "");
        return DS_EINVAL;
      }
      if (x < v->min || x > v->max) {
        snprintf(err, DS_ERRLEN, "%s: %lld is out of range [%lld, %lld]", v->name, x, v->min,
                 v->max);
        return DS_EINVAL;
      }
      *(long long *)(void *)(base + v->offset) = x;
      break;
    }
    case DS_CFG_BOOL: {
      bool b = false;
      if (val == NULL || parse_bool(val, &b) != DS_OK) {
        snprintf(err, DS_ERRLEN, "%s: '%.64s' is not a boolean (use 1/0, true/false)", v->name,
                 val ? val : "");
        return DS_EINVAL;
      }
      *(bool *)(void *)(base + v->offset) = b;
      break;
    }
    }
  }
  return DS_OK;
}

void ds_cfg_cleanup(const struct ds_cfg_var *vars, size_t n, void *out)
{
  char *base = out;
  for (size_t i = 0; i < n; i++)
    if (vars[i].type == DS_CFG_STR)
      DS_FREE(*(char **)(void *)(base + vars[i].offset));
}

void ds_cfg_log(const struct ds_cfg_var *vars, size_t n, const void *cfg)
{
  const char *base = cfg;
  struct ds_logline l;
  if (!ds_log_begin(&l, DS_LOG_INFO, "config"))
    return;
  for (size_t i = 0; i < n; i++) {
    const struct ds_cfg_var *v = &vars[i];
    switch (v->type) {
    case DS_CFG_STR: {
      const char *s = *(char *const *)(const void *)(base + v->offset);
      if (v->secret && s != NULL)
        ds_log_str(&l, v->name, "***");
      else
        ds_log_str(&l, v->name, s ? s : "");
      break;
    }
    case DS_CFG_INT:
      ds_log_int(&l, v->name, *(const long long *)(const void *)(base + v->offset));
      break;
    case DS_CFG_BOOL:
      ds_log_str(&l, v->name, *(const bool *)(const void *)(base + v->offset) ? "1" : "0");
      break;
    }
  }
  ds_log_end(&l);
}

void ds_cfg_warn_unknown(const struct ds_cfg_var *vars, size_t n, const char *prefix,
                         char *const *envp)
{
  size_t plen = strlen(prefix);
  for (char *const *e = envp; e != NULL && *e != NULL; e++) {
    if (strncmp(*e, prefix, plen) != 0)
      continue;
    const char *eq = strchr(*e, '=');
    size_t nlen = eq ? (size_t)(eq - *e) : strlen(*e);
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
      known = strlen(vars[i].name) == nlen && strncmp(vars[i].name, *e, nlen) == 0;
    if (!known) {
      struct ds_logline l;
      if (ds_log_begin(&l, DS_LOG_WARN, "config_unknown_var")) {
        ds_log_strn(&l, "name", *e, nlen);
        ds_log_end(&l);
      }
    }
  }
}

void ds_cfg_print_markdown(const char *svc, const struct ds_cfg_var *vars, size_t n)
{
  printf("## %s\n\n| variable | type | default | range | description |\n| --- | --- | --- | --- | "
         "--- |\n",
         svc);
  for (size_t i = 0; i < n; i++) {
    const struct ds_cfg_var *v = &vars[i];
    const char *type = v->type == DS_CFG_STR   ? "string"
                       : v->type == DS_CFG_INT ? "integer"
                                               : "bool";
    char range[64] = "";
    if (v->type == DS_CFG_INT)
      snprintf(range, sizeof range, "%lld..%lld", v->min, v->max);
    printf("| `%s` | %s | %s | %s | %s%s%s |\n", v->name, type,
           v->required ? "(required)"
           : v->def    ? v->def
                       : "(unset)",
           range, v->help, v->secret ? " (secret)" : "", "");
  }
  printf("\n");
}

extern char **environ;

bool ds_cfg_startup(const char *svc, const struct ds_cfg_var *vars, size_t n, void *cfg,
                    const char *prefix, size_t log_level_offset, int argc, char **argv,
                    int *exit_code)
{
  char err[DS_ERRLEN] = "";
  bool check_only = false;
  ds_log_init(svc, DS_LOG_INFO);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help-config") == 0) {
      char title[96];
      snprintf(title, sizeof title, "devicestats-%s", svc);
      ds_cfg_print_markdown(title, vars, n);
      *exit_code = 0;
      return false;
    }
    if (strcmp(argv[i], "--check-config") != 0) {
      ds_log_msg(DS_LOG_ERROR, "startup_failed",
                 "unknown argument '%.64s' (use --check-config or --help-config)", argv[i]);
      *exit_code = 2;
      return false;
    }
    check_only = true;
  }
  if (ds_cfg_load(vars, n, cfg, ds_cfg_env_lookup, NULL, err) != DS_OK) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed", "%s", err);
    *exit_code = 2;
    return false;
  }
  const char *lv = *(char *const *)(const void *)((const char *)cfg + log_level_offset);
  int level = ds_log_level_parse(lv != NULL ? lv : "info");
  if (level < 0) {
    ds_log_msg(DS_LOG_ERROR, "startup_failed",
               "LOG_LEVEL: '%.32s' is not error, warn, info or debug", lv);
    *exit_code = 2;
    return false;
  }
  ds_log_init(svc, (enum ds_log_level)level);
  ds_cfg_warn_unknown(vars, n, prefix, environ);
  ds_cfg_log(vars, n, cfg);
  if (check_only) {
    *exit_code = 0;
    return false;
  }
  return true;
}
