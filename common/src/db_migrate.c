/* ds_db_migrate: applies deploy/sql/NNN_*.sql once each, in number order,
 * and refuses a set of files that cannot be applied in order: two files with
 * one number, or a new file numbered below the highest applied one (see
 * deploy/sql/README). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/db.h"

/* Serialises concurrent migrators (several services or containers starting
 * at once): a session-level advisory lock. */
#define MIGRATE_LOCK_KEY "7345001"
/* Largest migration file read. */
#define MIGRATION_FILE_MAX (4u << 20)

struct migration {
  int version;
  char *name; /* file name, e.g. 003_aggregator.sql */
};

struct migration_list {
  struct migration *items;
  size_t n, cap;
};

static void list_cleanup(struct migration_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->items[i].name);
  DS_FREE(l->items);
  l->n = l->cap = 0;
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

static int list_add(struct migration_list *l, int version, const char *name)
{
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    struct migration *m = realloc(l->items, cap * sizeof *m);
    if (m == NULL)
      return DS_ENOMEM;
    l->items = m;
    l->cap = cap;
  }
  char *copy = strdup(name);
  if (copy == NULL)
    return DS_ENOMEM;
  l->items[l->n++] = (struct migration){version, copy};
  return DS_OK;
}

static int cmp_migrations(const void *a, const void *b)
{
  const struct migration *x = a, *y = b;
  if (x->version != y->version)
    return x->version < y->version ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* The migration files of dir, sorted by number; DS_EINVAL when two share a
 * number. */
static int list_migrations(const char *dir, struct migration_list *l, char err[DS_ERRLEN])
{
  DIR *d = opendir(dir);
  if (d == NULL) {
    snprintf(err, DS_ERRLEN, "migrations directory %.160s: %s", dir, strerror(errno));
    return DS_EIO;
  }
  int rc = DS_OK;
  struct dirent *e;
  while (rc == DS_OK && (e = readdir(d)) != NULL) {
    int v;
    if (migration_name(e->d_name, &v))
      rc = list_add(l, v, e->d_name);
  }
  closedir(d);
  if (rc != DS_OK)
    return rc;
  qsort(l->items, l->n, sizeof *l->items, cmp_migrations);
  for (size_t i = 1; i < l->n; i++)
    if (l->items[i].version == l->items[i - 1].version) {
      snprintf(err, DS_ERRLEN,
               "two migrations numbered %03d (%.80s and %.80s): each number is used once",
               l->items[i].version, l->items[i - 1].name, l->items[i].name);
      return DS_EINVAL;
    }
  return DS_OK;
}

/* Reads a whole file (at most MIGRATION_FILE_MAX bytes) into a new
 * NUL-terminated string. */
static int read_file(const char *path, char **out, char err[DS_ERRLEN])
{
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(err, DS_ERRLEN, "%.160s: %s", path, strerror(errno));
    return DS_EIO;
  }
  char *s = malloc(MIGRATION_FILE_MAX + 1);
  if (s == NULL) {
    fclose(f);
    return DS_ENOMEM;
  }
  size_t len = fread(s, 1, MIGRATION_FILE_MAX, f);
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

/* Marks in applied[i] which of l's migrations schema_migrations records,
 * and sets *highest to the highest recorded version (0 when none). */
static int read_applied(PGconn *c, const struct migration_list *l, bool *applied, int *highest,
                        char err[DS_ERRLEN])
{
  PGresult *r = NULL;
  if (ds_db_exec(c, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL, &r, err) !=
      DS_OK)
    return DS_EDB;
  *highest = 0;
  int rows = PQntuples(r);
  for (int i = 0; i < rows; i++) {
    int v = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
    if (v > *highest)
      *highest = v;
    for (size_t k = 0; k < l->n; k++)
      if (l->items[k].version == v)
        applied[k] = true;
  }
  PQclear(r);
  return DS_OK;
}

/* Refuses a pending migration numbered below the highest applied one: it
 * was added after a later one ran, so applying it now would run the
 * migrations in another order here than on a fresh database. */
static int check_order(const struct migration_list *l, const bool *applied, int highest,
                       char err[DS_ERRLEN])
{
  for (size_t i = 0; i < l->n; i++)
    if (!applied[i] && l->items[i].version < highest) {
      snprintf(err, DS_ERRLEN,
               "%.80s is not applied but numbered below %03d, the highest applied migration: "
               "renumber it above %03d",
               l->items[i].name, highest, highest);
      return DS_EINVAL;
    }
  return DS_OK;
}

/* Runs one migration file and records it, in one transaction. */
static int apply_one(PGconn *c, const char *dir, const struct migration *m, char err[DS_ERRLEN])
{
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, m->name) >= sizeof path) {
    snprintf(err, DS_ERRLEN, "migration path too long");
    return DS_EINVAL;
  }
  char *sql = NULL;
  int rc = read_file(path, &sql, err);
  if (rc != DS_OK)
    return rc;
  char version[16], inner[DS_ERRLEN] = "";
  snprintf(version, sizeof version, "%d", m->version);
  const char *p[2] = {version, m->name};
  rc = ds_db_exec(c, "BEGIN", 0, NULL, NULL, err);
  if (rc == DS_OK) {
    rc = ds_db_exec(c, sql, 0, NULL, NULL, inner);
    if (rc == DS_OK)
      rc = ds_db_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, p,
                      NULL, inner);
    if (rc == DS_OK)
      rc = ds_db_exec(c, "COMMIT", 0, NULL, NULL, inner);
    if (rc != DS_OK) {
      ds_db_rollback(c);
      snprintf(err, DS_ERRLEN, "%.64s: %.180s", m->name, inner);
    }
  }
  free(sql);
  return rc;
}

int ds_db_migrate(PGconn *c, const char *dir, int *applied, char err[DS_ERRLEN])
{
  struct migration_list l = {0};
  bool *done = NULL, locked = false;
  int rc = list_migrations(dir, &l, err);
  if (rc != DS_OK)
    goto out;
  done = calloc(l.n ? l.n : 1, sizeof *done);
  if (done == NULL) {
    rc = DS_ENOMEM;
    goto out;
  }
  rc = ds_db_exec(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, NULL, err);
  if (rc != DS_OK)
    goto out;
  locked = true;
  rc = ds_db_exec(c,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version integer PRIMARY KEY, name text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())",
                  0, NULL, NULL, err);
  int highest = 0;
  if (rc == DS_OK)
    rc = read_applied(c, &l, done, &highest, err);
  if (rc == DS_OK)
    rc = check_order(&l, done, highest, err);
  int count = 0;
  for (size_t i = 0; rc == DS_OK && i < l.n; i++) {
    if (done[i])
      continue;
    rc = apply_one(c, dir, &l.items[i], err);
    if (rc == DS_OK)
      count++;
  }
  if (rc == DS_OK)
    *applied = count;
out:
  if (locked) {
    /* The lock also ends with the session; a failure here changes nothing. */
    int ignored =
        ds_db_exec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL, NULL, NULL);
    (void)ignored;
  }
  free(done);
  list_cleanup(&l);
  return rc;
}
