/* Ingest's pure units: message -> item (valid and rejected), the bounded
 * queue, the device cache, the subscription filter and the config table. */
#include <string.h>

#include "ds/err.h"
#include "ds_test.h"
#include "ingest_cfg.h"
#include "ingest_devcache.h"
#include "ingest_mqtt.h"
#include "ingest_parse.h"
#include "ingest_item.h"
#include "ingest_queue.h"

static struct ds_sample scratch[DS_SAMPLES_MAX];

static struct ingest_item *parse(const char *topic, const char *payload)
{
  return ingest_parse_message(topic, strlen(topic), payload, strlen(payload), strlen(payload), 42,
                              1024, scratch);
}

static void test_parse_valid(void)
{
  struct ingest_item *it = parse("devices/dev-7/data", "[{\"x\":1,\"y\":2,\"z\":3},"
                                                       "{\"x\":4,\"y\":5,\"z\":6,\"ts\":1000}]");
  CU_ASSERT_PTR_NOT_NULL_FATAL(it);
  CU_ASSERT_EQUAL(it->kind, INGEST_ITEM_SAMPLES);
  CU_ASSERT_STRING_EQUAL(it->device, "dev-7");
  CU_ASSERT_EQUAL(it->n, 2);
  CU_ASSERT_EQUAL(it->samples[0].ts_us, 42);
  CU_ASSERT_EQUAL(it->samples[1].ts_us, 1000000);
  CU_ASSERT_DOUBLE_EQUAL(it->samples[1].z, 6.0, 0.0);
  CU_ASSERT_EQUAL(ingest_item_weight(it), 2);
  ingest_item_free(it);
}

static void test_parse_rejected(void)
{
  static const struct {
    const char *topic, *payload, *reason_prefix;
  } cases[] = {
      {"devices/dev 7/data", "{\"x\":1,\"y\":2,\"z\":3}", "bad_topic: "},
      {"devices/dev-7/other", "{\"x\":1,\"y\":2,\"z\":3}", "bad_topic: "},
      {"devices/dev-7/data", "nonsense", "bad_json: "},
      {"devices/dev-7/data", "{\"x\":1,\"y\":2}", "missing_field: "},
      {"devices/dev-7/data", "{\"x\":1e400,\"y\":2,\"z\":3}", "bad_number: "},
      {"devices/dev-7/data", "", "empty: "},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ingest_item *it = parse(cases[i].topic, cases[i].payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(it);
    CU_ASSERT_EQUAL(it->kind, INGEST_ITEM_REJECTED);
    CU_ASSERT_STRING_EQUAL(it->topic, cases[i].topic);
    CU_ASSERT_EQUAL(it->payload_size, strlen(cases[i].payload));
    CU_ASSERT_EQUAL(memcmp(it->payload, cases[i].payload, it->payload_len), 0);
    if (strncmp(it->reason, cases[i].reason_prefix, strlen(cases[i].reason_prefix)) != 0)
      fprintf(stderr, "case %zu: reason '%s'\n", i, it->reason);
    CU_ASSERT_EQUAL(strncmp(it->reason, cases[i].reason_prefix, strlen(cases[i].reason_prefix)), 0);
    /* The code appears once: "bad_topic: device id ...", not doubled. */
    CU_ASSERT_PTR_NULL(strstr(it->reason + 1, cases[i].reason_prefix));
    ingest_item_free(it);
  }
}

/* A rejected payload keeps at most keep_max bytes but records its size; a
 * topic with control bytes is stored as printable text. */
static void test_reject_bounds(void)
{
  char big[3000];
  memset(big, 'a', sizeof big);
  struct ingest_item *it =
      ingest_parse_message("devices/\x01x/data", 15, big, sizeof big, sizeof big, 0, 100, scratch);
  CU_ASSERT_PTR_NOT_NULL_FATAL(it);
  CU_ASSERT_EQUAL(it->payload_len, 100);
  CU_ASSERT_EQUAL(it->payload_size, sizeof big);
  CU_ASSERT_STRING_EQUAL(it->topic, "devices/?x/data");
  ingest_item_free(it);
  /* UTF-8 characters are kept as sent; invalid bytes become '?'. */
  const char utf8_topic[] = "devices/d\xc3\xa9vice/data";
  it = ingest_parse_message(utf8_topic, sizeof utf8_topic - 1, "{}", 2, 2, 0, 100, scratch);
  CU_ASSERT_PTR_NOT_NULL_FATAL(it);
  CU_ASSERT_STRING_EQUAL(it->topic, "devices/d\xc3\xa9vice/data");
  CU_ASSERT_PTR_NOT_NULL(strstr(it->reason, "bad_topic"));
  ingest_item_free(it);
  const char bad_topic[] = "devices/d\xc3vice/data";
  it = ingest_parse_message(bad_topic, sizeof bad_topic - 1, "{}", 2, 2, 0, 100, scratch);
  CU_ASSERT_PTR_NOT_NULL_FATAL(it);
  CU_ASSERT_STRING_EQUAL(it->topic, "devices/d?vice/data");
  ingest_item_free(it);
}

/* A payload over the limit is spooled as its first bytes and its size:
 * rejected as too_large with the size it had, keeping what fits. */
static void test_parse_too_large_prefix(void)
{
  const char prefix[] = "{\"x\": 1";
  struct ingest_item *it = ingest_parse_message("devices/d/data", 14, prefix, sizeof prefix - 1,
                                                (size_t)DS_PAYLOAD_MAX + 10, 0, 4, scratch);
  CU_ASSERT_PTR_NOT_NULL_FATAL(it);
  CU_ASSERT_EQUAL(it->kind, INGEST_ITEM_REJECTED);
  CU_ASSERT_EQUAL(strncmp(it->reason, "too_large:", 10), 0);
  CU_ASSERT_EQUAL(it->payload_size, (size_t)DS_PAYLOAD_MAX + 10);
  CU_ASSERT_EQUAL(it->payload_len, 4);
  ingest_item_free(it);
}

static void test_queue_bound(void)
{
  struct ingest_queue q;
  CU_ASSERT_EQUAL_FATAL(ingest_queue_init(&q, 5), DS_OK);
  struct ds_sample s[4] = {{0, 1, 2, 3}};
  struct ingest_item *a = ingest_item_new_samples("a", s, 4);
  struct ingest_item *b = ingest_item_new_samples("b", s, 2);
  struct ingest_item *big = ingest_item_new_samples("big", s, 4);
  CU_ASSERT_TRUE(ingest_queue_push(&q, a, 0));
  CU_ASSERT_EQUAL(ingest_queue_weight(&q), 4);
  CU_ASSERT_FALSE(ingest_queue_push(&q, b, 10)); /* 4 + 2 > 5: caller keeps b */
  bool closed = true;
  struct ingest_item *got = ingest_queue_pop(&q, 0, &closed);
  CU_ASSERT_PTR_EQUAL(got, a);
  CU_ASSERT_FALSE(closed);
  ingest_item_free(got);
  CU_ASSERT_TRUE(ingest_queue_push(&q, b, 0));
  /* Past the bound only with force (shutdown). */
  CU_ASSERT_FALSE(ingest_queue_push(&q, big, 0));
  ingest_queue_push_force(&q, big);
  CU_ASSERT_EQUAL(ingest_queue_weight(&q), 6);
  ingest_queue_close(&q);
  got = ingest_queue_pop(&q, 0, &closed);
  CU_ASSERT_PTR_EQUAL(got, b);
  CU_ASSERT_FALSE(closed);
  ingest_item_free(got);
  got = ingest_queue_pop(&q, 0, &closed);
  CU_ASSERT_PTR_EQUAL(got, big);
  CU_ASSERT_TRUE(closed);
  ingest_item_free(got);
  CU_ASSERT_PTR_NULL(ingest_queue_pop(&q, 0, &closed));
  ingest_queue_cleanup(&q);
}

/* An empty queue takes an item heavier than its bound, so a 1000-sample
 * message can always pass a small buffer. */
static void test_queue_heavy_item(void)
{
  struct ingest_queue q;
  CU_ASSERT_EQUAL_FATAL(ingest_queue_init(&q, 2), DS_OK);
  struct ds_sample s[3] = {{0, 1, 2, 3}};
  CU_ASSERT_TRUE(ingest_queue_push(&q, ingest_item_new_samples("a", s, 3), 0));
  ingest_queue_cleanup(&q); /* frees what is left */
}

static void test_devcache(void)
{
  struct ingest_devcache c;
  CU_ASSERT_EQUAL_FATAL(ingest_devcache_init(&c, 3), DS_OK);
  int32_t k = 0;
  CU_ASSERT_FALSE(ingest_devcache_get(&c, "a", &k));
  CU_ASSERT_EQUAL(ingest_devcache_put(&c, "a", 1), DS_OK);
  CU_ASSERT_EQUAL(ingest_devcache_put(&c, "b", 2), DS_OK);
  CU_ASSERT_EQUAL(ingest_devcache_put(&c, "c", 3), DS_OK);
  CU_ASSERT_TRUE(ingest_devcache_get(&c, "b", &k));
  CU_ASSERT_EQUAL(k, 2);
  CU_ASSERT_EQUAL(ingest_devcache_put(&c, "b", 20), DS_OK); /* replace, not grow */
  CU_ASSERT_TRUE(ingest_devcache_get(&c, "b", &k));
  CU_ASSERT_EQUAL(k, 20);
  /* Full: a fourth name starts the cache over. */
  CU_ASSERT_EQUAL(ingest_devcache_put(&c, "d", 4), DS_OK);
  CU_ASSERT_TRUE(ingest_devcache_get(&c, "d", &k));
  CU_ASSERT_FALSE(ingest_devcache_get(&c, "a", &k));
  CU_ASSERT_EQUAL(ingest_devcache_put(&c, "", 5), DS_EINVAL);
  char long_name[80];
  memset(long_name, 'x', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  CU_ASSERT_EQUAL(ingest_devcache_put(&c, long_name, 5), DS_EINVAL);
  ingest_devcache_cleanup(&c);
}

static void test_filter(void)
{
  struct ingest_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.topic = "devices/+/data";
  char out[64];
  CU_ASSERT_EQUAL(ingest_mqtt_filter(&cfg, out, sizeof out), DS_OK);
  CU_ASSERT_STRING_EQUAL(out, "devices/+/data");
  cfg.share_group = "ingest";
  CU_ASSERT_EQUAL(ingest_mqtt_filter(&cfg, out, sizeof out), DS_OK);
  CU_ASSERT_STRING_EQUAL(out, "$share/ingest/devices/+/data");
  CU_ASSERT_EQUAL(ingest_mqtt_filter(&cfg, out, 10), DS_ERANGE);
}

/* The real table: defaults load, and bad values name the variable. */
static void test_cfg_table(void)
{
  struct ingest_cfg cfg;
  char err[DS_ERRLEN];
  const char *env[] = {NULL};
  memset(&cfg, 0, sizeof cfg);
  CU_ASSERT_EQUAL(
      ds_cfg_load(ingest_cfg_vars, ingest_cfg_nvars, &cfg, ds_test_env_lookup, (void *)env, err),
      DS_OK);
  CU_ASSERT_STRING_EQUAL(cfg.topic, "devices/+/data");
  CU_ASSERT_EQUAL(cfg.qos, 1);
  CU_ASSERT_FALSE(cfg.clean_session);
  ds_cfg_cleanup(ingest_cfg_vars, ingest_cfg_nvars, &cfg);

  const char *bad[] = {"INGEST_BATCH_MAX", "0", NULL};
  memset(&cfg, 0, sizeof cfg);
  CU_ASSERT_EQUAL(
      ds_cfg_load(ingest_cfg_vars, ingest_cfg_nvars, &cfg, ds_test_env_lookup, (void *)bad, err),
      DS_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "INGEST_BATCH_MAX"));
  ds_cfg_cleanup(ingest_cfg_vars, ingest_cfg_nvars, &cfg);
}

static const struct ds_test_case cases[] = {
    {"parse valid", test_parse_valid},
    {"parse rejected", test_parse_rejected},
    {"reject bounds", test_reject_bounds},
    {"parse too large (spooled prefix)", test_parse_too_large_prefix},
    {"queue bound", test_queue_bound},
    {"queue heavy item", test_queue_heavy_item},
    {"device cache", test_devcache},
    {"subscription filter", test_filter},
    {"config table", test_cfg_table},
    {NULL, NULL},
};

DS_TEST_MAIN("ingest", cases)
