/* ds_backoff: delays double from the first to the cap, an outage is
 * reported once when it begins and once when it ends, and nothing sleeps. */
#include "ds/backoff.h"
#include "ds_test.h"

static void test_delays_double_to_cap(void)
{
  struct ds_backoff b;
  ds_backoff_init(&b, 100, 1000);
  CU_ASSERT_TRUE(ds_backoff_due(&b, 0));
  static const long want[] = {100, 200, 400, 800, 1000, 1000};
  int64_t now = 1000;
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    (void)ds_backoff_failed(&b, now);
    CU_ASSERT_EQUAL(ds_backoff_left_ms(&b, now), want[i]);
    CU_ASSERT_FALSE(ds_backoff_due(&b, now + want[i] - 1));
    CU_ASSERT_TRUE(ds_backoff_due(&b, now + want[i]));
    now += want[i];
  }
}

static void test_outage_reported_once(void)
{
  struct ds_backoff b;
  ds_backoff_init(&b, 10, 40);
  CU_ASSERT_FALSE(ds_backoff_succeeded(&b)); /* no outage yet */
  CU_ASSERT_TRUE(ds_backoff_failed(&b, 0));  /* begins */
  CU_ASSERT_FALSE(ds_backoff_failed(&b, 10));
  CU_ASSERT_FALSE(ds_backoff_failed(&b, 30));
  CU_ASSERT_EQUAL(b.failures, 3);
  CU_ASSERT_TRUE(ds_backoff_succeeded(&b)); /* ends */
  CU_ASSERT_FALSE(ds_backoff_succeeded(&b));
  CU_ASSERT_EQUAL(b.failures, 0);
  CU_ASSERT_TRUE(ds_backoff_due(&b, 0));
  /* the delay starts again from the first */
  CU_ASSERT_TRUE(ds_backoff_failed(&b, 100));
  CU_ASSERT_EQUAL(ds_backoff_left_ms(&b, 100), 10);
}

static void test_bad_settings_fall_back(void)
{
  struct ds_backoff b;
  ds_backoff_init(&b, 0, -1);
  CU_ASSERT_EQUAL(b.min_ms, DS_BACKOFF_MIN_MS_DEFAULT);
  CU_ASSERT_EQUAL(b.max_ms, DS_BACKOFF_MAX_MS_DEFAULT);
  ds_backoff_init(&b, 9000, 10);
  CU_ASSERT_EQUAL(b.min_ms, 9000);
  CU_ASSERT_EQUAL(b.max_ms, 9000);
}

static const struct ds_test_case cases[] = {
    {"delays double to the cap", test_delays_double_to_cap},
    {"an outage is reported once each way", test_outage_reported_once},
    {"bad settings fall back to defaults", test_bad_settings_fall_back},
    {NULL, NULL},
};

DS_TEST_MAIN("backoff", cases)
