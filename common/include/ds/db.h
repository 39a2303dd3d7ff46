/* PostgreSQL helpers over libpq: connecting (DATABASE_URL, or the standard
 * PG* variables that libpq reads itself), retrying with capped backoff,
 * executing statements and checking their status, array parameters, and
 * applying the migrations in deploy/sql exactly once each, in order. */
#ifndef DS_DB_H
#define DS_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "ds/buf.h"
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
 * concurrent migrators do not race.  *applied gets how many ran.  Refuses
 * (DS_EINVAL, nothing applied, the reason in err) two files with one number,
 * and a file not yet applied whose number is below the highest applied one
 * (deploy/sql/README).  DS_EIO for an unreadable directory or file, DS_EDB
 * when a statement fails (that migration is rolled back; the ones before it
 * stay applied).  Implemented in db_migrate.c. */
DS_MUSTCHECK int ds_db_migrate(PGconn *conn, const char *dir, int *applied, char err[DS_ERRLEN]);

/* Copies the libpq error (first line) of res or conn into err. */
void ds_db_errmsg(PGconn *conn, PGresult *res, char err[DS_ERRLEN]);

/* Execute and check status, for every statement that is not COPY.
 *
 * ds_db_result checks r, the result of any PQexec* call (taken over; NULL
 * means libpq ran out of memory or lost the connection): DS_OK when its
 * status is PGRES_COMMAND_OK or PGRES_TUPLES_OK, r then handed to *out
 * (caller PQclear) or cleared when out is NULL; otherwise DS_EDB with the
 * first line of the server's error in err (err may be NULL) and r cleared,
 * *out untouched.
 *
 * ds_db_exec runs sql (borrowed) with n text parameters (params borrowed;
 * an entry NULL is SQL NULL) and checks it as above.  With n == 0 and
 * params NULL it uses the simple protocol (PQexec), which also runs a
 * script of several statements (migrations); otherwise PQexecParams: values
 * always travel as parameters, never inside sql. */
DS_MUSTCHECK int ds_db_result(PGconn *conn, PGresult *r, PGresult **out, char err[DS_ERRLEN]);
DS_MUSTCHECK int ds_db_exec(PGconn *conn, const char *sql, int n, const char *const *params,
                            PGresult **out, char err[DS_ERRLEN]);

/* Rolls back conn's open transaction, if any.  Errors are ignored: the
 * caller is already on a failure path, and a broken connection has no
 * transaction left. */
void ds_db_rollback(PGconn *conn);

/* Appends v[0..n) (borrowed) to b as the text of a PostgreSQL integer array
 * ("{1,2,3}", "{}" when n is 0), to be passed as one parameter cast to
 * int[] or bigint[] (WHERE id = ANY ($1::int[])).  DS_OK or ds_buf's error
 * (b then holds a partial literal). */
DS_MUSTCHECK int ds_db_int32_array(struct ds_buf *b, const int32_t *v, size_t n);
DS_MUSTCHECK int ds_db_int64_array(struct ds_buf *b, const int64_t *v, size_t n);

/* Converts between Unix microseconds and PostgreSQL's binary timestamptz
 * (microseconds since 2000-01-01).  Saturating: a value the other scale
 * cannot hold (PostgreSQL's 'infinity' is INT64_MAX, its years reach
 * 294276; a database may hold anything) becomes INT64_MIN or INT64_MAX
 * instead of overflowing (found by tests/fuzz/fuzz_chunk.c). */
#define DS_PG_EPOCH_OFFSET_US INT64_C(946684800000000)
static inline int64_t ds_pg_ts_from_unix(int64_t us)
{
  return us < INT64_MIN + DS_PG_EPOCH_OFFSET_US ? INT64_MIN : us - DS_PG_EPOCH_OFFSET_US;
}
static inline int64_t ds_pg_ts_to_unix(int64_t pg)
{
  return pg > INT64_MAX - DS_PG_EPOCH_OFFSET_US ? INT64_MAX : pg + DS_PG_EPOCH_OFFSET_US;
}

#endif
