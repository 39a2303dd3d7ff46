/* Least privilege in the database (README § Security, deploy/sql/grants.sql):
 * the harness runs every service as its own role (devicestats_ingest,
 * _query, _aggregator), so the whole suite proves the grants suffice; this
 * scenario proves they do not go further: each role gets a permission error
 * (SQLSTATE 42501) on statements outside its grant, and still may do what
 * its service does (inside a rolled-back transaction).  It also proves that
 * the services' connection code honours libpq's sslmode, from the URL and
 * from PGSSLMODE (the test cluster has no TLS, so sslmode=require fails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/db.h"
#include "it_lib.h"

/* Runs sql in a transaction that is rolled back; returns the SQLSTATE of
 * its error, or "" when it succeeded. */
static const char *try_sql(PGconn *c, const char *sql, char state[6])
{
  PQclear(PQexec(c, "BEGIN"));
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  snprintf(state, 6, "%s", st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? "" : s ? s : "?");
  PQclear(r);
  PQclear(PQexec(c, "ROLLBACK"));
  return state;
}

static void denied(PGconn *c, const char *role, const char *sql)
{
  char state[6];
  try_sql(c, sql, state);
  IT_EXPECT(strcmp(state, "42501") == 0, "%s: %s: want permission denied (42501), got '%s'", role,
            sql, state);
}

static void allowed(PGconn *c, const char *role, const char *sql)
{
  char state[6];
  try_sql(c, sql, state);
  IT_EXPECT(state[0] == '\0', "%s: %s: want success, got SQLSTATE %s (%s)", role, sql, state,
            PQerrorMessage(c));
}

static PGconn *connect_as(const char *var)
{
  PGconn *c = PQconnectdb(it_env_str(var));
  IT_ASSERT(PQstatus(c) == CONNECTION_OK, "%s: %s", var, PQerrorMessage(c));
  return c;
}

int main(void)
{
  /* Something to act on: a device with a sample and a user. */
  PGconn *owner = it_db_connect();
  PQclear(it_db_exec(owner,
                     "INSERT INTO devices (name) VALUES ('roles-dev') ON CONFLICT DO NOTHING", 0));
  PQclear(it_db_exec(owner,
                     "INSERT INTO samples_recent SELECT id, now(), 1, 2, 3 FROM devices"
                     " WHERE name = 'roles-dev'",
                     0));

  PGconn *in = connect_as("DS_TEST_DATABASE_URL_INGEST");
  allowed(in, "ingest", "INSERT INTO devices (name) VALUES ('roles-new') RETURNING id");
  allowed(in, "ingest",
          "INSERT INTO samples_recent SELECT id, now(), 1, 1, 1 FROM devices LIMIT 1");
  allowed(in, "ingest",
          "INSERT INTO rejected (topic, payload, payload_size, reason) VALUES ('t', '', 0, 'r')");
  allowed(in, "ingest",
          "INSERT INTO ingest_progress (instance, spool_id, seq) VALUES ('roles', 's', 1)"
          " ON CONFLICT (instance) DO UPDATE SET seq = EXCLUDED.seq");
  denied(in, "ingest", "DELETE FROM samples_recent");
  denied(in, "ingest", "SELECT * FROM samples_recent");
  denied(in, "ingest", "UPDATE devices SET user_id = NULL");
  denied(in, "ingest", "SELECT * FROM users");
  denied(in, "ingest", "DELETE FROM rejected");
  denied(in, "ingest",
         "INSERT INTO recalc_runs (request_id, command, state) VALUES ('r', '', 'queued')");
  denied(in, "ingest", "DROP TABLE samples_recent");
  denied(in, "ingest", "CREATE TABLE roles_t (i int)");
  PQfinish(in);

  PGconn *q = connect_as("DS_TEST_DATABASE_URL_QUERY");
  allowed(q, "query", "SELECT count(*) FROM device_samples");
  allowed(q, "query",
          "SELECT * FROM sample_chunks, rejected, ingest_progress, recalc_work LIMIT 1");
  allowed(q, "query", "INSERT INTO users (name) VALUES ('roles-user') RETURNING id");
  allowed(q, "query", "UPDATE devices SET user_id = NULL WHERE name = 'roles-dev'");
  allowed(
      q, "query",
      "INSERT INTO recalc_runs (request_id, command, state) VALUES ('roles-r', '{}', 'queued')");
  denied(q, "query", "DROP TABLE rejected");
  denied(q, "query", "DELETE FROM samples_recent");
  denied(q, "query", "INSERT INTO samples_recent SELECT id, now(), 1, 1, 1 FROM devices LIMIT 1");
  denied(q, "query", "UPDATE devices SET name = 'renamed'");
  denied(q, "query", "DELETE FROM users");
  denied(q, "query", "UPDATE recalc_runs SET state = 'done'");
  denied(q, "query", "DELETE FROM device_snapshots");
  denied(q, "query", "CREATE TABLE roles_t (i int)");
  PQfinish(q);

  PGconn *a = connect_as("DS_TEST_DATABASE_URL_AGGREGATOR");
  allowed(a, "aggregator", "SELECT ds_compact(id, 1000) FROM devices WHERE name = 'roles-dev'");
  allowed(a, "aggregator",
          "SELECT ds_merge_chunks(id, 1000) FROM devices WHERE name = 'roles-dev'");
  allowed(a, "aggregator", "UPDATE recalc_runs SET state = state");
  denied(a, "aggregator", "INSERT INTO devices (name) VALUES ('roles-agg')");
  denied(a, "aggregator",
         "INSERT INTO samples_recent SELECT id, now(), 1, 1, 1 FROM devices LIMIT 1");
  denied(a, "aggregator", "UPDATE users SET name = 'x'");
  denied(a, "aggregator", "DELETE FROM devices");
  denied(a, "aggregator", "SELECT * FROM rejected");
  denied(a, "aggregator", "TRUNCATE sample_chunks");
  denied(a, "aggregator", "DROP TABLE sample_chunks");
  PQfinish(a);

  /* sslmode reaches libpq through ds_db_connect: the URL's, and PGSSLMODE. */
  const char *url = it_env_str("DS_TEST_DATABASE_URL_QUERY");
  char buf[4096], err[DS_ERRLEN] = "";
  PGconn *c = NULL;
  snprintf(buf, sizeof buf, "%s?sslmode=require", url);
  IT_EXPECT(ds_db_connect(buf, "it-roles", &c, err) != DS_OK, "sslmode=require in the URL ignored");
  IT_EXPECT(strstr(err, "SSL") != NULL, "sslmode=require: %s", err);
  PQfinish(c);
  c = NULL;
  setenv("PGSSLMODE", "require", 1);
  err[0] = '\0';
  IT_EXPECT(ds_db_connect(url, "it-roles", &c, err) != DS_OK, "PGSSLMODE=require ignored");
  IT_EXPECT(strstr(err, "SSL") != NULL, "PGSSLMODE=require: %s", err);
  PQfinish(c);
  c = NULL;
  setenv("PGSSLMODE", "prefer", 1);
  IT_EXPECT(ds_db_connect(url, "it-roles", &c, err) == DS_OK, "sslmode=prefer: %s", err);
  PQfinish(c);
  unsetenv("PGSSLMODE");

  PQclear(it_db_exec(owner,
                     "DELETE FROM samples_recent WHERE device_id IN"
                     " (SELECT id FROM devices WHERE name = 'roles-dev')",
                     0));
  PQfinish(owner);
  return it_finish();
}
