/* The MQTT keep-alive of devicestats-query (see query_mqtt.h). */
#include "query_mqtt.h"

#include "ds/err.h"
#include "ds/log.h"
#include "ds/mqtt.h"

void query_mqtt_init(struct query_mqtt *k, struct ds_mqtt *mqtt, long retry_min_ms,
                     long retry_max_ms)
{
  k->mqtt = mqtt;
  ds_backoff_init(&k->backoff, retry_min_ms, retry_max_ms);
  atomic_init(&k->up, mqtt != NULL && ds_mqtt_is_connected(mqtt));
}

void query_mqtt_keep(struct query_mqtt *k, int64_t now_ms)
{
  if (k->mqtt == NULL)
    return;
  bool up = ds_mqtt_is_connected(k->mqtt);
  if (!up && ds_backoff_due(&k->backoff, now_ms)) {
    char err[DS_ERRLEN] = "";
    up = ds_mqtt_connect(k->mqtt, err) == DS_OK;
    if (!up && ds_backoff_failed(&k->backoff, now_ms))
      ds_log_msg(DS_LOG_WARN, "mqtt_unavailable", "%s", err);
  }
  if (up && ds_backoff_succeeded(&k->backoff))
    ds_log_msg(DS_LOG_INFO, "mqtt_connected", "broker is reachable");
  atomic_store(&k->up, up);
}

bool query_mqtt_up(const struct query_mqtt *k)
{
  return atomic_load(&k->up);
}
