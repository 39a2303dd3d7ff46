/* MQTT over TLS (DESIGN.md § Running it, transport security).  The harness
 * runs this scenario with DS_TEST_MQTT_TLS=1: the broker's plain listener is
 * off and every service connects to the TLS listener (ssl://, the server
 * certificate checked against the stack's private CA).  Ingest is also
 * restarted on an mqtts:// URL.  Samples published over TLS, by a client
 * and through the query service, are stored; the aggregator's status
 * events arrive over TLS; a client trusting another CA is refused, and the
 * TLS port refuses plain MQTT. */
#include <stdio.h>
#include <stdlib.h>
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

/* A second, unrelated CA (its certificate in dir/other-ca.crt). */
static void make_other_ca(const char *dir, char *path, size_t len)
{
  char cmd[2048];
  int n = snprintf(path, len, "%s/other-ca.crt", dir);
  IT_ASSERT(n > 0 && (size_t)n < len, "path too long");
  n = snprintf(cmd, sizeof cmd,
               "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
               "-keyout '%s/other-ca.key' -subj '/CN=localhost' -days 1 "
               "-addext subjectAltName=IP:127.0.0.1 -out '%s' >/dev/null 2>&1",
               dir, path);
  IT_ASSERT(n > 0 && (size_t)n < sizeof cmd, "command too long");
  IT_ASSERT(system(cmd) == 0, "openssl could not make a second CA");
}

int main(void)
{
  const char *url = it_env_str("DS_TEST_MQTT_URL");
  const char *tls_url = it_env_str("DS_TEST_MQTT_TLS_URL");
  const char *user = it_env_str("DS_TEST_MQTT_USERNAME");
  const char *pw = it_env_str("DS_TEST_MQTT_PASSWORD");
  IT_ASSERT(strncmp(url, "ssl://", 6) == 0, "run with DS_TEST_MQTT_TLS=1 (MQTT URL %s)", url);
  PGconn *db = it_db_connect();
  char dev[64], dev_http[64], topic[128], path[160], rid[96], body[160];
  snprintf(dev, sizeof dev, "tls-dev-%s", it_run_tag());
  snprintf(dev_http, sizeof dev_http, "tls-http-%s", it_run_tag());
  snprintf(topic, sizeof topic, "devices/%s/data", dev);

  /* Ingest on an mqtts:// URL (the same listener). */
  IT_ASSERT(it_stackctl("stop ingest") == 0, "stop ingest");
  IT_ASSERT(it_stackctl("start ingest MQTT_URL=mqtts://%s", tls_url + strlen("ssl://")) == 0,
            "ingest did not start on mqtts://");

  /* A client over TLS; ingest stores what it sends. */
  struct it_mqtt *m = it_mqtt_open("it-tls-client");
  it_mqtt_subscribe(m, "control/recalculate/status", 1);
  it_mqtt_publish_str(m, topic, "{\"x\": 1, \"y\": 2, \"z\": 3}", 1);
  struct count_ctx c = {db, dev, 1};
  IT_EXPECT(it_wait_until(has_samples, &c, 20000), "a sample sent over TLS was not stored");

  /* The query service publishes over TLS. */
  snprintf(path, sizeof path, "/devices/%s/data", dev_http);
  struct it_http_resp r;
  IT_ASSERT(it_http("POST", path, "{\"x\": 4, \"y\": 5, \"z\": 6}", true, &r) == 0, "POST");
  IT_EXPECT(r.status == 202, "POST sample: %ld %s", r.status, r.body);
  it_http_resp_cleanup(&r);
  struct count_ctx c2 = {db, dev_http, 1};
  IT_EXPECT(it_wait_until(has_samples, &c2, 20000), "a sample sent through HTTP was not stored");

  /* The aggregator hears the command and publishes its status over TLS. */
  snprintf(rid, sizeof rid, "tls-%s", it_run_tag());
  snprintf(body, sizeof body, "{\"request_id\": \"%s\"}", rid);
  it_mqtt_publish_str(m, "control/recalculate", body, 1);
  bool done = false;
  long long until = it_mono_ms() + 30000;
  while (!done && it_mono_ms() < until) {
    struct it_msg msg;
    if (it_mqtt_next(m, 1000, &msg) != 1)
      continue;
    done = strstr(msg.payload, rid) != NULL && strstr(msg.payload, "\"done\"") != NULL;
    it_msg_cleanup(&msg);
  }
  IT_EXPECT(done, "no done status over TLS for %s", rid);
  it_mqtt_close(m);

  /* Refusals: a client that trusts another CA, plain MQTT on the TLS port,
   * and the plain port, which is off. */
  char other_ca[512];
  make_other_ca(it_env_str("DS_TEST_DIR"), other_ca, sizeof other_ca);
  int rc = 0;
  struct it_mqtt *bad = it_mqtt_open_url(tls_url, other_ca, "it-tls-wrong-ca", user, pw, &rc);
  IT_EXPECT(bad == NULL, "a client trusting another CA connected");
  it_mqtt_close(bad);
  struct it_mqtt *good = it_mqtt_open_url(tls_url, it_env_str("DS_TEST_MQTT_CA_FILE"),
                                          "it-tls-right-ca", user, pw, &rc);
  IT_EXPECT(good != NULL, "a client with the stack's CA was refused (rc %d)", rc);
  it_mqtt_close(good);

  char plain_on_tls[160];
  snprintf(plain_on_tls, sizeof plain_on_tls, "tcp://%s", tls_url + strlen("ssl://"));
  struct it_mqtt *plain = it_mqtt_open_url(plain_on_tls, NULL, "it-tls-plain", user, pw, &rc);
  IT_EXPECT(plain == NULL, "the TLS port accepted plain MQTT");
  it_mqtt_close(plain);
  plain =
      it_mqtt_open_url(it_env_str("DS_TEST_MQTT_PLAIN_URL"), NULL, "it-tls-plain2", user, pw, &rc);
  IT_EXPECT(plain == NULL, "the plain listener is on although MQTT_PLAIN=0");
  it_mqtt_close(plain);

  PQfinish(db);
  return it_finish();
}
