/* Parsing of the HTTP API's inputs; see query_params.h. */
#include "query_params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/time.h"

static int one_of(const struct query_http_req *req, const char *a, const char *b, const char **out,
                  char err[DS_ERRLEN])
{
  const char *va = query_http_query_param(req, a), *vb = query_http_query_param(req, b);
  if (va != NULL && vb != NULL) {
    snprintf(err, DS_ERRLEN, "give %s or %s, not both", a, b);
    return DS_EINVAL;
  }
  *out = va != NULL ? va : vb;
  return DS_OK;
}

static int parse_time(const char *name, const char *s, int64_t *out, char err[DS_ERRLEN])
{
  if (s == NULL) {
    *out = DS_TIME_NONE;
    return DS_OK;
  }
  if (ds_time_parse_param(s, out) != DS_OK) {
    snprintf(err, DS_ERRLEN,
             "%s: not a time (RFC 3339, YYYY-MM-DD or Unix milliseconds): \"%.64s\"", name, s);
    return DS_EINVAL;
  }
  return DS_OK;
}

int query_params_range(const struct query_http_req *req, int64_t *start_us, int64_t *end_us,
                       char err[DS_ERRLEN])
{
  const char *s, *e;
  int64_t a, b;
  int rc;
  if ((rc = one_of(req, "start", "start_date", &s, err)) != DS_OK ||
      (rc = one_of(req, "end", "end_date", &e, err)) != DS_OK ||
      (rc = parse_time("start", s, &a, err)) != DS_OK ||
      (rc = parse_time("end", e, &b, err)) != DS_OK)
    return rc;
  if (a != DS_TIME_NONE && b != DS_TIME_NONE && a > b) {
    snprintf(err, DS_ERRLEN, "start is after end");
    return DS_EINVAL;
  }
  *start_us = a;
  *end_us = b;
  return DS_OK;
}

int query_params_int(const char *s, long long min, long long max, long long *out)
{
  if (s == NULL || s[0] < '0' || s[0] > '9')
    return DS_EINVAL;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return DS_EINVAL;
  *out = v;
  return DS_OK;
}

int64_t query_params_floor_div(int64_t a, int64_t b)
{
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

int query_params_buckets(int64_t start_us, int64_t end_us, int64_t interval_us, int64_t max_buckets,
                         int64_t *first, int64_t *n)
{
  if (interval_us <= 0 || end_us < start_us)
    return DS_EINVAL;
  if (end_us == start_us) {
    *first = start_us;
    *n = 0;
    return DS_OK;
  }
  int64_t b0 = query_params_floor_div(start_us, interval_us);
  int64_t b1 = query_params_floor_div(end_us - 1, interval_us); /* bucket of the last instant */
  if (b1 - b0 >= max_buckets)
    return DS_ERANGE;
  *first = b0 * interval_us;
  *n = b1 - b0 + 1;
  return DS_OK;
}

int query_params_limit(const struct query_http_req *req, long long def, long long max,
                       long long *limit, char err[DS_ERRLEN])
{
  const char *s = query_http_query_param(req, "limit");
  *limit = def;
  if (s != NULL && query_params_int(s, 1, max, limit) != DS_OK) {
    snprintf(err, DS_ERRLEN, "limit: an integer from 1 to %lld", max);
    return DS_EINVAL;
  }
  return DS_OK;
}
