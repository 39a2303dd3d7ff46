/* Ingest and the database going away: PostgreSQL restarted (pg_ctl restart
 * -m fast) while devices publish, then stopped while a second stream
 * arrives and started again; every sample must end up stored exactly once
 * with its exact values, and ingest must recover by itself (the harness
 * then requires it to exit 0 on SIGTERM with no error logged). */
#include "scenario_ingest_common.h"

#define NDEV 3

int main(void)
{
  char prefix[64];
  snprintf(prefix, sizeof prefix, "it-ingdb-%s-", it_run_tag());
  uint64_t rng = 0x2545f4914f6cdd1dULL;
  long per_dev = it_env_int("DS_TEST_INGEST_SAMPLES", 8000, 100, 10000000);
  PGconn *db = it_db_connect();

  /* Phase 1: restart while the stream flows. */
  struct ing_dev a[NDEV];
  for (int i = 0; i < NDEV; i++) {
    ing_dev_init(&a[i], "ingdb", i);
    ing_fill_timed(&a[i], i, &rng, (size_t)per_dev);
  }
  struct ing_pub p1 = {
      .client_id = "it-ingdb-pub1", .devs = a, .ndev = NDEV, .per_msg = 20, .qos = 1};
  long total1 = ing_pub_total(&p1);
  ing_pub_start(&p1);
  ing_pub_wait(&p1, total1 / 4);
  IT_ASSERT(it_stackctl("restart-db") == 0, "restart-db failed");
  it_note("database restarted after %ld of %ld messages", atomic_load(&p1.published), total1);
  ing_pub_join(&p1);
  ing_wait_stored(db, prefix, ing_total(a, NDEV));
  for (int i = 0; i < NDEV; i++)
    ing_verify_device(db, &a[i], 0, 0);

  /* Phase 2: the database is down while a whole stream arrives. */
  struct ing_dev b[NDEV];
  for (int i = 0; i < NDEV; i++) {
    ing_dev_init(&b[i], "ingdb", NDEV + i);
    ing_fill_timed(&b[i], NDEV + i, &rng, (size_t)per_dev);
  }
  IT_ASSERT(it_stackctl("stop-db") == 0, "stop-db failed");
  struct ing_pub p2 = {
      .client_id = "it-ingdb-pub2", .devs = b, .ndev = NDEV, .per_msg = 50, .qos = 1};
  ing_pub_start(&p2);
  ing_pub_join(&p2);
  it_note("published %ld messages while the database was down", atomic_load(&p2.published));
  IT_ASSERT(it_stackctl("start-db") == 0, "start-db failed");
  ing_wait_stored(db, prefix, ing_total(a, NDEV) + ing_total(b, NDEV));
  for (int i = 0; i < NDEV; i++)
    ing_verify_device(db, &a[i], 0, 0);
  for (int i = 0; i < NDEV; i++)
    ing_verify_device(db, &b[i], 0, 0);

  for (int i = 0; i < NDEV; i++) {
    ing_dev_cleanup(&a[i]);
    ing_dev_cleanup(&b[i]);
  }
  PQfinish(db);
  return it_finish();
}
