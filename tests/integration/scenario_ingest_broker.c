/* The broker restarts under a stream (README § "What ingest guarantees"):
 *   A  mosquitto stopped cleanly (SIGTERM: it saves its state) mid-stream
 *      and started again: nothing lost; a duplicate only where the
 *      publisher itself sent a message twice (its PUBACK lost with the
 *      broker), so duplicates <= the publisher's resends;
 *   B  mosquitto SIGKILLed mid-stream and started again: it comes back from
 *      its last autosave, so what it took after that is gone; the figures
 *      are printed, not asserted (the README quotes them).
 * Ingest reconnects by itself in both.  The publisher is a device that
 * reconnects and resends a message until the broker acknowledges it. */
#include "scenario_ingest_common.h"

#define NDEV 4

struct rpub {
  struct ing_dev *devs;
  const char *client_id;
  atomic_long published; /* acknowledged */
  atomic_long resends;   /* sent again after a failure: maybe twice at the broker */
  pthread_t thread;
};

static struct it_mqtt *connect_retrying(const char *id)
{
  for (int i = 0; i < 600; i++) {
    int rc = 0;
    struct it_mqtt *m = it_mqtt_open_as(id, it_env_or("DS_TEST_MQTT_USERNAME", NULL),
                                        it_env_or("DS_TEST_MQTT_PASSWORD", NULL), &rc);
    if (m != NULL)
      return m;
    it_sleep_ms(100);
  }
  it_fatal("publisher %s: broker unreachable for a minute", id);
}

static void *rpub_main(void *p)
{
  struct rpub *job = p;
  struct it_mqtt *m = connect_retrying(job->client_id);
  char *buf = malloc(ING_JSON_MAX);
  if (buf == NULL)
    it_fatal("out of memory");
  char topic[128];
  size_t n = job->devs[0].n;
  for (size_t k = 0; k < n; k++) {
    for (int i = 0; i < NDEV; i++) {
      struct ing_dev *d = &job->devs[i];
      size_t len = ing_json_range(buf, ING_JSON_MAX, d, k, 1, false);
      ing_topic(topic, sizeof topic, d->name);
      while (it_mqtt_publish(m, topic, buf, len, 1) != 0) {
        atomic_fetch_add(&job->resends, 1);
        it_mqtt_close(m);
        it_sleep_ms(100);
        m = connect_retrying(job->client_id);
      }
      atomic_fetch_add(&job->published, 1);
    }
  }
  free(buf);
  it_mqtt_close(m);
  return NULL;
}

struct stable_ctx {
  PGconn *db;
  const char *prefix;
  long long last;
  int same;
};

static bool stable(void *p)
{
  struct stable_ctx *c = p;
  long long now = ing_stored(c->db, c->prefix);
  c->same = now == c->last ? c->same + 1 : 0;
  c->last = now;
  return c->same >= 12;
}

static void phase(PGconn *db, const char *tag, bool kill, uint64_t *rng)
{
  long per = (long)it_env_int("DS_TEST_BROKER_SAMPLES", 3000, 100, 10000000);
  struct ing_dev d[NDEV];
  for (int i = 0; i < NDEV; i++) {
    ing_dev_init(&d[i], tag, i);
    ing_fill_timed(&d[i], i, rng, (size_t)per);
  }
  char prefix[64];
  snprintf(prefix, sizeof prefix, "it-%s-%s-", tag, it_run_tag());
  struct rpub p = {.devs = d, .client_id = kill ? "it-broker-pubB" : "it-broker-pubA"};
  atomic_init(&p.published, 0);
  atomic_init(&p.resends, 0);
  if (pthread_create(&p.thread, NULL, rpub_main, &p) != 0)
    it_fatal("pthread_create");
  long total = per * NDEV;
  while (atomic_load(&p.published) < total / 3)
    it_sleep_ms(20);
  IT_ASSERT(it_stackctl(kill ? "kill-broker" : "stop-broker") == 0, "broker did not stop");
  long at = atomic_load(&p.published);
  it_sleep_ms(1000);
  IT_ASSERT(it_stackctl("start-broker") == 0, "broker did not start again");
  pthread_join(p.thread, NULL);
  /* Wait until the count has not moved for about 3 s. */
  struct stable_ctx c = {db, prefix, -1, 0};
  IT_ASSERT(it_wait_until(stable, &c, ing_timeout_ms()), "the store never settled");
  long long rows = c.last;
  long long distinct = it_db_scalar_ll(db,
                                       "SELECT count(DISTINCT (device_id, ts)) FROM device_samples"
                                       " WHERE left(device_id, length($1)) = $1",
                                       1, prefix);
  long long lost = total - distinct, dup = rows - distinct;
  long resends = atomic_load(&p.resends);
  it_note("%s: broker %s at %ld of %ld messages (QoS 1), back after 1 s: %lld lost, %lld stored "
          "twice; the publisher resent %ld",
          tag, kill ? "SIGKILLed" : "stopped (SIGTERM)", at, total, lost, dup, resends);
  if (!kill) {
    IT_EXPECT(lost == 0, "%s: %lld samples lost over a clean broker restart", tag, lost);
    IT_EXPECT(dup <= resends, "%s: %lld duplicates, more than the %ld publisher resends", tag, dup,
              resends);
  }
  for (int i = 0; i < NDEV; i++)
    ing_dev_cleanup(&d[i]);
}

int main(void)
{
  uint64_t rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)it_wall_ms();
  PGconn *db = it_db_connect();
  FILE *allow = fopen(it_env_str("DS_TEST_ALLOW_ERRORS"), "a");
  if (allow == NULL)
    it_fatal("cannot open the allowed-errors file");
  fputs("publish_failed\nstatus_failed\n", allow);
  fclose(allow);
  phase(db, "brokerA", false, &rng);
  phase(db, "brokerB", true, &rng);
  PQfinish(db);
  return it_finish();
}
