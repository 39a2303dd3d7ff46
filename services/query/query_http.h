/* The query service's request context (struct query_http_req), handler
 * and route types, and the pure request helpers (query_http.c): route
 * matching, parameters, error answers, the JSON writer of every body.
 * Every HTTP route is one row of query_routes (query_routes.h): method +
 * path pattern ("/devices/{id}/data") -> handler, each handler in the file
 * of its resource.  A handler reads its inputs from struct query_http_req,
 * writes a JSON body into req->out and sets req->status; the database is
 * reached through query_db.h. */
#ifndef QUERY_HTTP_H
#define QUERY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ds/err.h"
#include "ds/jsonw.h"

struct ds_mqtt;
struct query_cfg;
struct query_server;
struct query_db_thread;

#define QUERY_HTTP_PATH_PARAMS_MAX 4
#define QUERY_HTTP_QUERY_PARAMS_MAX 16
#define QUERY_HTTP_PATH_MAX 1024
#define QUERY_HTTP_HEADERS_OUT_MAX 6

struct query_http_kv {
  const char *key;
  const char *value;
};

struct query_http_req {
  const char *method; /* "GET", "POST", "PUT", ... (borrowed) */
  const char *path;   /* decoded URL path, no query string (borrowed) */
  const char *route;  /* the matched pattern, e.g. "/devices/{id}/data" */
  struct query_http_kv path_params[QUERY_HTTP_PATH_PARAMS_MAX]; /* {id} -> value, borrowed */
  size_t n_path_params;
  struct query_http_kv query[QUERY_HTTP_QUERY_PARAMS_MAX]; /* decoded query string, borrowed */
  size_t n_query;
  const char *body; /* request body (not NUL-terminated), may be NULL */
  size_t body_len;
  const struct query_cfg *cfg;    /* the service configuration (borrowed) */
  struct ds_mqtt *mqtt;           /* shared publisher, may be disconnected or NULL */
  struct query_server *server;    /* the server (metrics, memory budget); NULL in unit tests */
  struct query_db_thread *thread; /* this server thread's state (its PGconn); NULL in tests */
  struct ds_buf *out;             /* response body */
  int status;                     /* HTTP status; 200 unless the handler sets it */
  const char *content_type;       /* default "application/json" */
  /* Request headers the dashboard's routes read (borrowed; NULL: absent). */
  const char *accept_encoding;
  const char *if_none_match;
  /* Response headers beyond Content-Type (query_http_header_add; names and
   * values must outlive the request: static strings).  Without a
   * Cache-Control among them the answer gets "no-store". */
  struct query_http_kv headers_out[QUERY_HTTP_HEADERS_OUT_MAX];
  size_t n_headers_out;
};

/* A handler fills req->out and req->status.  It returns DS_OK, or an error
 * code when it could not produce any answer (the server then replies 500
 * {"error": "internal", ...}); answers such as 400/404/503 are DS_OK. */
typedef int (*query_http_handler_fn)(struct query_http_req *req);

enum {
  QUERY_HTTP_ROUTE_WRITE = 1, /* needs Authorization: Bearer $API_TOKEN */
  /* reads data: needs Bearer $API_READ_TOKEN (or $API_TOKEN) when
   * API_READ_TOKEN is set; open otherwise */
  QUERY_HTTP_ROUTE_READ = 2,
};

struct query_http_route {
  const char *method;
  const char *pattern; /* segments; "{name}" matches one non-empty segment */
  query_http_handler_fn handler;
  unsigned flags;
};

/* Finds the route for method + path.  Returns the index of the route
 * (filling req->path_params and req->route), -404 when no pattern matches
 * the path, or -405 when a pattern matches but not with this method (allow
 * then gets the allowed methods, comma separated). */
int query_http_route_match(const struct query_http_route *routes, size_t n, const char *method,
                           const char *path, struct query_http_req *req, char *allow,
                           size_t allow_len);

/* A path parameter ({id}) or query parameter by name; NULL when absent. */
const char *query_http_path_param(const struct query_http_req *req, const char *name);
const char *query_http_query_param(const struct query_http_req *req, const char *name);

/* Adds a response header (name and value borrowed for the request's
 * lifetime).  DS_ERANGE past QUERY_HTTP_HEADERS_OUT_MAX. */
DS_MUSTCHECK int query_http_header_add(struct query_http_req *req, const char *name,
                                       const char *value);
/* The value of response header name set by query_http_header_add, or NULL. */
const char *query_http_header_out(const struct query_http_req *req, const char *name);

/* Replaces the response with {"error": code, "detail": detail} and sets the
 * status.  Returns DS_OK (or DS_ENOMEM), so a handler can `return query_http_error(..)`. */
int query_http_error(struct query_http_req *req, int status, const char *code, const char *detail);

/* Every JSON body is written with the one writer (ds/jsonw.h), so spacing
 * is {"a": 1, "b": [1, 2]} on every route.  begin starts w over req->out;
 * end returns the writer's sticky error, or ends the body with the newline
 * every answer ends with. */
void query_http_json_begin(struct query_http_req *req, struct ds_jsonw *w);
DS_MUSTCHECK int query_http_json_end(struct query_http_req *req, struct ds_jsonw *w);
/* A time as a JSON value: RFC 3339 UTC with milliseconds, or null for
 * DS_TIME_NONE. */
void query_http_json_time(struct ds_jsonw *w, int64_t us);

#endif
