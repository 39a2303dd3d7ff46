/* The query service's request context, handler type and routing table.
 * Every HTTP route is one row of q_routes (query_routes.c): method + path
 * pattern ("/devices/{id}/data") -> handler.  A handler reads its inputs from
 * struct q_req, writes a JSON body into req->out and sets req->status. */
#ifndef Q_HTTP_H
#define Q_HTTP_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ds/err.h"

struct ds_mqtt;
struct ds_store_stmts;
struct q_cfg;
struct q_server;
struct q_thread;

#define Q_PATH_PARAMS_MAX 4
#define Q_QUERY_PARAMS_MAX 16
#define Q_PATH_MAX 1024

struct q_kv {
  const char *key;
  const char *value;
};

struct q_req {
  const char *method;                         /* "GET", "POST", "PUT", ... (borrowed) */
  const char *path;                           /* decoded URL path, no query string (borrowed) */
  const char *route;                          /* the matched pattern, e.g. "/devices/{id}/data" */
  struct q_kv path_params[Q_PATH_PARAMS_MAX]; /* {id} -> value, borrowed */
  size_t n_path_params;
  struct q_kv query[Q_QUERY_PARAMS_MAX]; /* decoded query string, borrowed */
  size_t n_query;
  const char *body; /* request body (not NUL-terminated), may be NULL */
  size_t body_len;
  const struct q_cfg *cfg;  /* the service configuration (borrowed) */
  struct ds_mqtt *mqtt;     /* shared publisher, may be disconnected or NULL */
  struct q_server *server;  /* the server (metrics, memory budget); NULL in unit tests */
  struct q_thread *thread;  /* this server thread's state (its PGconn); NULL in tests */
  struct ds_buf *out;       /* response body */
  int status;               /* HTTP status; 200 unless the handler sets it */
  const char *content_type; /* default "application/json" */
};

/* A handler fills req->out and req->status.  It returns DS_OK, or an error
 * code when it could not produce any answer (the server then replies 500
 * {"error":"internal"}); answers such as 400/404/503 are DS_OK. */
typedef int (*q_handler_fn)(struct q_req *req);

enum { Q_ROUTE_WRITE = 1 }; /* needs Authorization: Bearer $API_TOKEN */

struct q_route {
  const char *method;
  const char *pattern; /* segments; "{name}" matches one non-empty segment */
  q_handler_fn handler;
  unsigned flags;
};

/* The routing table (query_routes.c) and its length. */
extern const struct q_route q_routes[];
extern const size_t q_routes_n;

/* Finds the route for method + path.  Returns the index of the route
 * (filling req->path_params and req->route), -404 when no pattern matches
 * the path, or -405 when a pattern matches but not with this method (allow
 * then gets the allowed methods, comma separated). */
int q_route_match(const struct q_route *routes, size_t n, const char *method, const char *path,
                  struct q_req *req, char *allow, size_t allow_len);

/* A path parameter ({id}) or query parameter by name; NULL when absent. */
const char *q_path_param(const struct q_req *req, const char *name);
const char *q_query_param(const struct q_req *req, const char *name);

/* Replaces the response with {"error": code, "detail": detail} and sets the
 * status.  Returns DS_OK (or DS_ENOMEM), so a handler can `return q_error(..)`. */
int q_error(struct q_req *req, int status, const char *code, const char *detail);

/* The thread's database connection, connecting lazily.  On failure writes a
 * 503 {"error":"db_unavailable"} answer and returns NULL. */
PGconn *q_db(struct q_req *req);
/* Whether this thread's database connection passed the health probe less
 * than max_age_ms ago (so /health under load costs no round trip), and
 * recording that it just did. */
bool q_health_fresh(struct q_req *req, int64_t max_age_ms);
void q_health_mark(struct q_req *req);
/* After a failed query: answers 503 db_unavailable when the connection is
 * broken (it is dropped and reconnected by a later request), else 500 with
 * the libpq error; res may be NULL.  Returns DS_OK like q_error. */
int q_db_fail(struct q_req *req, PGconn *conn, PGresult *res);
/* The thread's current connection without connecting (NULL if none). */
PGconn *q_db_current(const struct q_req *req);
/* The sample store's prepared statements on the thread's current
 * connection (ds/store.h), for ds_store_* calls on the connection q_db
 * returned; NULL without a server thread (unit tests). */
struct ds_store_stmts *q_db_stmts(struct q_req *req);
/* Runs a statement prepared once per connection under name (a string
 * literal; pointer identity is the key).  Text parameters (NULL = SQL NULL);
 * result_format 0 text, 1 binary.  Returns the PGresult (caller PQclear) or
 * NULL when out of memory. */
PGresult *q_db_exec(struct q_req *req, PGconn *conn, const char *name, const char *sql, int nparams,
                    const char *const *values, int result_format);

#endif
