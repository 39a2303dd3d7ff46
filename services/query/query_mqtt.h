/* Keeps the query service's MQTT publisher (POST /devices/{id}/data, POST
 * /tasks/recalculate) connected: one non-blocking step per server-loop turn
 * that reconnects with ds_backoff (RETRY_MIN_MS .. RETRY_MAX_MS), logging
 * event=mqtt_unavailable once when an outage begins and event=mqtt_connected
 * once when it ends. */
#ifndef QUERY_MQTT_H
#define QUERY_MQTT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ds/backoff.h"

struct ds_mqtt;

struct query_mqtt {
  struct ds_mqtt *mqtt; /* borrowed; NULL: no broker configured */
  struct ds_backoff backoff;
  atomic_bool up; /* read by any thread (/metrics) */
};

/* k in the caller's storage; mqtt borrowed (may be NULL), must outlive k.
 * Makes no attempt yet. */
void query_mqtt_init(struct query_mqtt *k, struct ds_mqtt *mqtt, long retry_min_ms,
                     long retry_max_ms);
/* One step at now_ms (ds_time_mono_ms): when the publisher is down and an
 * attempt is due, one connect attempt (bounded by the client's connect
 * timeout); logs state changes as above. */
void query_mqtt_keep(struct query_mqtt *k, int64_t now_ms);
/* Whether the broker was connected at the last step. */
bool query_mqtt_up(const struct query_mqtt *k);

#endif
