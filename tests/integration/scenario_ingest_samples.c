/* Ingest, the happy path: several devices publish samples as single objects
 * and arrays (up to the 1000-sample limit), with and without ts in every
 * accepted form, at QoS 0 and 1; every sample must be in PostgreSQL exactly
 * once with exactly the published values and times, the devices must exist,
 * and nothing may be rejected. */
#include "scenario_ingest_common.h"

#define NDEV 4

int main(void)
{
  struct ing_dev devs[NDEV];
  char prefix[64];
  snprintf(prefix, sizeof prefix, "it-ingsamp-%s-", it_run_tag());
  uint64_t rng = 0x9e3779b97f4a7c15ULL;
  PGconn *db = it_db_connect();
  struct it_mqtt *m = it_mqtt_open("it-ingest-samples");
  char *buf = malloc(ING_JSON_MAX);
  if (buf == NULL)
    it_fatal("out of memory");
  char topic[128];

  int64_t lo_us = it_wall_ms() * 1000 - INT64_C(60000000);
  long msgs = 0;
  for (int i = 0; i < NDEV; i++) {
    struct ing_dev *d = &devs[i];
    ing_dev_init(d, "ingsamp", i);
    ing_topic(topic, sizeof topic, d->name);
    /* Single objects, every ts style, alternating QoS. */
    for (int k = 0; k < 40; k++) {
      size_t at = d->n;
      ing_new_sample(d, i, &rng, (enum ing_ts_style)(k % 4));
      size_t len = ing_json_range(buf, ING_JSON_MAX, d, at, 1, false);
      IT_ASSERT(it_mqtt_publish(m, topic, buf, len, k % 2) == 0, "publish");
      msgs++;
    }
    /* Arrays mixing styles, including a one-element array. */
    static const size_t sizes[] = {1, 2, 25, 50, 7, 100};
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++) {
      size_t at = d->n;
      for (size_t k = 0; k < sizes[a]; k++)
        ing_new_sample(d, i, &rng, (enum ing_ts_style)((k + a) % 4));
      size_t len = ing_json_range(buf, ING_JSON_MAX, d, at, sizes[a], true);
      IT_ASSERT(it_mqtt_publish(m, topic, buf, len, (int)(a % 2)) == 0, "publish");
      msgs++;
    }
  }
  /* The largest accepted array: exactly 1000 samples. */
  {
    struct ing_dev *d = &devs[0];
    size_t at = d->n;
    for (int k = 0; k < 1000; k++)
      ing_new_sample(d, 0, &rng, (enum ing_ts_style)(k % 4));
    size_t len = ing_json_range(buf, ING_JSON_MAX, d, at, 1000, true);
    ing_topic(topic, sizeof topic, d->name);
    IT_ASSERT(it_mqtt_publish(m, topic, buf, len, 1) == 0, "publish 1000-sample array (%zu bytes)",
              len);
    msgs++;
  }
  long long total = ing_total(devs, NDEV);
  it_note("published %lld samples in %ld messages to %d devices", total, msgs, NDEV);

  ing_wait_stored(db, prefix, total);
  int64_t hi_us = it_wall_ms() * 1000 + INT64_C(60000000);
  for (int i = 0; i < NDEV; i++)
    ing_verify_device(db, &devs[i], lo_us, hi_us);

  long long ndevices = it_db_scalar_ll(
      db, "SELECT count(*) FROM devices WHERE left(name, length($1)) = $1", 1, prefix);
  IT_EXPECT(ndevices == NDEV, "%lld devices named %s*, expected %d", ndevices, prefix, NDEV);
  long long nrej = it_db_scalar_ll(
      db, "SELECT count(*) FROM rejected WHERE topic LIKE 'devices/' || $1 || '%'", 1, prefix);
  IT_EXPECT(nrej == 0, "%lld messages of valid devices rejected", nrej);

  /* Samples published again are stored again (ingest does not deduplicate;
   * "exactly once" is per message): one more message, one more row. */
  {
    struct ing_dev *d = &devs[1];
    ing_topic(topic, sizeof topic, d->name);
    size_t len = ing_json_range(buf, ING_JSON_MAX, d, 0, 1, false);
    IT_ASSERT(it_mqtt_publish(m, topic, buf, len, 1) == 0, "publish");
    ing_dev_add(d, d->v[0]);
    ing_wait_stored(db, prefix, total + 1);
    ing_verify_device(db, d, lo_us, it_wall_ms() * 1000 + INT64_C(60000000));
  }

  for (int i = 0; i < NDEV; i++)
    ing_dev_cleanup(&devs[i]);
  free(buf);
  it_mqtt_close(m);
  PQfinish(db);
  return it_finish();
}
