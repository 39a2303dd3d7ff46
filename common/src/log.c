/* logfmt logging: one line per event, one write(2) per line. */
#include "ds/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ds/time.h"

static const char *g_svc = "devicestats";
static int g_level = DS_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void ds_log_init(const char *svc, enum ds_log_level level)
{
  g_svc = svc;
  g_level = level;
}

int ds_log_level_parse(const char *s)
{
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0)
      return i;
  return -1;
}

bool ds_log_enabled(enum ds_log_level level)
{
  return (int)level <= g_level;
}

/* Appends raw bytes, truncating (the last bytes stay free for "\n"). */
static void put(struct ds_logline *l, const char *s, size_t n)
{
  size_t room = sizeof(l->text) - 2 - l->len;
  if (n > room)
    n = room;
  memcpy(l->text + l->len, s, n);
  l->len += n;
}

static void put_str(struct ds_logline *l, const char *s)
{
  put(l, s, strlen(s));
}

/* Appends value quoted when it needs to be; escapes quotes, backslashes and
 * control bytes; caps a single value at 512 bytes. */
static void put_value(struct ds_logline *l, const char *v, size_t n)
{
  bool quote = n == 0;
  for (size_t i = 0; i < n && !quote; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
      quote = true;
  }
  bool cut = n > 512;
  if (cut)
    n = 512;
  if (!quote) {
    put(l, v, n);
  } else {
    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)v[i];
      char esc[5];
      if (c == '"' || c == '\\') {
        esc[0] = '\\';
        esc[1] = (char)c;
        put(l, esc, 2);
      } else if (c == '\n') {
        put(l, "\\n", 2);
      } else if (c < 0x20 || c == 0x7f) {
        snprintf(esc, sizeof esc, "\\x%02x", c);
        put(l, esc, 4);
      } else {
        put(l, (const char *)&v[i], 1);
      }
    }
    if (cut)
      put(l, "...", 3);
    put(l, "\"", 1);
  }
}

bool ds_log_begin(struct ds_logline *l, enum ds_log_level level, const char *event)
{
  if (!ds_log_enabled(level))
    return false;
  l->len = 0;
  char ts[DS_TIME_STRLEN];
  ds_time_format(ds_time_now_us(), ts);
  put_str(l, "ts=");
  put_str(l, ts);
  put_str(l, " level=");
  put_str(l, level_names[level]);
  put_str(l, " svc=");
  put_str(l, g_svc);
  put_str(l, " event=");
  put_value(l, event, strlen(event));
  return true;
}

void ds_log_strn(struct ds_logline *l, const char *key, const char *value, size_t len)
{
  put(l, " ", 1);
  put_str(l, key);
  put(l, "=", 1);
  if (value == NULL)
    put_value(l, "", 0);
  else
    put_value(l, value, len);
}

void ds_log_str(struct ds_logline *l, const char *key, const char *value)
{
  ds_log_strn(l, key, value, value ? strlen(value) : 0);
}

void ds_log_int(struct ds_logline *l, const char *key, long long value)
{
  char t[32];
  int n = snprintf(t, sizeof t, "%lld", value);
  ds_log_strn(l, key, t, (size_t)n);
}

void ds_log_dbl(struct ds_logline *l, const char *key, double value)
{
  char t[40];
  int n = snprintf(t, sizeof t, "%.6g", value);
  ds_log_strn(l, key, t, (size_t)n);
}

void ds_log_end(struct ds_logline *l)
{
  l->text[l->len++] = '\n';
  ssize_t w = write(STDERR_FILENO, l->text, l->len);
  (void)w; /* nowhere to report a failed log write */
}

void ds_log_msg(enum ds_log_level level, const char *event, const char *fmt, ...)
{
  struct ds_logline l;
  if (!ds_log_begin(&l, level, event))
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof msg)
    n = (int)sizeof msg - 1;
  ds_log_strn(&l, "msg", msg, (size_t)n);
  ds_log_end(&l);
}
