/* Ingest, malformed messages: every one (bad topic, bad JSON, missing or
 * non-finite field, bad ts, too many samples, too large, empty, not an
 * object) is stored in `rejected` with its topic, payload, size and a
 * reason starting with the right code, and nothing of it reaches the
 * samples or creates a device; a message on a topic ingest does not
 * subscribe to is neither stored nor rejected; a valid message published
 * after them all is stored. */
#include "scenario_ingest_common.h"

struct rej_case {
  char topic[160];
  char *payload;
  size_t len;
  const char *code;
};

#define NCASES_MAX 32

static struct rej_case cases[NCASES_MAX];
static int ncases;
static char prefix[64];

static struct rej_case *add_case(const char *dev_suffix, const char *code, const void *payload,
                                 size_t len)
{
  IT_ASSERT(ncases < NCASES_MAX, "too many cases");
  struct rej_case *c = &cases[ncases++];
  if (dev_suffix != NULL) {
    int n = snprintf(c->topic, sizeof c->topic, "devices/%s%s/data", prefix, dev_suffix);
    IT_ASSERT(n > 0 && (size_t)n < sizeof c->topic, "topic too long");
  }
  c->payload = malloc(len + 1);
  if (c->payload == NULL)
    it_fatal("out of memory");
  if (len > 0)
    memcpy(c->payload, payload, len);
  c->payload[len] = '\0';
  c->len = len;
  c->code = code;
  return c;
}

static void add_str(const char *dev_suffix, const char *code, const char *payload)
{
  add_case(dev_suffix, code, payload, strlen(payload));
}

static void to_hex(const char *p, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[(unsigned char)p[i] >> 4];
    out[2 * i + 1] = digits[(unsigned char)p[i] & 15];
  }
  out[2 * len] = '\0';
}

struct all_ctx {
  PGconn *db;
  long long want, got;
};

static bool all_rejected(void *p)
{
  struct all_ctx *c = p;
  c->got = it_db_scalar_ll_or(
      c->db, -1, "SELECT count(*) FROM rejected WHERE strpos(topic, $1) > 0", 1, prefix);
  return c->got >= c->want;
}

int main(void)
{
  snprintf(prefix, sizeof prefix, "it-rej-%s-", it_run_tag());
  PGconn *db = it_db_connect();
  struct it_mqtt *m = it_mqtt_open("it-ingest-rejects");
  const char *good = "{\"x\": 1, \"y\": 2, \"z\": 3}";

  /* Topics. */
  {
    struct rej_case *c = add_case(NULL, "bad_topic", good, strlen(good));
    char id[80];
    int n = snprintf(id, sizeof id, "%s", prefix);
    while (n < 65)
      id[n++] = 'a';
    id[n] = '\0';
    snprintf(c->topic, sizeof c->topic, "devices/%s/data", id); /* 65 characters */
    c = add_case(NULL, "bad_topic", good, strlen(good));
    snprintf(c->topic, sizeof c->topic, "devices/bad id!%s/data", prefix);
    c = add_case(NULL, "bad_topic", good, strlen(good));
    snprintf(c->topic, sizeof c->topic, "devices/%s:colon/data", prefix);
  }
  /* Payloads. */
  add_str("badjson1", "bad_json", "{\"x\": 1, \"y\": 2,");
  add_str("badjson2", "bad_json", "{\"x\": 1, \"y\": 2, \"z\": 3} trailing");
  add_str("badjson3", "bad_json", "{\"x\": 1, \"y\": 2, \"z\": 3, \"n\": \"\xff\xfe\"}");
  add_str("badjson4", "bad_json", "not json at all");
  add_str("missing1", "missing_field", "{\"x\": 1, \"y\": 2}");
  add_str("missing2", "missing_field", "[{\"x\": 1, \"y\": 2, \"z\": 3}, {\"x\": 1, \"z\": 2}]");
  add_str("nonfinite", "bad_number", "{\"x\": 1e400, \"y\": 0, \"z\": 0}");
  add_str("nonfinite2", "bad_number", "{\"x\": 0, \"y\": -1e999, \"z\": 0}");
  add_str("string", "bad_number", "{\"x\": \"1\", \"y\": 0, \"z\": 0}");
  add_str("nullnum", "bad_number", "{\"x\": null, \"y\": 0, \"z\": 0}");
  add_str("badts", "bad_ts", "{\"x\": 1, \"y\": 2, \"z\": 3, \"ts\": \"yesterday\"}");
  add_str("empty", "empty", "");
  add_str("emptyarr", "empty", "[]");
  add_str("notobj1", "not_object", "[1, 2]");
  add_str("notobj2", "not_object", "42");
  {
    /* 1001 samples: too many, even though each is valid. */
    size_t cap = 1001 * 40 + 16, len = 0;
    char *p = malloc(cap);
    if (p == NULL)
      it_fatal("out of memory");
    ing_append(p, cap, &len, "[");
    for (int i = 0; i < 1001; i++)
      ing_append(p, cap, &len, "%s{\"x\": %d, \"y\": 1, \"z\": 2}", i > 0 ? ", " : "", i);
    ing_append(p, cap, &len, "]");
    add_case("toomany", "too_many", p, len);
    free(p);
  }
  {
    /* Over 256 KiB: a valid sample padded with an ignored key. */
    size_t len = 300 * 1024;
    char *p = malloc(len + 1);
    if (p == NULL)
      it_fatal("out of memory");
    size_t head = (size_t)snprintf(p, len, "{\"x\": 1, \"y\": 2, \"z\": 3, \"pad\": \"");
    memset(p + head, 'a', len - head - 2);
    memcpy(p + len - 2, "\"}", 2);
    add_case("toolarge", "too_large", p, len);
    free(p);
  }

  for (int i = 0; i < ncases; i++)
    IT_ASSERT(it_mqtt_publish(m, cases[i].topic, cases[i].payload, cases[i].len, 1) == 0,
              "publish case %d", i);
  /* Not a sample topic: ingest does not see it at all. */
  char other[160];
  snprintf(other, sizeof other, "devices/%sother/other", prefix);
  it_mqtt_publish_str(m, other, good, 1);
  /* And a valid message after everything. */
  char ok_topic[160], ok_name[96];
  snprintf(ok_name, sizeof ok_name, "%sok", prefix);
  ing_topic(ok_topic, sizeof ok_topic, ok_name);
  it_mqtt_publish_str(m, ok_topic, good, 1);
  it_note("published %d malformed messages", ncases);

  struct all_ctx ctx = {db, ncases, 0};
  IT_ASSERT(it_wait_until(all_rejected, &ctx, ing_timeout_ms()),
            "%lld of %d malformed messages in rejected", ctx.got, ncases);
  ing_wait_stored(db, prefix, 1);

  for (int i = 0; i < ncases; i++) {
    struct rej_case *c = &cases[i];
    PGresult *r = it_db_exec(db,
                             "SELECT reason, payload_size, length(payload),"
                             " left(encode(payload, 'hex'), 2 * 4096) FROM rejected"
                             " WHERE topic = $1",
                             1, c->topic);
    IT_EXPECT(PQntuples(r) == 1, "case %d (%s): %d rows in rejected for topic %s", i, c->code,
              PQntuples(r), c->topic);
    if (PQntuples(r) == 1) {
      const char *reason = PQgetvalue(r, 0, 0);
      size_t cl = strlen(c->code);
      IT_EXPECT(strncmp(reason, c->code, cl) == 0 && (reason[cl] == '\0' || reason[cl] == ':'),
                "case %d: reason '%s', expected code %s", i, reason, c->code);
      long long size = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
      IT_EXPECT(size == (long long)c->len, "case %d (%s): payload_size %lld, sent %zu", i, c->code,
                size, c->len);
      long long kept = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
      IT_EXPECT(kept > 0 || c->len == 0, "case %d (%s): payload not kept", i, c->code);
      /* The kept bytes are a prefix of what was sent. */
      size_t cmp = (size_t)kept < 4096 ? (size_t)kept : 4096;
      if (cmp > c->len)
        cmp = c->len;
      char *hex = malloc(2 * cmp + 1);
      if (hex == NULL)
        it_fatal("out of memory");
      to_hex(c->payload, cmp, hex);
      IT_EXPECT(strcmp(hex, PQgetvalue(r, 0, 3)) == 0 || kept > 4096,
                "case %d (%s): stored payload differs from the one sent", i, c->code);
      if (c->len <= 4096)
        IT_EXPECT(kept == (long long)c->len, "case %d (%s): %lld of %zu bytes kept", i, c->code,
                  kept, c->len);
      free(hex);
    }
    PQclear(r);
  }

  long long devs =
      it_db_scalar_ll(db, "SELECT count(*) FROM devices WHERE strpos(name, $1) > 0", 1, prefix);
  IT_EXPECT(devs == 1, "%lld devices created, expected only %s", devs, ok_name);
  long long samples = it_db_scalar_ll(
      db, "SELECT count(*) FROM device_samples WHERE strpos(device_id, $1) > 0", 1, prefix);
  IT_EXPECT(samples == 1, "%lld samples stored, expected only the valid one", samples);
  long long others =
      it_db_scalar_ll(db, "SELECT count(*) FROM rejected WHERE topic = $1", 1, other);
  IT_EXPECT(others == 0, "a message on %s was rejected: ingest should not see it", other);
  long long total =
      it_db_scalar_ll(db, "SELECT count(*) FROM rejected WHERE strpos(topic, $1) > 0", 1, prefix);
  IT_EXPECT(total == ncases, "%lld rejected rows, expected %d", total, ncases);

  for (int i = 0; i < ncases; i++)
    free(cases[i].payload);
  it_mqtt_close(m);
  PQfinish(db);
  return it_finish();
}
