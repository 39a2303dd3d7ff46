/* Structured logging: one logfmt line per event on stderr, written with a
 * single write(2).  The logger escapes and truncates values.
 *   ts=2026-11-28T12:00:00.123Z level=info svc=ingest event=ready addr=...
 * Usage:
 *   struct ds_logline l;
 *   if (ds_log_begin(&l, DS_LOG_INFO, "batch_stored")) {
 *     ds_log_int(&l, "rows", n);
 *     ds_log_str(&l, "device", name);
 *     ds_log_end(&l);
 *   }
 */
#ifndef DS_LOG_H
#define DS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ds_log_level { DS_LOG_ERROR = 0, DS_LOG_WARN = 1, DS_LOG_INFO = 2, DS_LOG_DEBUG = 3 };

#define DS_LOG_LINE_MAX 2048

struct ds_logline {
  char text[DS_LOG_LINE_MAX];
  size_t len;
};

/* Sets the service name and the level threshold; call once at startup. */
void ds_log_init(const char *svc, enum ds_log_level level);
/* Parses "error|warn|info|debug"; returns -1 when unknown. */
int ds_log_level_parse(const char *s);
/* Whether lines at level are written. */
bool ds_log_enabled(enum ds_log_level level);

/* Starts a line; returns false (and the caller skips the rest) when level
 * is filtered out. */
bool ds_log_begin(struct ds_logline *l, enum ds_log_level level, const char *event);
void ds_log_str(struct ds_logline *l, const char *key, const char *value);
void ds_log_strn(struct ds_logline *l, const char *key, const char *value, size_t len);
void ds_log_int(struct ds_logline *l, const char *key, long long value);
void ds_log_dbl(struct ds_logline *l, const char *key, double value);
/* Writes the line with one write(2). */
void ds_log_end(struct ds_logline *l);

/* One-shot helper: event plus a printf-formatted free-text msg="...". */
void ds_log_msg(enum ds_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
