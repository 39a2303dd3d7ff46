/* The migrator (ds_db_migrate, common/src/db_migrate.c) on a real server:
 * it applies numbered files once each, in order; it refuses, before
 * applying anything, a file added below the highest applied number (a
 * later-added 002 after 003) and two files with one number; a failing
 * file is rolled back and not recorded.  Runs in its own schema of the
 * test database, so the stack's real schema is untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds/db.h"
#include "it_lib.h"

static char dir[64];

static void put_file(const char *name, const char *sql)
{
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  IT_ASSERT(f != NULL, "cannot write %s", path);
  fputs(sql, f);
  fclose(f);
}

static void drop_file(const char *name)
{
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  IT_ASSERT(unlink(path) == 0, "cannot remove %s", path);
}

static long long recorded(PGconn *c)
{
  return it_db_scalar_ll(c, "SELECT count(*) FROM mig_test.schema_migrations", 0);
}

static long long tables_named(PGconn *c, const char *name)
{
  return it_db_scalar_ll(c,
                         "SELECT count(*) FROM pg_tables WHERE schemaname = 'mig_test'"
                         " AND tablename = $1",
                         1, name);
}

int main(void)
{
  snprintf(dir, sizeof dir, "/tmp/ds-migrate-XXXXXX");
  IT_ASSERT(mkdtemp(dir) != NULL, "mkdtemp");
  PGconn *c = it_db_connect();
  PQclear(it_db_exec(c, "DROP SCHEMA IF EXISTS mig_test CASCADE", 0));
  PQclear(it_db_exec(c, "CREATE SCHEMA mig_test", 0));
  /* schema_migrations and the test tables go into mig_test. */
  PQclear(it_db_exec(c, "SET search_path TO mig_test", 0));

  char err[DS_ERRLEN] = "";
  int applied = -1;
  put_file("001_one.sql", "CREATE TABLE t1 (a int);\nCREATE TABLE t1b (a int);\n");
  put_file("003_three.sql", "CREATE TABLE t3 (a int);\n");
  put_file("README", "not a migration\n");
  IT_ASSERT(ds_db_migrate(c, dir, &applied, err) == DS_OK, "first run: %s", err);
  IT_EXPECT(applied == 2, "first run applied %d, want 2", applied);
  IT_EXPECT(ds_db_migrate(c, dir, &applied, err) == DS_OK && applied == 0,
            "second run applied %d, want 0 (%s)", applied, err);

  /* A 002 added after 003 ran: refused, nothing applied. */
  put_file("002_late.sql", "CREATE TABLE t2 (a int);\n");
  put_file("004_four.sql", "CREATE TABLE t4 (a int);\n");
  int rc = ds_db_migrate(c, dir, &applied, err);
  it_note("out of order: %s", err);
  IT_EXPECT(rc == DS_EINVAL, "out-of-order file: rc %d, want DS_EINVAL", rc);
  IT_EXPECT(strstr(err, "002_late.sql") != NULL && strstr(err, "003") != NULL,
            "the reason names the file and the highest applied number: %s", err);
  IT_EXPECT(tables_named(c, "t2") == 0 && tables_named(c, "t4") == 0, "nothing was applied");
  IT_EXPECT(recorded(c) == 2, "still two recorded");
  drop_file("002_late.sql");

  /* Two files numbered 004: refused, nothing applied. */
  put_file("004_again.sql", "CREATE TABLE t4b (a int);\n");
  rc = ds_db_migrate(c, dir, &applied, err);
  it_note("duplicate: %s", err);
  IT_EXPECT(rc == DS_EINVAL, "duplicate number: rc %d, want DS_EINVAL", rc);
  IT_EXPECT(strstr(err, "004_again.sql") != NULL && strstr(err, "004_four.sql") != NULL,
            "the reason names both files: %s", err);
  IT_EXPECT(tables_named(c, "t4") == 0 && tables_named(c, "t4b") == 0, "nothing was applied");
  drop_file("004_again.sql");

  IT_EXPECT(ds_db_migrate(c, dir, &applied, err) == DS_OK && applied == 1,
            "with the conflicts gone, 004 applies (%d, %s)", applied, err);
  IT_EXPECT(tables_named(c, "t4") == 1, "004 ran");

  /* A failing file is rolled back whole and not recorded. */
  put_file("005_bad.sql", "CREATE TABLE t5 (a int);\nSELEC 1;\n");
  rc = ds_db_migrate(c, dir, &applied, err);
  it_note("failing file: %s", err);
  IT_EXPECT(rc == DS_EDB && strstr(err, "005_bad.sql") != NULL, "failing file: rc %d, %s", rc, err);
  IT_EXPECT(tables_named(c, "t5") == 0 && recorded(c) == 3, "005 rolled back, not recorded");
  drop_file("005_bad.sql");

  drop_file("001_one.sql");
  drop_file("003_three.sql");
  drop_file("004_four.sql");
  drop_file("README");
  rmdir(dir);
  PQclear(it_db_exec(c, "DROP SCHEMA mig_test CASCADE", 0));
  PQfinish(c);
  return it_finish();
}
