/* Routing and request helpers of the query service; pure (no sockets, no
 * database), so the routing is unit-tested on its own. */
#include "query_http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ds/time.h"

/* Matches one pattern against path; fills params on success. */
static bool pattern_match(const char *pattern, const char *path, size_t *nparams, char names[][32],
                          char values[][QUERY_HTTP_PATH_MAX])
{
  const char *p = pattern, *s = path;
  size_t n = 0;
  while (*p != '\0' && *s != '\0') {
    if (*p != '/' || *s != '/')
      return false;
    p++;
    s++;
    const char *pe = strchr(p, '/'), *se = strchr(s, '/');
    size_t pl = pe ? (size_t)(pe - p) : strlen(p);
    size_t sl = se ? (size_t)(se - s) : strlen(s);
    if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
      if (sl == 0 || sl >= QUERY_HTTP_PATH_MAX || pl - 2 >= 32 || n >= QUERY_HTTP_PATH_PARAMS_MAX)
        return false;
      memcpy(names[n], p + 1, pl - 2);
      names[n][pl - 2] = '\0';
      memcpy(values[n], s, sl);
      values[n][sl] = '\0';
      n++;
    } else if (pl != sl || memcmp(p, s, pl) != 0) {
      return false;
    }
    p += pl;
    s += sl;
  }
  if (*p != '\0' || *s != '\0')
    return false;
  *nparams = n;
  return true;
}

int query_http_route_match(const struct query_http_route *routes, size_t n, const char *method,
                           const char *path, struct query_http_req *req, char *allow,
                           size_t allow_len)
{
  /* Path parameter storage lives as long as the thread's current request:
   * handlers run on the thread that matched the route. */
  static _Thread_local char names[QUERY_HTTP_PATH_PARAMS_MAX][32];
  static _Thread_local char values[QUERY_HTTP_PATH_PARAMS_MAX][QUERY_HTTP_PATH_MAX];
  bool path_known = false;
  size_t alen = 0;
  if (allow_len > 0)
    allow[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    size_t np = 0;
    if (!pattern_match(routes[i].pattern, path, &np, names, values))
      continue;
    if (strcmp(routes[i].method, method) == 0) {
      req->n_path_params = np;
      for (size_t k = 0; k < np; k++) {
        req->path_params[k].key = names[k];
        req->path_params[k].value = values[k];
      }
      req->route = routes[i].pattern;
      return (int)i;
    }
    path_known = true;
    if (allow_len > 0 && strstr(allow, routes[i].method) == NULL) {
      int w = snprintf(allow + alen, allow_len - alen, "%s%s", alen ? ", " : "", routes[i].method);
      if (w > 0 && (size_t)w < allow_len - alen)
        alen += (size_t)w;
    }
  }
  return path_known ? -405 : -404;
}

const char *query_http_path_param(const struct query_http_req *req, const char *name)
{
  for (size_t i = 0; i < req->n_path_params; i++)
    if (strcmp(req->path_params[i].key, name) == 0)
      return req->path_params[i].value;
  return NULL;
}

const char *query_http_query_param(const struct query_http_req *req, const char *name)
{
  for (size_t i = 0; i < req->n_query; i++)
    if (strcmp(req->query[i].key, name) == 0)
      return req->query[i].value != NULL ? req->query[i].value : "";
  return NULL;
}

int query_http_header_add(struct query_http_req *req, const char *name, const char *value)
{
  if (req->n_headers_out >= QUERY_HTTP_HEADERS_OUT_MAX)
    return DS_ERANGE;
  req->headers_out[req->n_headers_out].key = name;
  req->headers_out[req->n_headers_out].value = value;
  req->n_headers_out++;
  return DS_OK;
}

const char *query_http_header_out(const struct query_http_req *req, const char *name)
{
  for (size_t i = 0; i < req->n_headers_out; i++)
    if (strcasecmp(req->headers_out[i].key, name) == 0)
      return req->headers_out[i].value;
  return NULL;
}

int query_http_error(struct query_http_req *req, int status, const char *code, const char *detail)
{
  ds_buf_reset(req->out);
  req->status = status;
  req->content_type = "application/json";
  req->n_headers_out = 0; /* no Content-Encoding or caching of an error */
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key_str(&w, "error", code);
  ds_jsonw_key_str(&w, "detail", detail);
  ds_jsonw_object_end(&w);
  return query_http_json_end(req, &w);
}

void query_http_json_begin(struct query_http_req *req, struct ds_jsonw *w)
{
  ds_jsonw_init(w, req->out);
}

int query_http_json_end(struct query_http_req *req, struct ds_jsonw *w)
{
  int rc = ds_jsonw_finish(w);
  return rc == DS_OK ? ds_buf_append_str(req->out, "\n") : rc;
}

void query_http_json_time(struct ds_jsonw *w, int64_t us)
{
  char t[DS_TIME_STRLEN];
  if (us == DS_TIME_NONE)
    ds_jsonw_null(w);
  else
    ds_jsonw_str(w, ds_time_format(us, t));
}
