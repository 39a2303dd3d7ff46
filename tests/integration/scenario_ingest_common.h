/* Shared by the ingest scenarios: expected samples per device, their JSON
 * (object and array forms, ts as RFC 3339, offset RFC 3339 with
 * microseconds, integer milliseconds, or absent), a publisher thread, and
 * the exact comparison against the device_samples view.  Functions are
 * static inline so a scenario may use any subset. */
#ifndef SCENARIO_INGEST_COMMON_H
#define SCENARIO_INGEST_COMMON_H

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "it_lib.h"

/* 2026-01-01T00:00:00Z in microseconds. */
#define ING_BASE_US INT64_C(1767225600000000)
#define ING_JSON_MAX (256 * 1024)

enum ing_ts_style { ING_TS_NONE, ING_TS_RFC_MS, ING_TS_INT_MS, ING_TS_RFC_OFFSET_US };

struct ing_sample {
  enum ing_ts_style style;
  int64_t ts_us; /* meaningful unless style is ING_TS_NONE */
  double x, y, z;
};

struct ing_dev {
  char name[96];
  struct ing_sample *v;
  size_t n, cap;
};

/* Timeout for "everything stored" waits: DS_TEST_INGEST_TIMEOUT_MS. */
static inline long ing_timeout_ms(void)
{
  return (long)it_env_int("DS_TEST_INGEST_TIMEOUT_MS", 180000, 1000, 3600000);
}

static inline void ing_dev_init(struct ing_dev *d, const char *scenario, int i)
{
  memset(d, 0, sizeof *d);
  int n = snprintf(d->name, sizeof d->name, "it-%s-%s-%d", scenario, it_run_tag(), i);
  if (n < 0 || (size_t)n >= sizeof d->name || n > 64)
    it_fatal("device name too long");
}

static inline void ing_dev_cleanup(struct ing_dev *d)
{
  free(d->v);
  d->v = NULL;
  d->n = d->cap = 0;
}

static inline struct ing_sample *ing_dev_add(struct ing_dev *d, struct ing_sample s)
{
  if (d->n == d->cap) {
    size_t cap = d->cap != 0 ? d->cap * 2 : 64;
    struct ing_sample *v = realloc(d->v, cap * sizeof *v);
    if (v == NULL)
      it_fatal("out of memory");
    d->v = v;
    d->cap = cap;
  }
  d->v[d->n] = s;
  return &d->v[d->n++];
}

/* Deterministic values: awkward decimals, extremes and random bit patterns
 * (every finite double is fair game). */
static inline uint64_t ing_rand(uint64_t *st)
{
  uint64_t x = *st;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *st = x;
  return x;
}

static inline double ing_value(uint64_t *st)
{
  static const double special[] = {0.1,
                                   1e-300,
                                   -2.5e15,
                                   123456.789,
                                   0.0,
                                   -1.0,
                                   1.5,
                                   -2.0,
                                   0.25,
                                   5e-324,
                                   1.7976931348623157e308,
                                   -1.7976931348623157e308,
                                   2.2250738585072014e-308,
                                   9007199254740993.0,
                                   3.141592653589793,
                                   -0.3,
                                   1e22,
                                   123.0};
  uint64_t r = ing_rand(st);
  if (r % 3 != 0)
    return special[(r >> 8) % (sizeof special / sizeof special[0])];
  for (;;) {
    uint64_t bits = ing_rand(st);
    double d;
    memcpy(&d, &bits, sizeof d);
    if (isfinite(d))
      return d;
  }
}

/* Appends text to buf[*len..cap); fatal when it does not fit. */
static inline void ing_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline void ing_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= cap - *len)
    it_fatal("JSON buffer too small");
  *len += (size_t)n;
}

static inline void ing_fmt_rfc(char *out, size_t cap, int64_t ts_us, int offset_min, bool micros)
{
  int64_t local_us = ts_us + (int64_t)offset_min * 60 * 1000000;
  time_t secs = (time_t)(local_us / 1000000);
  int64_t frac = local_us % 1000000;
  struct tm tm;
  gmtime_r(&secs, &tm);
  char date[40];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char zone[16];
  if (offset_min == 0) {
    snprintf(zone, sizeof zone, "Z");
  } else {
    int a = offset_min < 0 ? -offset_min : offset_min;
    snprintf(zone, sizeof zone, "%c%02d:%02d", offset_min < 0 ? '-' : '+', a / 60, a % 60);
  }
  if (micros)
    snprintf(out, cap, "%s.%06" PRId64 "%s", date, frac, zone);
  else
    snprintf(out, cap, "%s.%03" PRId64 "%s", date, frac / 1000, zone);
}

/* Appends one sample object. extra adds ignored keys. */
static inline void ing_json_sample(char *buf, size_t cap, size_t *len, const struct ing_sample *s,
                                   bool extra)
{
  ing_append(buf, cap, len, "{\"x\": %.17g, \"y\": %.17g, \"z\": %.17g", s->x, s->y, s->z);
  char ts[64];
  switch (s->style) {
  case ING_TS_NONE:
    break;
  case ING_TS_RFC_MS:
    ing_fmt_rfc(ts, sizeof ts, s->ts_us, 0, false);
    ing_append(buf, cap, len, ", \"ts\": \"%s\"", ts);
    break;
  case ING_TS_INT_MS:
    ing_append(buf, cap, len, ", \"ts\": %" PRId64, s->ts_us / 1000);
    break;
  case ING_TS_RFC_OFFSET_US:
    ing_fmt_rfc(ts, sizeof ts, s->ts_us, 120, true);
    ing_append(buf, cap, len, ", \"ts\": \"%s\"", ts);
    break;
  }
  if (extra)
    ing_append(buf, cap, len, ", \"note\": \"ignored\", \"meta\": {\"a\": [1, 2.5, null]}");
  ing_append(buf, cap, len, "}");
}

/* A new sample for d with style and a unique explicit time (seq-th of the
 * device), appended to d's expectations. */
static inline struct ing_sample *ing_new_sample(struct ing_dev *d, int dev_index, uint64_t *rng,
                                                enum ing_ts_style style)
{
  struct ing_sample s = {.style = style};
  s.ts_us = ING_BASE_US + (int64_t)dev_index * INT64_C(86400000000) + (int64_t)d->n * 1000000;
  if (style == ING_TS_RFC_OFFSET_US)
    s.ts_us += 123457; /* microsecond precision */
  if (style == ING_TS_RFC_MS || style == ING_TS_INT_MS)
    s.ts_us += 250000; /* whole ms */
  s.x = ing_value(rng);
  s.y = ing_value(rng);
  s.z = ing_value(rng);
  return ing_dev_add(d, s);
}

/* Adds n samples with explicit times (the three ts forms in turn). */
static inline void ing_fill_timed(struct ing_dev *d, int dev_index, uint64_t *rng, size_t n)
{
  static const enum ing_ts_style styles[] = {ING_TS_RFC_MS, ING_TS_INT_MS, ING_TS_RFC_OFFSET_US};
  for (size_t k = 0; k < n; k++)
    ing_new_sample(d, dev_index, rng, styles[k % 3]);
}

/* JSON of samples d->v[from..from+count): an object when count == 1 and
 * !as_array, else an array. */
static inline size_t ing_json_range(char *buf, size_t cap, const struct ing_dev *d, size_t from,
                                    size_t count, bool as_array)
{
  size_t len = 0;
  buf[0] = '\0';
  if (count == 1 && !as_array) {
    ing_json_sample(buf, cap, &len, &d->v[from], from % 5 == 0);
    return len;
  }
  ing_append(buf, cap, &len, "[");
  for (size_t i = 0; i < count; i++) {
    if (i > 0)
      ing_append(buf, cap, &len, ", ");
    ing_json_sample(buf, cap, &len, &d->v[from + i], (from + i) % 7 == 0);
  }
  ing_append(buf, cap, &len, "]");
  return len;
}

static inline void ing_topic(char *out, size_t cap, const char *device)
{
  int n = snprintf(out, cap, "devices/%s/data", device);
  if (n < 0 || (size_t)n >= cap)
    it_fatal("topic too long");
}

/* Total of expected samples. */
static inline long long ing_total(const struct ing_dev *devs, int ndev)
{
  long long t = 0;
  for (int i = 0; i < ndev; i++)
    t += (long long)devs[i].n;
  return t;
}

/* Samples stored for devices whose names start with prefix (-1 when the
 * database does not answer). */
static inline long long ing_stored(PGconn *c, const char *prefix)
{
  return it_db_scalar_ll_or(c, -1,
                            "SELECT count(*) FROM device_samples"
                            " WHERE left(device_id, length($1)) = $1",
                            1, prefix);
}

struct ing_wait_ctx {
  PGconn *c;
  const char *prefix;
  long long want;
  long long last;
};

static inline bool ing_reached(void *p)
{
  struct ing_wait_ctx *w = p;
  w->last = ing_stored(w->c, w->prefix);
  return w->last >= w->want;
}

/* Waits until at least want samples of devices with prefix are stored
 * (fatal on timeout), then expects exactly want (a failed check, not fatal,
 * so that later phases still run). */
static inline void ing_wait_stored(PGconn *c, const char *prefix, long long want)
{
  struct ing_wait_ctx w = {c, prefix, want, 0};
  bool ok = it_wait_until(ing_reached, &w, ing_timeout_ms());
  IT_ASSERT(ok, "samples of %s*: %lld stored, %lld expected (timed out)", prefix, w.last, want);
  IT_EXPECT(w.last == want, "samples of %s*: %lld stored, %lld expected (%lld duplicates)", prefix,
            w.last, want, w.last - want);
}

static inline bool ing_parse_double(const char *s, double *out)
{
  char *end = NULL;
  *out = strtod(s, &end);
  return end != s && *end == '\0';
}

/* Compares what device_samples holds for d with d's expectations: the same
 * number of rows, each expected sample matched by exactly one row with the
 * same x, y, z (exact double equality) and, when it had a ts, the same time
 * to the microsecond; samples without ts must carry a time within
 * [lo_us, hi_us] (the receive time).  Failures are IT_EXPECT. */
static inline void ing_verify_device(PGconn *c, const struct ing_dev *d, int64_t lo_us,
                                     int64_t hi_us)
{
  PGresult *r = it_db_exec(c,
                           "SELECT (extract(epoch FROM ts) * 1000000)::bigint, x::text, y::text,"
                           " z::text FROM device_samples WHERE device_id = $1 ORDER BY ts",
                           1, d->name);
  size_t rows = (size_t)PQntuples(r);
  IT_EXPECT(rows == d->n, "%s: %zu rows stored, %zu expected", d->name, rows, d->n);
  struct row {
    int64_t ts;
    double x, y, z;
    bool used;
  } *v = calloc(rows + 1, sizeof *v);
  if (v == NULL)
    it_fatal("out of memory");
  for (size_t i = 0; i < rows; i++) {
    char *end = NULL;
    v[i].ts = strtoll(PQgetvalue(r, (int)i, 0), &end, 10);
    if (!ing_parse_double(PQgetvalue(r, (int)i, 1), &v[i].x) ||
        !ing_parse_double(PQgetvalue(r, (int)i, 2), &v[i].y) ||
        !ing_parse_double(PQgetvalue(r, (int)i, 3), &v[i].z))
      it_fatal("unparsable row from device_samples");
  }
  PQclear(r);
  size_t missing = 0;
  for (size_t k = 0; k < d->n; k++) {
    const struct ing_sample *s = &d->v[k];
    bool found = false;
    /* Rows come sorted by time: a sample with a time starts at the first
     * row of that time (binary search); one without scans them all. */
    size_t i = 0;
    if (s->style != ING_TS_NONE) {
      size_t a = 0, b = rows;
      while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (v[mid].ts < s->ts_us)
          a = mid + 1;
        else
          b = mid;
      }
      i = a;
    }
    for (; i < rows && !found; i++) {
      if (s->style != ING_TS_NONE && v[i].ts != s->ts_us)
        break;
      if (v[i].used || v[i].x != s->x || v[i].y != s->y || v[i].z != s->z)
        continue;
      if (s->style == ING_TS_NONE && (v[i].ts < lo_us || v[i].ts > hi_us))
        continue;
      v[i].used = found = true;
    }
    if (!found) {
      if (missing++ < 5)
        IT_EXPECT(found,
                  "%s: sample %zu (ts %" PRId64 " style %d, x %.17g y %.17g z %.17g) not "
                  "stored exactly",
                  d->name, k, s->ts_us, (int)s->style, s->x, s->y, s->z);
    }
  }
  IT_EXPECT(missing == 0, "%s: %zu of %zu samples not found exactly", d->name, missing, d->n);
  free(v);
}

/* ------------------------------------------------------------ publisher */

/* Publishes every device's samples in messages of per_msg samples (arrays;
 * an object when per_msg is 1), round-robin over the devices, at qos. */
struct ing_pub {
  const char *client_id;
  struct ing_dev *devs;
  int ndev;
  size_t per_msg;
  int qos;
  atomic_long published; /* messages acknowledged so far */
  atomic_bool failed;
  pthread_t thread;
};

static inline void *ing_pub_main(void *p)
{
  struct ing_pub *job = p;
  struct it_mqtt *m = it_mqtt_open(job->client_id);
  char *buf = malloc(ING_JSON_MAX);
  if (buf == NULL)
    it_fatal("out of memory");
  size_t *next = calloc((size_t)job->ndev, sizeof *next);
  if (next == NULL)
    it_fatal("out of memory");
  char topic[128];
  for (bool more = true; more;) {
    more = false;
    for (int i = 0; i < job->ndev; i++) {
      struct ing_dev *d = &job->devs[i];
      if (next[i] >= d->n)
        continue;
      size_t count = d->n - next[i] < job->per_msg ? d->n - next[i] : job->per_msg;
      size_t len = ing_json_range(buf, ING_JSON_MAX, d, next[i], count, job->per_msg > 1);
      ing_topic(topic, sizeof topic, d->name);
      /* The broker is always up in these scenarios: a failed publish is a
       * test failure, retried once in case of a transient hiccup. */
      if (it_mqtt_publish(m, topic, buf, len, job->qos) != 0 &&
          it_mqtt_publish(m, topic, buf, len, job->qos) != 0) {
        atomic_store(&job->failed, true);
        goto out;
      }
      next[i] += count;
      atomic_fetch_add(&job->published, 1);
      if (next[i] < d->n)
        more = true;
    }
  }
  if (job->qos == 0) {
    /* QoS 0 has no acknowledgement: a QoS 1 message behind the others on
     * the same connection proves the broker has taken them all. */
    if (it_mqtt_publish(m, "it/barrier", "{}", 2, 1) != 0)
      atomic_store(&job->failed, true);
  }
out:
  free(next);
  free(buf);
  it_mqtt_close(m);
  return NULL;
}

static inline void ing_pub_start(struct ing_pub *job)
{
  atomic_init(&job->published, 0);
  atomic_init(&job->failed, false);
  if (pthread_create(&job->thread, NULL, ing_pub_main, job) != 0)
    it_fatal("pthread_create");
}

static inline void ing_pub_join(struct ing_pub *job)
{
  pthread_join(job->thread, NULL);
  IT_ASSERT(!atomic_load(&job->failed), "publisher %s failed", job->client_id);
}

/* Messages the job will send in all. */
static inline long ing_pub_total(const struct ing_pub *job)
{
  long t = 0;
  for (int i = 0; i < job->ndev; i++)
    t += (long)((job->devs[i].n + job->per_msg - 1) / job->per_msg);
  return t;
}

struct ing_progress_ctx {
  struct ing_pub *job;
  long want;
};

static inline bool ing_published_at_least(void *p)
{
  struct ing_progress_ctx *c = p;
  return atomic_load(&c->job->published) >= c->want || atomic_load(&c->job->failed);
}

/* Waits until the job has published want messages. */
static inline void ing_pub_wait(struct ing_pub *job, long want)
{
  struct ing_progress_ctx c = {job, want};
  IT_ASSERT(it_wait_until(ing_published_at_least, &c, ing_timeout_ms()),
            "publisher %s: %ld of %ld messages published in time", job->client_id,
            atomic_load(&job->published), want);
  IT_ASSERT(!atomic_load(&job->failed), "publisher %s failed", job->client_id);
}

#endif
