/* The database side of devicestats-query: one PostgreSQL connection per
 * server thread, made on the thread's first request that needs it and
 * remade after it breaks, with the statements prepared on it (the query's
 * own, by name, and the sample store's, struct ds_store_stmts).  Handlers
 * reach it through their struct query_http_req. */
#ifndef QUERY_DB_H
#define QUERY_DB_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ds/err.h"
#include "query_http.h"

struct query_cfg;
struct query_metrics;
struct ds_store_stmts;

/* Shared by the server threads: settings, counters, and each thread's
 * state under a pthread key. */
struct query_db {
  const struct query_cfg *cfg;   /* borrowed: database_url, statement_timeout_ms */
  struct query_metrics *metrics; /* borrowed: connection counters */
  pthread_key_t key;             /* -> struct query_db_thread */
  atomic_bool down;              /* for logging state changes once */
};

/* db in the caller's storage; cfg and metrics borrowed, must outlive it.
 * DS_OK or DS_ENOMEM. */
DS_MUSTCHECK int query_db_init(struct query_db *db, const struct query_cfg *cfg,
                               struct query_metrics *metrics);
/* Deletes the key; each thread's state was freed (connection closed) when
 * its thread ended. */
void query_db_cleanup(struct query_db *db);
/* The calling thread's state, created on first use (no connection yet);
 * NULL when out of memory.  Freed, its connection closed, when the thread
 * ends. */
struct query_db_thread *query_db_thread(struct query_db *db);
/* After a handler: rolls back a transaction it left open (a handler that
 * failed half-way).  t may be NULL. */
void query_db_thread_idle(struct query_db_thread *t);

/* For handlers, on the request's thread state (req->thread): */

/* The thread's database connection, connecting lazily.  On failure writes a
 * 503 {"error": "db_unavailable"} answer and returns NULL. */
PGconn *query_db_conn(struct query_http_req *req);
/* After a failed query: answers 503 db_unavailable when the connection is
 * broken (it is dropped and reconnected by a later request), else 500 with
 * the libpq error; res may be NULL.  Returns DS_OK like query_http_error. */
int query_db_fail(struct query_http_req *req, PGconn *conn, PGresult *res);
/* The thread's current connection without connecting (NULL if none). */
PGconn *query_db_current(const struct query_http_req *req);
/* The sample store's prepared statements on the thread's current
 * connection (ds/store.h), for ds_store_* calls on the connection
 * query_db_conn returned; NULL without a server thread (unit tests). */
struct ds_store_stmts *query_db_stmts(struct query_http_req *req);
/* Runs a statement prepared once per connection under name (a string
 * literal; pointer identity is the key).  Text parameters (NULL = SQL NULL);
 * result_format 0 text, 1 binary.  Returns the PGresult (caller PQclear) or
 * NULL when out of memory. */
PGresult *query_db_exec(struct query_http_req *req, PGconn *conn, const char *name, const char *sql,
                        int nparams, const char *const *values, int result_format);
/* Whether this thread's database connection passed the health probe less
 * than max_age_ms ago (so /health under load costs no round trip), and
 * recording that it just did. */
bool query_db_health_fresh(struct query_http_req *req, int64_t max_age_ms);
void query_db_health_mark(struct query_http_req *req);

#endif
