/* Blocking HTTP requests of the load generator, for its setup and checks
 * (the load itself goes through load_http.c's multi handle). */
#ifndef LOAD_FETCH_H
#define LOAD_FETCH_H

#include <stddef.h>

/* One blocking request (setup and checks, not load): method to url with
 * body (NULL: none; JSON) and, when token is set, the bearer token.  The
 * answer (at most max bytes, NUL-terminated, newly allocated: free) goes
 * to *out when out is not NULL.  Returns the status, or 0 when there was no
 * answer (then *out is NULL). */
long load_http_fetch(const char *method, const char *url, const char *body, const char *token,
                     char **out, size_t max, long timeout_ms);

/* The "count" member of a statistics object or -1. */
long long load_json_count(const char *body);

#endif
