/* Throttled logging of libmicrohttpd's messages (see query_log.h). */
#include "query_log.h"

#include <stdio.h>
#include <string.h>

#include "ds/err.h"
#include "ds/log.h"
#include "ds/time.h"

int query_log_init(struct query_log *l)
{
  l->next_ms = INT64_MIN / 2;
  l->suppressed = 0;
  l->last[0] = '\0';
  return pthread_mutex_init(&l->mu, NULL) == 0 ? DS_OK : DS_ENOMEM;
}

void query_log_cleanup(struct query_log *l)
{
  pthread_mutex_destroy(&l->mu);
}

/* One event=http_server line (suppressed=N when messages were dropped). */
static void log_line(const char *msg, unsigned long long suppressed)
{
  struct ds_logline line;
  if (!ds_log_begin(&line, DS_LOG_WARN, "http_server"))
    return;
  if (suppressed > 0)
    ds_log_int(&line, "suppressed", (long long)suppressed);
  ds_log_str(&line, "msg", msg);
  ds_log_end(&line);
}

void query_log_mhd(void *cls, const char *fmt, va_list ap)
{
  struct query_log *l = cls;
  char msg[sizeof l->last];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  int64_t now = ds_time_mono_ms();
  unsigned long long suppressed = 0;
  bool write_it = false;
  pthread_mutex_lock(&l->mu);
  if (now >= l->next_ms) {
    write_it = true;
    suppressed = l->suppressed;
    l->suppressed = 0;
    l->next_ms = now + QUERY_LOG_PERIOD_MS;
  } else {
    l->suppressed++;
    memcpy(l->last, msg, n + 1);
  }
  pthread_mutex_unlock(&l->mu);
  if (write_it)
    log_line(msg, suppressed);
}

void query_log_flush(struct query_log *l, int64_t now_ms, bool force)
{
  char msg[sizeof l->last];
  unsigned long long suppressed = 0;
  pthread_mutex_lock(&l->mu);
  if (l->suppressed > 0 && (force || now_ms >= l->next_ms)) {
    suppressed = l->suppressed;
    l->suppressed = 0;
    l->next_ms = now_ms + QUERY_LOG_PERIOD_MS;
    memcpy(msg, l->last, sizeof msg);
  }
  pthread_mutex_unlock(&l->mu);
  if (suppressed > 0)
    log_line(msg, suppressed);
}
