/* libFuzzer target for the query service's request parsing: the route
 * matcher over the real routing table, then the query parameters every
 * route reads (start/end and their aliases, limit, interval, the series
 * buckets) and the JSON error answer quoting what was wrong.  Input: the
 * method, a newline, the path, a newline, the query string (name=value
 * pairs joined by '&', as libmicrohttpd hands them over after decoding).
 * Checks beyond "no crash": a match is a route of that method whose path
 * parameters are non-empty segments; a range has start <= end; buckets
 * stay within the limit; every error body is strict JSON quoting the
 * detail. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds/time.h"
#include "query_params.h"
#include "query_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The error answer must be strict JSON with the code and, when the detail
 * is valid UTF-8, the detail itself. */
static void check_error(struct query_http_req *req, const char *detail)
{
  struct ds_buf out;
  ds_buf_init(&out, 1 << 16);
  req->out = &out;
  if (query_http_error(req, 400, "bad_request", detail) != DS_OK) {
    ds_buf_cleanup(&out);
    return;
  }
  struct json_tokener *tok = json_tokener_new();
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  struct json_object *o = json_tokener_parse_ex(tok, out.data, (int)out.len);
  struct json_object *e = NULL, *d = NULL;
  if (o == NULL || !json_object_object_get_ex(o, "error", &e) ||
      !json_object_object_get_ex(o, "detail", &d) ||
      strcmp(json_object_get_string(e), "bad_request") != 0)
    abort();
  if (ds_utf8_valid((const unsigned char *)detail, strlen(detail)) &&
      strcmp(json_object_get_string(d), detail) != 0)
    abort();
  json_object_put(o);
  json_tokener_free(tok);
  ds_buf_cleanup(&out);
  req->out = NULL;
}

static void check_params(struct query_http_req *req)
{
  int64_t start, end, iv, first, n;
  char err[DS_ERRLEN];
  err[0] = '\0';
  int rc = query_params_range(req, &start, &end, err);
  if (rc == DS_OK) {
    if (start != DS_TIME_NONE && end != DS_TIME_NONE && start > end)
      abort();
  } else {
    if (err[0] == '\0')
      abort();
    check_error(req, err);
    start = end = DS_TIME_NONE;
  }
  long long v;
  const char *limit = query_http_query_param(req, "limit");
  if (limit != NULL && query_params_int(limit, 1, 1000, &v) == DS_OK && (v < 1 || v > 1000))
    abort();
  const char *interval = query_http_query_param(req, "interval");
  if (interval != NULL && ds_interval_parse(interval, &iv) == DS_OK && start != DS_TIME_NONE &&
      end != DS_TIME_NONE && query_params_buckets(start, end, iv, 10000, &first, &n) == DS_OK) {
    if (n < 0 || n > 10000 || first > start || (n > 0 && end - first > n * iv))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 16384)
    return 0;
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char *method = s, *path = strchr(s, '\n'), *qs = NULL;
  if (path == NULL)
    goto out;
  *path++ = '\0';
  qs = strchr(path, '\n');
  if (qs != NULL)
    *qs++ = '\0';

  struct query_http_req req;
  memset(&req, 0, sizeof req);
  req.method = method;
  req.path = path;
  char allow[64];
  int r =
      query_http_route_match(query_routes, query_routes_n, method, path, &req, allow, sizeof allow);
  if (r >= 0) {
    if ((size_t)r >= query_routes_n || strcmp(query_routes[r].method, method) != 0 ||
        req.n_path_params > QUERY_HTTP_PATH_PARAMS_MAX)
      abort();
    for (size_t i = 0; i < req.n_path_params; i++)
      if (req.path_params[i].value[0] == '\0' || strchr(req.path_params[i].value, '/') != NULL)
        abort();
  } else if (r == -405) {
    if (allow[0] == '\0')
      abort();
  } else if (r != -404) {
    abort();
  }

  /* The query string, split as libmicrohttpd does (a name without '='
   * has no value). */
  for (char *p = qs; p != NULL && req.n_query < QUERY_HTTP_QUERY_PARAMS_MAX;) {
    char *amp = strchr(p, '&');
    if (amp != NULL)
      *amp = '\0';
    char *eq = strchr(p, '=');
    if (eq != NULL)
      *eq = '\0';
    req.query[req.n_query].key = p;
    req.query[req.n_query].value = eq != NULL ? eq + 1 : NULL;
    req.n_query++;
    p = amp != NULL ? amp + 1 : NULL;
  }
  check_params(&req);
out:
  free(s);
  return 0;
}
