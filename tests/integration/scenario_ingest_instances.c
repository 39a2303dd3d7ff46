/* Three ingest instances on the shared subscription $share/ingest/... (the
 * harness runs this with INGEST_INSTANCES=3: ingest-1..3, each its own
 * client id, spool and admin port).  A publisher streams at QoS 1; one
 * instance is killed (SIGKILL) mid-stream and started again.  Every sample
 * must be stored exactly once with its exact values, and every instance
 * must have stored a share (its row in ingest_progress: the last spool
 * record it stored, counted from 1). */
#include "scenario_ingest_common.h"

#define NDEV 4
#define NINST 3

int main(void)
{
  char prefix[64];
  snprintf(prefix, sizeof prefix, "it-ingin-%s-", it_run_tag());
  uint64_t rng = 0x2545f4914f6cdd1dULL;
  long per_dev = it_env_int("DS_TEST_INGEST_SAMPLES", 6000, 100, 10000000);
  PGconn *db = it_db_connect();

  struct ing_dev d[NDEV];
  for (int i = 0; i < NDEV; i++) {
    ing_dev_init(&d[i], "ingin", i);
    ing_fill_timed(&d[i], i, &rng, (size_t)per_dev);
  }
  struct ing_pub pub = {
      .client_id = "it-ingin-pub", .devs = d, .ndev = NDEV, .per_msg = 10, .qos = 1};
  long total = ing_pub_total(&pub);
  ing_pub_start(&pub);
  ing_pub_wait(&pub, total / 3);
  IT_ASSERT(it_stackctl("kill ingest-2") == 0, "could not kill ingest-2");
  it_note("ingest-2 killed after %ld of %ld messages", atomic_load(&pub.published), total);
  ing_pub_wait(&pub, 2 * total / 3);
  IT_ASSERT(it_stackctl("start ingest-2") == 0, "ingest-2 did not start again");
  it_note("ingest-2 started again after %ld messages", atomic_load(&pub.published));
  ing_pub_join(&pub);
  IT_ASSERT(!atomic_load(&pub.failed), "the publisher failed");

  ing_wait_stored(db, prefix, ing_total(d, NDEV));
  for (int i = 0; i < NDEV; i++)
    ing_verify_device(db, &d[i], 0, 0);

  /* Each instance's share: spool records (messages) it stored. */
  long long sum = 0;
  for (int i = 1; i <= NINST; i++) {
    char id[64];
    snprintf(id, sizeof id, "devicestats-ingest-%d", i);
    long long seq =
        it_db_scalar_ll_or(db, -1, "SELECT seq FROM ingest_progress WHERE instance = $1", 1, id);
    it_note("%s stored %lld messages' records", id, seq);
    IT_EXPECT(seq >= total / (NINST * 4),
              "%s stored %lld records, less than a quarter of its share of %ld messages", id, seq,
              total);
    if (seq > 0)
      sum += seq;
  }
  IT_EXPECT(sum >= total, "the instances' records add up to %lld, fewer than the %ld messages", sum,
            total);

  for (int i = 0; i < NDEV; i++)
    ing_dev_cleanup(&d[i]);
  PQfinish(db);
  return it_finish();
}
