/* Ingest stopped and started again: (A) SIGTERM in the middle of a stream
 * (it must exit 0) and a restart while devices keep publishing; (B) ingest
 * stopped while devices publish at QoS 1 and QoS 0, then started: it must
 * pick up everything the broker queued for its persistent session.  Every
 * sample ends up stored exactly once with its exact values. */
#include "scenario_ingest_common.h"

#define NDEV 3

int main(void)
{
  char prefix_a[64], prefix_b[64];
  snprintf(prefix_a, sizeof prefix_a, "it-ingrsA-%s-", it_run_tag());
  snprintf(prefix_b, sizeof prefix_b, "it-ingrsB-%s-", it_run_tag());
  uint64_t rng = 0x5851f42d4c957f2dULL;
  long per_dev = it_env_int("DS_TEST_INGEST_SAMPLES", 6000, 100, 10000000);
  PGconn *db = it_db_connect();

  /* A: stop mid-stream, start again while the stream goes on. */
  struct ing_dev a[NDEV];
  for (int i = 0; i < NDEV; i++) {
    ing_dev_init(&a[i], "ingrsA", i);
    ing_fill_timed(&a[i], i, &rng, (size_t)per_dev);
  }
  struct ing_pub pa = {
      .client_id = "it-ingrs-pubA", .devs = a, .ndev = NDEV, .per_msg = 10, .qos = 1};
  long total_a = ing_pub_total(&pa);
  ing_pub_start(&pa);
  ing_pub_wait(&pa, total_a / 4);
  IT_ASSERT(it_stackctl("stop ingest") == 0, "ingest did not exit 0 on SIGTERM");
  it_note("ingest stopped after %ld of %ld messages", atomic_load(&pa.published), total_a);
  IT_ASSERT(it_stackctl("start ingest") == 0, "ingest did not start again");
  ing_pub_join(&pa);
  ing_wait_stored(db, prefix_a, ing_total(a, NDEV));
  for (int i = 0; i < NDEV; i++)
    ing_verify_device(db, &a[i], 0, 0);

  /* B: stopped while devices publish at QoS 1 and QoS 0. */
  struct ing_dev b1[NDEV], b0[NDEV];
  for (int i = 0; i < NDEV; i++) {
    ing_dev_init(&b1[i], "ingrsB", 10 + i);
    ing_fill_timed(&b1[i], 10 + i, &rng, (size_t)per_dev);
    ing_dev_init(&b0[i], "ingrsB", 20 + i);
    ing_fill_timed(&b0[i], 20 + i, &rng, (size_t)per_dev);
  }
  IT_ASSERT(it_stackctl("stop ingest") == 0, "ingest did not exit 0 on SIGTERM");
  struct ing_pub q1 = {
      .client_id = "it-ingrs-pubQ1", .devs = b1, .ndev = NDEV, .per_msg = 1, .qos = 1};
  struct ing_pub q0 = {
      .client_id = "it-ingrs-pubQ0", .devs = b0, .ndev = NDEV, .per_msg = 5, .qos = 0};
  ing_pub_start(&q1);
  ing_pub_start(&q0);
  ing_pub_join(&q1);
  ing_pub_join(&q0);
  it_note("published %ld QoS 1 and %ld QoS 0 messages while ingest was stopped",
          atomic_load(&q1.published), atomic_load(&q0.published));
  IT_ASSERT(it_stackctl("start ingest") == 0, "ingest did not start again");
  ing_wait_stored(db, prefix_b, ing_total(b1, NDEV) + ing_total(b0, NDEV));
  for (int i = 0; i < NDEV; i++) {
    ing_verify_device(db, &b1[i], 0, 0);
    ing_verify_device(db, &b0[i], 0, 0);
  }

  for (int i = 0; i < NDEV; i++) {
    ing_dev_cleanup(&a[i]);
    ing_dev_cleanup(&b1[i]);
    ing_dev_cleanup(&b0[i]);
  }
  PQfinish(db);
  return it_finish();
}
