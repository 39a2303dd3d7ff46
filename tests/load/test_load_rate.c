/* Tests for load_rate.c: the pacing of the load generator (fixed rate,
 * ramp-up, bursts after a stall, waits) and the devices online during a
 * ramp, on a simulated clock. */
#include <math.h>

#include "ds_test.h"
#include "load_rate.h"

static void test_unlimited(void)
{
  struct load_rate r;
  load_rate_init(&r, 0, 0, 1000);
  CU_ASSERT_EQUAL(load_rate_allowed(&r, 1000, 77), 77);
  CU_ASSERT_EQUAL(load_rate_wait_ms(&r, 1000), 0);
}

static void test_fixed_rate_counts(void)
{
  /* 100/s for 10 s on a 1 ms clock: 1001 messages (one at t = 0). */
  struct load_rate r;
  load_rate_init(&r, 100, 0, 5000);
  long long sent = 0;
  for (double t = 5000; t <= 15000; t += 1) {
    int64_t n = load_rate_allowed(&r, t, 1000);
    CU_ASSERT(n >= 0 && n <= 1);
    load_rate_sent(&r, n);
    sent += n;
  }
  CU_ASSERT_EQUAL(sent, 1001);
}

static void test_stall_burst_capped(void)
{
  struct load_rate r;
  load_rate_init(&r, 1000, 0, 0);
  load_rate_sent(&r, load_rate_allowed(&r, 0, 10));
  /* 2 s without sending: 2000 are due, but at most the window at once. */
  CU_ASSERT_EQUAL(load_rate_allowed(&r, 2000, 50), 50);
  load_rate_sent(&r, 50);
  CU_ASSERT_EQUAL(load_rate_allowed(&r, 2000, 100000), 2001 - 51);
}

static void test_wait(void)
{
  struct load_rate r;
  load_rate_init(&r, 10, 0, 0); /* one every 100 ms */
  CU_ASSERT_EQUAL(load_rate_wait_ms(&r, 0), 0);
  load_rate_sent(&r, 1);
  CU_ASSERT_DOUBLE_EQUAL(load_rate_wait_ms(&r, 0), 100, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(load_rate_wait_ms(&r, 40), 60, 1e-6);
  CU_ASSERT_EQUAL(load_rate_allowed(&r, 99.9, 10), 0);
  CU_ASSERT_EQUAL(load_rate_allowed(&r, 100, 10), 1);
}

static void test_ramp(void)
{
  /* 100/s after a 10 s ramp: 500 due by its end (the triangle), then 100/s. */
  struct load_rate r;
  load_rate_init(&r, 100, 10000, 0);
  CU_ASSERT_DOUBLE_EQUAL(load_rate_target(&r, 10000), 500, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(load_rate_target(&r, 5000), 125, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(load_rate_target(&r, 20000), 1500, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(load_rate_target(&r, -5), 0, 0);
  /* Simulated: the rate over the last second of the ramp is ~ 95/s. */
  long long sent = 0, in_last = 0;
  for (double t = 0; t <= 10000; t += 1) {
    int64_t n = load_rate_allowed(&r, t, 1000);
    load_rate_sent(&r, n);
    sent += n;
    if (t > 9000)
      in_last += n;
  }
  CU_ASSERT_EQUAL(sent, 501);
  CU_ASSERT(in_last >= 94 && in_last <= 96);
  /* Waits agree with the target during the ramp. */
  struct load_rate w;
  load_rate_init(&w, 100, 10000, 0);
  load_rate_sent(&w, 126);
  double wait = load_rate_wait_ms(&w, 0);
  CU_ASSERT(fabs(load_rate_target(&w, wait) - 126) < 1e-6);
}

static void test_online(void)
{
  CU_ASSERT_EQUAL(load_rate_online(100, 0, 0, 0), 100);
  CU_ASSERT_EQUAL(load_rate_online(100, 10000, 0, 0), 1);
  CU_ASSERT_EQUAL(load_rate_online(100, 10000, 0, 5000), 50);
  CU_ASSERT_EQUAL(load_rate_online(100, 10000, 0, 5001), 51);
  CU_ASSERT_EQUAL(load_rate_online(100, 10000, 0, 10000), 100);
  CU_ASSERT_EQUAL(load_rate_online(100, 10000, 0, 1e9), 100);
  CU_ASSERT_EQUAL(load_rate_online(0, 10000, 0, 5000), 0);
  CU_ASSERT_EQUAL(load_rate_online(3, 10000, 0, 1), 1);
}

static const struct ds_test_case cases[] = {
    {"unlimited", test_unlimited},
    {"fixed_rate_counts", test_fixed_rate_counts},
    {"stall_burst_capped", test_stall_burst_capped},
    {"wait", test_wait},
    {"ramp", test_ramp},
    {"online", test_online},
    {NULL, NULL},
};

DS_TEST_MAIN("load_rate", cases)
