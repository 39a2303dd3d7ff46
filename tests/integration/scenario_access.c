/* Broker access (DESIGN.md § Access): anonymous and wrong-password clients
 * are refused; a device account may publish its own samples and nothing
 * else (the ACL pattern devices/%u/data): a sample it sends for another
 * device is not stored, and a recalculation command it sends is not run. */
#include <stdio.h>
#include <string.h>

#include "it_lib.h"

struct count_ctx {
  PGconn *db;
  const char *device;
  long long want;
};

static long long samples_of(PGconn *db, const char *device)
{
  return it_db_scalar_ll_or(db, -1, "SELECT count(*) FROM device_samples WHERE device_id = $1", 1,
                            device);
}

static bool has_samples(void *ctx)
{
  struct count_ctx *c = ctx;
  return samples_of(c->db, c->device) >= c->want;
}

int main(void)
{
  char dev[64], other[64], pw[64], rid[96], topic[128], other_topic[128];
  snprintf(dev, sizeof dev, "acl-dev-%s", it_run_tag());
  snprintf(other, sizeof other, "acl-other-%s", it_run_tag());
  snprintf(pw, sizeof pw, "pw-%s", it_run_tag());
  snprintf(rid, sizeof rid, "acl-recalc-%s", it_run_tag());
  snprintf(topic, sizeof topic, "devices/%s/data", dev);
  snprintf(other_topic, sizeof other_topic, "devices/%s/data", other);
  PGconn *db = it_db_connect();

  int rc = 0;
  struct it_mqtt *anon = it_mqtt_open_as("acl-anon", NULL, NULL, &rc);
  IT_EXPECT(anon == NULL, "an anonymous client was let in");
  it_mqtt_close(anon);

  IT_ASSERT(it_stackctl("mqtt-user %s %s", dev, pw) == 0, "could not add the device account");
  struct it_mqtt *wrong = it_mqtt_open_as(dev, dev, "not-the-password", &rc);
  IT_EXPECT(wrong == NULL, "a wrong password was accepted");
  it_mqtt_close(wrong);

  struct it_mqtt *m = it_mqtt_open_as(dev, dev, pw, &rc);
  IT_ASSERT(m != NULL, "the device account was refused (Paho rc %d)", rc);

  /* Not allowed first, then an allowed marker: once the marker is stored,
   * ingest has seen everything the broker passed on before it. */
  it_mqtt_publish_str(m, other_topic, "{\"x\": 9, \"y\": 9, \"z\": 9}", 1);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "{\"request_id\": \"%s\"}", rid);
  it_mqtt_publish_str(m, "control/recalculate", cmd, 1);
  it_mqtt_publish_str(m, topic, "{\"x\": 1, \"y\": 2, \"z\": 3}", 1);

  struct count_ctx c = {db, dev, 1};
  IT_ASSERT(it_wait_until(has_samples, &c, 20000), "the device's own sample was not stored");
  /* The aggregator records a command as soon as it arrives; give a denied
   * one, had it got through, ample time to show. */
  it_sleep_ms(1500);
  IT_EXPECT(samples_of(db, dev) == 1, "device has %lld samples, want 1", samples_of(db, dev));
  IT_EXPECT(samples_of(db, other) == 0, "a device published for another device");
  IT_EXPECT(it_db_scalar_ll(db, "SELECT count(*) FROM rejected WHERE topic = $1", 1, other_topic) ==
                0,
            "the denied message reached ingest");
  IT_EXPECT(it_db_scalar_ll(db, "SELECT count(*) FROM recalc_runs WHERE request_id = $1", 1, rid) ==
                0,
            "a device account could command a recalculation");

  it_mqtt_close(m);
  PQfinish(db);
  return it_finish();
}
