/* Throttling of libmicrohttpd's own messages (malformed requests, requests
 * past its memory pool, ...), which clients can trigger at will: at most
 * one event=http_server line per QUERY_LOG_PERIOD_MS, the next one saying
 * how many were suppressed in between. */
#ifndef QUERY_LOG_H
#define QUERY_LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#define QUERY_LOG_PERIOD_MS 5000

struct query_log {
  pthread_mutex_t mu;
  int64_t next_ms; /* when the next message may be written */
  unsigned long long suppressed;
  char last[512]; /* the latest suppressed message */
};

/* Ready to write at once.  DS_OK or DS_ENOMEM. */
int query_log_init(struct query_log *l);
void query_log_cleanup(struct query_log *l);
/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER callback; cls is the
 * struct query_log. */
void query_log_mhd(void *cls, const char *fmt, va_list ap);
/* Reports messages suppressed in a period that has ended at now_ms (or all
 * of them when force, at shutdown) with the latest of them. */
void query_log_flush(struct query_log *l, int64_t now_ms, bool force);

#endif
