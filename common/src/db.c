/* PostgreSQL helpers: connect, retry with capped backoff, execute and check
 * status, array parameters.  Migrations are in db_migrate.c. */
#include "ds/db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/log.h"
#include "ds/retry.h"

void ds_db_errmsg(PGconn *conn, PGresult *res, char err[DS_ERRLEN])
{
  const char *m = res ? PQresultErrorMessage(res) : NULL;
  if (m == NULL || m[0] == '\0')
    m = conn ? PQerrorMessage(conn) : "no connection";
  if (m == NULL || m[0] == '\0')
    m = "unknown database error";
  size_t n = strcspn(m, "\n");
  if (n >= DS_ERRLEN)
    n = DS_ERRLEN - 1;
  memcpy(err, m, n);
  err[n] = '\0';
}

int ds_db_result(PGconn *conn, PGresult *r, PGresult **out, char err[DS_ERRLEN])
{
  ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    if (err != NULL)
      ds_db_errmsg(conn, r, err);
    PQclear(r);
    return DS_EDB;
  }
  if (out != NULL)
    *out = r;
  else
    PQclear(r);
  return DS_OK;
}

int ds_db_exec(PGconn *conn, const char *sql, int n, const char *const *params, PGresult **out,
               char err[DS_ERRLEN])
{
  PGresult *r = n == 0 && params == NULL ? PQexec(conn, sql)
                                         : PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
  return ds_db_result(conn, r, out, err);
}

void ds_db_rollback(PGconn *conn)
{
  PGTransactionStatusType ts = PQtransactionStatus(conn);
  if (ts != PQTRANS_IDLE && ts != PQTRANS_UNKNOWN)
    PQclear(PQexec(conn, "ROLLBACK"));
}

int ds_db_int32_array(struct ds_buf *b, const int32_t *v, size_t n)
{
  int rc = ds_buf_append(b, "{", 1);
  for (size_t i = 0; rc == DS_OK && i < n; i++)
    rc = ds_buf_appendf(b, i ? ",%" PRId32 : "%" PRId32, v[i]);
  return rc == DS_OK ? ds_buf_append(b, "}", 1) : rc;
}

int ds_db_int64_array(struct ds_buf *b, const int64_t *v, size_t n)
{
  int rc = ds_buf_append(b, "{", 1);
  for (size_t i = 0; rc == DS_OK && i < n; i++)
    rc = ds_buf_appendf(b, i ? ",%" PRId64 : "%" PRId64, v[i]);
  return rc == DS_OK ? ds_buf_append(b, "}", 1) : rc;
}

/* Server notices ("relation exists, skipping") become debug log lines
 * instead of free text on stderr. */
static void on_notice(void *arg, const char *message)
{
  (void)arg;
  struct ds_logline l;
  if (ds_log_begin(&l, DS_LOG_DEBUG, "db_notice")) {
    ds_log_strn(&l, "msg", message, strcspn(message, "\n"));
    ds_log_end(&l);
  }
}

int ds_db_connect(const char *url, const char *application_name, PGconn **out, char err[DS_ERRLEN])
{
  /* Keywords and values, so a URL and the PG* variables both work and the
   * application name and connect timeout apply either way. */
  const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
  const char *vals[] = {url && url[0] ? url : NULL, application_name, "5", NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (c == NULL) {
    snprintf(err, DS_ERRLEN, "out of memory");
    return DS_ENOMEM;
  }
  if (PQstatus(c) != CONNECTION_OK) {
    ds_db_errmsg(c, NULL, err);
    PQfinish(c);
    return DS_EDB;
  }
  PQsetNoticeProcessor(c, on_notice, NULL);
  if (ds_db_exec(c, "SET TIME ZONE 'UTC'", 0, NULL, NULL, err) != DS_OK) {
    PQfinish(c);
    return DS_EDB;
  }
  *out = c;
  return DS_OK;
}

struct connect_ctx {
  const char *url, *application_name;
  PGconn **out;
};

static int connect_attempt(void *ctx, char err[DS_ERRLEN])
{
  struct connect_ctx *c = ctx;
  return ds_db_connect(c->url, c->application_name, c->out, err);
}

int ds_db_connect_retry(const char *url, const char *application_name, long max_backoff_ms,
                        long timeout_ms, PGconn **out)
{
  struct connect_ctx c = {url, application_name, out};
  return ds_retry(connect_attempt, &c, "db_unavailable", "db_connected", max_backoff_ms,
                  timeout_ms);
}

bool ds_db_broken(PGconn *conn)
{
  return conn == NULL || PQstatus(conn) != CONNECTION_OK;
}
