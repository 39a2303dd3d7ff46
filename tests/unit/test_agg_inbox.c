/* agg_inbox: recorded commands come out in order, a full queue refuses
 * after its timeout instead of dropping, and a waiting reader wakes on a
 * push from another thread. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "agg_inbox.h"
#include "ds/time.h"
#include "ds_test.h"

static struct agg_recorded item(int i)
{
  struct agg_recorded r;
  memset(&r, 0, sizeof r);
  snprintf(r.st.request_id, sizeof r.st.request_id, "r-%d", i);
  snprintf(r.st.state, sizeof r.st.state, "queued");
  r.inserted = i % 2 == 0;
  r.malformed = i % 3 == 0;
  return r;
}

static void test_order_and_bound(void)
{
  struct agg_inbox q;
  CU_ASSERT_EQUAL_FATAL(agg_inbox_init(&q), DS_OK);
  struct agg_recorded r;
  CU_ASSERT_FALSE(agg_inbox_pop(&q, &r));
  CU_ASSERT_FALSE(agg_inbox_wait(&q, 10));
  for (int i = 0; i < AGG_INBOX_CAP; i++) {
    struct agg_recorded in = item(i);
    CU_ASSERT_TRUE(agg_inbox_push(&q, &in, 0));
  }
  /* Full: refused after the timeout, nothing dropped. */
  struct agg_recorded extra = item(999);
  int64_t t0 = ds_time_mono_ms();
  CU_ASSERT_FALSE(agg_inbox_push(&q, &extra, 50));
  CU_ASSERT_TRUE(ds_time_mono_ms() - t0 >= 45);
  CU_ASSERT_TRUE(agg_inbox_wait(&q, 0));
  for (int i = 0; i < AGG_INBOX_CAP; i++) {
    CU_ASSERT_TRUE_FATAL(agg_inbox_pop(&q, &r));
    struct agg_recorded want = item(i);
    CU_ASSERT_STRING_EQUAL(r.st.request_id, want.st.request_id);
    CU_ASSERT_EQUAL(r.inserted, want.inserted);
    CU_ASSERT_EQUAL(r.malformed, want.malformed);
  }
  CU_ASSERT_FALSE(agg_inbox_pop(&q, &r));
  /* Wraps around. */
  CU_ASSERT_TRUE(agg_inbox_push(&q, &extra, 0));
  CU_ASSERT_TRUE(agg_inbox_pop(&q, &r));
  CU_ASSERT_STRING_EQUAL(r.st.request_id, "r-999");
  agg_inbox_cleanup(&q);
}

struct pusher {
  struct agg_inbox *q;
  long delay_ms;
};

static void *push_later(void *arg)
{
  struct pusher *p = arg;
  struct timespec ts = {.tv_sec = 0, .tv_nsec = p->delay_ms * 1000000L};
  nanosleep(&ts, NULL);
  struct agg_recorded r = item(7);
  (void)agg_inbox_push(p->q, &r, 1000);
  return NULL;
}

static void test_wait_wakes_on_push(void)
{
  struct agg_inbox q;
  CU_ASSERT_EQUAL_FATAL(agg_inbox_init(&q), DS_OK);
  struct pusher p = {&q, 50};
  pthread_t t;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, push_later, &p), 0);
  int64_t t0 = ds_time_mono_ms();
  CU_ASSERT_TRUE(agg_inbox_wait(&q, 5000));
  CU_ASSERT_TRUE(ds_time_mono_ms() - t0 < 4000);
  pthread_join(t, NULL);
  struct agg_recorded r;
  CU_ASSERT_TRUE(agg_inbox_pop(&q, &r));
  CU_ASSERT_STRING_EQUAL(r.st.request_id, "r-7");
  agg_inbox_cleanup(&q);
}

static const struct ds_test_case cases[] = {
    {"order, bound, no drop", test_order_and_bound},
    {"a waiting reader wakes on a push", test_wait_wakes_on_push},
    {NULL, NULL},
};

DS_TEST_MAIN("agg_inbox", cases)
