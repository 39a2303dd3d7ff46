/* One PostgreSQL connection per server thread, its prepared statements,
 * and the answers a handler gives when the database fails (see
 * query_db.h). */
#include "query_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/db.h"
#include "ds/log.h"
#include "ds/store.h"
#include "ds/time.h"
#include "query_cfg.h"
#include "query_metrics.h"

#define PREPARED_MAX 32
#define DB_RETRY_MS 500

/* One per server thread, created on its first request. */
struct query_db_thread {
  struct query_db *owner;
  PGconn *db;
  int64_t last_fail_ms;
  const char *prepared[PREPARED_MAX]; /* the query's own statements on db */
  size_t n_prepared;
  struct ds_store_stmts store; /* the sample store's statements on db */
  int64_t health_ok_ms;        /* when this connection last answered the health probe */
};

static void thread_free(void *p)
{
  struct query_db_thread *t = p;
  if (t == NULL)
    return;
  if (t->db != NULL) {
    PQfinish(t->db);
    atomic_fetch_sub(&t->owner->metrics->db_open, 1);
  }
  free(t);
}

int query_db_init(struct query_db *db, const struct query_cfg *cfg, struct query_metrics *metrics)
{
  db->cfg = cfg;
  db->metrics = metrics;
  atomic_init(&db->down, false);
  return pthread_key_create(&db->key, thread_free) == 0 ? DS_OK : DS_ENOMEM;
}

void query_db_cleanup(struct query_db *db)
{
  pthread_key_delete(db->key);
}

struct query_db_thread *query_db_thread(struct query_db *db)
{
  struct query_db_thread *t = pthread_getspecific(db->key);
  if (t == NULL) {
    t = calloc(1, sizeof *t);
    if (t == NULL)
      return NULL;
    t->owner = db;
    t->last_fail_ms = INT64_MIN / 2;
    if (pthread_setspecific(db->key, t) != 0) {
      free(t);
      return NULL;
    }
  }
  return t;
}

void query_db_thread_idle(struct query_db_thread *t)
{
  if (t != NULL && t->db != NULL && PQtransactionStatus(t->db) != PQTRANS_IDLE) {
    PGresult *res = PQexec(t->db, "ROLLBACK");
    PQclear(res);
  }
}

static void db_drop(struct query_db_thread *t)
{
  if (t->db == NULL)
    return;
  PQfinish(t->db);
  t->db = NULL;
  t->n_prepared = 0;
  ds_store_stmts_reset(&t->store);
  atomic_fetch_sub(&t->owner->metrics->db_open, 1);
  atomic_fetch_add(&t->owner->metrics->db_lost, 1);
}

/* Logs event=db_unavailable / db_connected when the state changes. */
static void db_state(struct query_db *db, bool down, const char *detail)
{
  bool was = atomic_exchange(&db->down, down);
  if (was == down)
    return;
  if (down)
    ds_log_msg(DS_LOG_WARN, "db_unavailable", "%s", detail);
  else
    ds_log_msg(DS_LOG_INFO, "db_connected", "database is reachable");
}

/* Bounds every statement of c, so a stuck query cannot hold a thread for
 * ever.  DS_OK or DS_EDB with err. */
static int set_statement_timeout(PGconn *c, long long ms, char err[DS_ERRLEN])
{
  char v[24];
  snprintf(v, sizeof v, "%lld", ms);
  const char *vals[1] = {v};
  return ds_db_exec(c, "SELECT set_config('statement_timeout', $1, false)", 1, vals, NULL, err);
}

PGconn *query_db_conn(struct query_http_req *req)
{
  struct query_db_thread *t = req->thread;
  if (t == NULL) {
    query_http_error(req, 503, "db_unavailable", "no database connection");
    return NULL;
  }
  if (t->db != NULL && PQstatus(t->db) != CONNECTION_OK)
    db_drop(t);
  if (t->db != NULL)
    return t->db;
  int64_t now = ds_time_mono_ms();
  if (now - t->last_fail_ms < DB_RETRY_MS) {
    query_http_error(req, 503, "db_unavailable", "the database is unreachable (retrying)");
    return NULL;
  }
  char err[DS_ERRLEN] = "";
  PGconn *c = NULL;
  if (ds_db_connect(t->owner->cfg->database_url, "devicestats-query", &c, err) != DS_OK) {
    t->last_fail_ms = now;
    atomic_fetch_add(&t->owner->metrics->db_connect_fails, 1);
    db_state(t->owner, true, err);
    query_http_error(req, 503, "db_unavailable", err);
    return NULL;
  }
  if (set_statement_timeout(c, t->owner->cfg->statement_timeout_ms, err) != DS_OK) {
    PQfinish(c);
    t->last_fail_ms = now;
    query_http_error(req, 503, "db_unavailable", err);
    return NULL;
  }
  t->db = c;
  t->n_prepared = 0;
  ds_store_stmts_reset(&t->store);
  atomic_fetch_add(&t->owner->metrics->db_open, 1);
  atomic_fetch_add(&t->owner->metrics->db_connects, 1);
  db_state(t->owner, false, NULL);
  return c;
}

PGconn *query_db_current(const struct query_http_req *req)
{
  return req->thread != NULL ? req->thread->db : NULL;
}

int query_db_fail(struct query_http_req *req, PGconn *conn, PGresult *res)
{
  char err[DS_ERRLEN];
  ds_db_errmsg(conn, res, err);
  const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (conn == NULL || PQstatus(conn) != CONNECTION_OK ||
      (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))) {
    if (req->thread != NULL && req->thread->db == conn)
      db_drop(req->thread);
    if (req->thread != NULL)
      db_state(req->thread->owner, true, err);
    return query_http_error(req, 503, "db_unavailable", err);
  }
  if (state != NULL && strcmp(state, "57014") == 0)
    return query_http_error(req, 503, "db_timeout", "the query took too long");
  ds_log_msg(DS_LOG_ERROR, "db_error", "%s", err);
  return query_http_error(req, 500, "db_error", err);
}

struct ds_store_stmts *query_db_stmts(struct query_http_req *req)
{
  return req->thread != NULL ? &req->thread->store : NULL;
}

PGresult *query_db_exec(struct query_http_req *req, PGconn *conn, const char *name, const char *sql,
                        int nparams, const char *const *values, int result_format)
{
  struct query_db_thread *t = req->thread;
  bool prepared = false;
  if (t != NULL && t->db == conn) {
    for (size_t i = 0; i < t->n_prepared; i++)
      if (t->prepared[i] == name)
        prepared = true;
    if (!prepared && t->n_prepared < PREPARED_MAX) {
      PGresult *res = PQprepare(conn, name, sql, nparams, NULL);
      if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return res; /* the caller sees the error */
      PQclear(res);
      t->prepared[t->n_prepared++] = name;
      prepared = true;
    }
  }
  if (prepared)
    return PQexecPrepared(conn, name, nparams, values, NULL, NULL, result_format);
  return PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, result_format);
}

bool query_db_health_fresh(struct query_http_req *req, int64_t max_age_ms)
{
  struct query_db_thread *t = req->thread;
  return t != NULL && t->db != NULL && t->health_ok_ms != 0 &&
         ds_time_mono_ms() - t->health_ok_ms < max_age_ms;
}

void query_db_health_mark(struct query_http_req *req)
{
  if (req->thread != NULL)
    req->thread->health_ok_ms = ds_time_mono_ms();
}
