/* Ingest's MQTT side: connects (persistent session) and subscribes over
 * Paho's MQTTAsync, and appends every message to the spool inside the
 * message callback, before Paho acknowledges it.  At the spool's bound the
 * callback waits, so the broker holds the rest.  A redelivery of a message
 * already spooled (DUP set, same packet id, topic and payload) is counted
 * and not spooled again. */
#ifndef INGEST_MQTT_H
#define INGEST_MQTT_H

#include "ingest_cfg.h"
#include "ingest_spool.h"
#include "ingest_writer.h"

/* Runs until a stop is requested; then disconnects from the broker (so it
 * keeps queueing for our session) and returns.  DS_OK, or an error code
 * when the client cannot be set up at all. */
DS_MUSTCHECK int ingest_mqtt_run(const struct ingest_cfg *cfg, struct ingest_spool *spool,
                                 struct ingest_counters *counters);

/* The subscription filter: topic, or $share/<group>/<topic>. */
DS_MUSTCHECK int ingest_mqtt_filter(const struct ingest_cfg *cfg, char *out, size_t out_len);

#endif
