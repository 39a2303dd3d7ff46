/* devicestats-copyload: the COPY ceiling of the ingest bench, and the bulk
 * loader of the query and aggregator benches.  Writes the deterministic
 * sample stream of load_gen.h (the rows devicestats-loadgen publishes) into
 * a table shaped like samples_recent (device_id, ts, x, y, z) by binary COPY
 * and prints one line with the rate (samples/s, COPY start to commit).
 * Device names are looked up in (or, with --create-devices, added to) the
 * devices table first; that is not timed. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load_args.h"
#include "load_gen.h"

#define BUF_CAP (1u << 20)
/* Unix ms of the PostgreSQL epoch 2000-01-01T00:00:00Z. */
#define PG_EPOCH_UNIX_MS INT64_C(946684800000)

struct out {
  PGconn *db;
  unsigned char *buf;
  size_t len;
  int failed;
};

static double now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void flush_out(struct out *o)
{
  if (o->len == 0 || o->failed)
    return;
  if (PQputCopyData(o->db, (const char *)o->buf, (int)o->len) != 1) {
    fprintf(stderr, "copyload: PQputCopyData: %s", PQerrorMessage(o->db));
    o->failed = 1;
  }
  o->len = 0;
}

static void put16(struct out *o, uint16_t v)
{
  v = htons(v);
  memcpy(o->buf + o->len, &v, 2);
  o->len += 2;
}
static void put32(struct out *o, uint32_t v)
{
  v = htonl(v);
  memcpy(o->buf + o->len, &v, 4);
  o->len += 4;
}
static void put64(struct out *o, uint64_t v)
{
  put32(o, (uint32_t)(v >> 32));
  put32(o, (uint32_t)v);
}
static void put_double(struct out *o, double d)
{
  uint64_t v;
  memcpy(&v, &d, 8);
  put32(o, 8);
  put64(o, v);
}

static void put_row(struct out *o, int32_t dev, const struct load_sample *s)
{
  if (o->len + 64 > BUF_CAP)
    flush_out(o);
  put16(o, 5);
  put32(o, 4);
  put32(o, (uint32_t)dev);
  put32(o, 8);
  put64(o, (uint64_t)((s->ts_ms - PG_EPOCH_UNIX_MS) * 1000));
  put_double(o, s->x);
  put_double(o, s->y);
  put_double(o, s->z);
}

static int exec_ok(PGconn *db, const char *sql, ExecStatusType want)
{
  PGresult *r = PQexec(db, sql);
  int ok = PQresultStatus(r) == want;
  if (!ok)
    fprintf(stderr, "copyload: %s: %s", sql, PQerrorMessage(db));
  PQclear(r);
  return ok ? 0 : -1;
}

/* Finds (or creates) the key of each device name prefix%04ld. */
static int device_ids(PGconn *db, const char *prefix, long n, bool create, int32_t *ids)
{
  const char *sql =
      create ? "WITH ins AS (INSERT INTO devices (name) VALUES ($1) ON CONFLICT (name) DO NOTHING "
               "RETURNING id) SELECT id FROM ins UNION ALL SELECT id FROM devices WHERE name = $1"
             : "SELECT id FROM devices WHERE name = $1";
  char name[96];
  for (long d = 0; d < n; d++) {
    snprintf(name, sizeof name, "%s%04ld", prefix, d);
    const char *pv[1] = {name};
    PGresult *r = PQexecParams(db, sql, 1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
      fprintf(stderr, "copyload: device %s: %s", name,
              PQresultStatus(r) == PGRES_TUPLES_OK ? "not found (use --create-devices)\n"
                                                   : PQerrorMessage(db));
      PQclear(r);
      return -1;
    }
    char *end = NULL;
    long v = strtol(PQgetvalue(r, 0, 0), &end, 10);
    ids[d] = (int32_t)v;
    PQclear(r);
  }
  return 0;
}

static int start_copy(struct out *o, const char *table)
{
  char sql[256];
  char *qt = PQescapeIdentifier(o->db, table, strlen(table));
  if (!qt)
    return -1;
  snprintf(sql, sizeof sql, "COPY %s (device_id, ts, x, y, z) FROM STDIN (FORMAT binary)", qt);
  PQfreemem(qt);
  if (exec_ok(o->db, "BEGIN", PGRES_COMMAND_OK) != 0)
    return -1;
  if (exec_ok(o->db, sql, PGRES_COPY_IN) != 0)
    return -1;
  static const unsigned char hdr[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0377, '\r', '\n', 0};
  memcpy(o->buf, hdr, 11);
  o->len = 11;
  put32(o, 0); /* flags */
  put32(o, 0); /* header extension length */
  return 0;
}

static int end_copy(struct out *o)
{
  put16(o, 0xFFFF);
  flush_out(o);
  if (o->failed)
    return -1;
  if (PQputCopyEnd(o->db, NULL) != 1)
    return -1;
  PGresult *r;
  int ok = 1;
  while ((r = PQgetResult(o->db)) != NULL) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      fprintf(stderr, "copyload: COPY: %s", PQerrorMessage(o->db));
      ok = 0;
    }
    PQclear(r);
  }
  if (!ok)
    return -1;
  return exec_ok(o->db, "COMMIT", PGRES_COMMAND_OK);
}

int main(int argc, char **argv)
{
  static const struct option longopts[] = {{"table", required_argument, NULL, 't'},
                                           {"devices", required_argument, NULL, 'd'},
                                           {"samples", required_argument, NULL, 's'},
                                           {"first", required_argument, NULL, 'F'},
                                           {"prefix", required_argument, NULL, 'p'},
                                           {"ts-base", required_argument, NULL, 'B'},
                                           {"ts-step", required_argument, NULL, 'S'},
                                           {"order", required_argument, NULL, 'o'},
                                           {"rows-per-copy", required_argument, NULL, 'r'},
                                           {"create-devices", no_argument, NULL, 'C'},
                                           {NULL, 0, NULL, 0}};
  const char *table = "samples_recent", *prefix = "ld-", *order = "time";
  long long devices = 1000, samples = 1000000, first = 0, base = LOAD_TS_BASE_MS, step = 1000;
  long long per_copy = 0;
  bool create = false;
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    int bad = 0;
    switch (ch) {
    case 't':
      table = optarg;
      break;
    case 'p':
      prefix = optarg;
      break;
    case 'o':
      order = optarg;
      bad = strcmp(order, "time") && strcmp(order, "device");
      break;
    case 'C':
      create = true;
      break;
    case 'd':
      bad = parse_ll(optarg, 1, 10000000, &devices);
      break;
    case 's':
      bad = parse_ll(optarg, 1, 1LL << 40, &samples);
      break;
    case 'F':
      bad = parse_ll(optarg, 0, 1LL << 40, &first);
      break;
    case 'B':
      bad = parse_ll(optarg, 0, 1LL << 50, &base);
      break;
    case 'S':
      bad = parse_ll(optarg, 0, 1LL << 32, &step);
      break;
    case 'r':
      bad = parse_ll(optarg, 0, 1LL << 40, &per_copy);
      break;
    default:
      fprintf(stderr,
              "usage: devicestats-copyload [--table T] [--devices N] [--samples TOTAL] "
              "[--first N] [--prefix P] [--ts-base MS] [--ts-step MS] [--order time|device] "
              "[--rows-per-copy N] [--create-devices]\n"
              "Connects with $DATABASE_URL or the PG* variables.\n");
      return 2;
    }
    if (bad) {
      fprintf(stderr, "copyload: bad option value: %s\n", optarg);
      return 2;
    }
  }
  long long per_dev = samples / devices;
  if (per_dev < 1) {
    fprintf(stderr, "copyload: fewer samples than devices\n");
    return 2;
  }
  const char *url = getenv("DATABASE_URL");
  PGconn *db = PQconnectdb(url && *url ? url : "");
  if (PQstatus(db) != CONNECTION_OK) {
    fprintf(stderr, "copyload: connect: %s", PQerrorMessage(db));
    PQfinish(db);
    return 1;
  }
  int32_t *ids = calloc((size_t)devices, sizeof *ids);
  struct out o = {.db = db, .buf = malloc(BUF_CAP)};
  int rc = 1;
  if (!ids || !o.buf)
    goto out;
  if (device_ids(db, prefix, (long)devices, create, ids) != 0)
    goto out;

  double t0 = now_ms();
  long long rows = 0, in_copy = 0;
  bool by_time = strcmp(order, "time") == 0;
  long long outer = by_time ? per_dev : devices, inner = by_time ? devices : per_dev;
  if (start_copy(&o, table) != 0)
    goto out;
  for (long long a = 0; a < outer && !o.failed; a++) {
    for (long long b = 0; b < inner; b++) {
      long long d = by_time ? b : a, k = by_time ? a : b;
      struct load_sample s = load_sample_at((uint32_t)d, (uint64_t)(first + k), base, step);
      put_row(&o, ids[d], &s);
      rows++;
      if (per_copy > 0 && ++in_copy >= per_copy) {
        if (end_copy(&o) != 0 || start_copy(&o, table) != 0)
          goto out;
        in_copy = 0;
      }
    }
  }
  if (end_copy(&o) != 0)
    goto out;
  double el = now_ms() - t0;
  printf("copy rows=%lld elapsed_ms=%.1f rate=%.0f\n", rows, el,
         el > 0 ? (double)rows * 1000.0 / el : 0);
  rc = 0;
out:
  free(ids);
  free(o.buf);
  PQfinish(db);
  return rc;
}
