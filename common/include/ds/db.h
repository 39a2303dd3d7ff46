/* PostgreSQL helpers over libpq: connecting (DATABASE_URL, or the standard
 * PG* variables that libpq reads itself), retrying with capped backoff, and
 * applying the migrations in deploy/sql exactly once each, in order. */
#ifndef DS_DB_H
#define DS_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "ds/err.h"

/* One connection attempt.  url may be NULL or "" (libpq then uses PG*
 * variables).  application_name is shown in pg_stat_activity.  On success
 * *out is a new connection (PQfinish frees it). */
DS_MUSTCHECK int ds_db_connect(const char *url, const char *application_name, PGconn **out,
                               char err[DS_ERRLEN]);
/* Retries ds_db_connect with backoff from 100 ms doubling up to
 * max_backoff_ms until it succeeds (DS_OK), a stop is requested
 * (DS_ESTOPPED), or timeout_ms passes (DS_ETIMEOUT; <0 waits for ever).
 * Logs db_unavailable once, and db_connected when it comes back. */
DS_MUSTCHECK int ds_db_connect_retry(const char *url, const char *application_name,
                                     long max_backoff_ms, long timeout_ms, PGconn **out);
/* Whether the connection is unusable and should be replaced. */
bool ds_db_broken(PGconn *conn);

/* Applies every dir/NNN_*.sql not yet recorded in schema_migrations, in
 * numeric order, each in its own transaction, under an advisory lock so
 * concurrent migrators do not race.  *applied gets how many ran. */
DS_MUSTCHECK int ds_db_migrate(PGconn *conn, const char *dir, int *applied, char err[DS_ERRLEN]);

/* Copies the libpq error (first line) of res or conn into err. */
void ds_db_errmsg(PGconn *conn, PGresult *res, char err[DS_ERRLEN]);

/* Converts between Unix microseconds and PostgreSQL's binary timestamptz
 * (microseconds since 2000-01-01). */
#define DS_PG_EPOCH_OFFSET_US INT64_C(946684800000000)
static inline int64_t ds_pg_ts_from_unix(int64_t us)
{
  return us - DS_PG_EPOCH_OFFSET_US;
}
static inline int64_t ds_pg_ts_to_unix(int64_t pg)
{
  return pg + DS_PG_EPOCH_OFFSET_US;
}

#endif
