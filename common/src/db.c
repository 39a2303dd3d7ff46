/* PostgreSQL helpers: connect, retry with capped backoff, migrations. */
#include "ds/db.h"

#include <dirent.h>
#include <errno.h>
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

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file (at most 4 MiB) into a new NUL-terminated string. */
static int read_file(const char *path, char **out, char err[DS_ERRLEN])
{
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(err, DS_ERRLEN, "%.160s: %s", path, strerror(errno));
    return DS_EIO;
  }
  size_t cap = 4u << 20, len = 0;
  char *s = malloc(cap + 1);
  if (s == NULL) {
    fclose(f);
    return DS_ENOMEM;
  }
  len = fread(s, 1, cap, f);
  int rc = DS_OK;
  if (ferror(f) || !feof(f)) {
    snprintf(err, DS_ERRLEN, "%.160s: unreadable or larger than 4 MiB", path);
    rc = DS_EIO;
    free(s);
  } else {
    s[len] = '\0';
    *out = s;
  }
  fclose(f);
  return rc;
}

/* Migration files are NNN_name.sql: three digits, underscore. */
static bool migration_name(const char *n, int *version)
{
  size_t len = strlen(n);
  if (len < 9 || strcmp(n + len - 4, ".sql") != 0 || n[3] != '_')
    return false;
  for (int i = 0; i < 3; i++)
    if (n[i] < '0' || n[i] > '9')
      return false;
  *version = (n[0] - '0') * 100 + (n[1] - '0') * 10 + (n[2] - '0');
  return true;
}

int ds_db_migrate(PGconn *c, const char *dir, int *applied, char err[DS_ERRLEN])
{
  char **names = NULL;
  size_t nnames = 0, cap = 0;
  char *sql = NULL;
  int rc = DS_OK, count = 0;
  bool locked = false;

  DIR *d = opendir(dir);
  if (d == NULL) {
    snprintf(err, DS_ERRLEN, "migrations directory %s: %s", dir, strerror(errno));
    return DS_EIO;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int v;
    if (!migration_name(e->d_name, &v))
      continue;
    if (nnames == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(names, cap * sizeof *nn);
      if (nn == NULL) {
        rc = DS_ENOMEM;
        goto out;
      }
      names = nn;
    }
    names[nnames] = strdup(e->d_name);
    if (names[nnames] == NULL) {
      rc = DS_ENOMEM;
      goto out;
    }
    nnames++;
  }
  qsort(names, nnames, sizeof *names, cmp_names);

  /* A session lock serialises concurrent migrators (several services or
   * containers starting at once). */
  rc = ds_db_exec(c, "SELECT pg_advisory_lock(7345001)", 0, NULL, NULL, err);
  if (rc != DS_OK)
    goto out;
  locked = true;
  rc = ds_db_exec(c,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version integer PRIMARY KEY, name text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())",
                  0, NULL, NULL, err);
  if (rc != DS_OK)
    goto out;

  for (size_t i = 0; i < nnames; i++) {
    int v = 0;
    (void)migration_name(names[i], &v);
    char vtext[16];
    snprintf(vtext, sizeof vtext, "%d", v);
    const char *p1[1] = {vtext};
    PGresult *r = NULL;
    rc = ds_db_exec(c, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, p1, &r, err);
    if (rc != DS_OK)
      goto out;
    bool done = PQntuples(r) > 0;
    PQclear(r);
    if (done)
      continue;

    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
      snprintf(err, DS_ERRLEN, "migration path too long");
      rc = DS_EINVAL;
      goto out;
    }
    rc = read_file(path, &sql, err);
    if (rc != DS_OK)
      goto out;
    rc = ds_db_exec(c, "BEGIN", 0, NULL, NULL, err);
    if (rc != DS_OK)
      goto out;
    char inner[DS_ERRLEN];
    rc = ds_db_exec(c, sql, 0, NULL, NULL, inner);
    if (rc == DS_OK) {
      const char *p2[2] = {vtext, names[i]};
      rc = ds_db_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2,
                      p2, NULL, inner);
    }
    if (rc != DS_OK) {
      int ignored = ds_db_exec(c, "ROLLBACK", 0, NULL, NULL, NULL); /* the failure is in inner */
      (void)ignored;
      snprintf(err, DS_ERRLEN, "%.64s: %.180s", names[i], inner);
      goto out;
    }
    rc = ds_db_exec(c, "COMMIT", 0, NULL, NULL, err);
    if (rc != DS_OK)
      goto out;
    DS_FREE(sql);
    count++;
  }
  *applied = count;

out:
  if (locked) {
    /* The lock also ends with the session; a failure here changes nothing. */
    int ignored = ds_db_exec(c, "SELECT pg_advisory_unlock(7345001)", 0, NULL, NULL, NULL);
    (void)ignored;
  }
  free(sql);
  for (size_t i = 0; i < nnames; i++)
    free(names[i]);
  free(names);
  closedir(d);
  return rc;
}
