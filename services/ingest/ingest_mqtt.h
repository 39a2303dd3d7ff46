/* Ingest's MQTT side: connects (persistent session), subscribes, receives
 * by polling, turns each message into a queue item and pushes it; when the
 * queue is full it stops receiving so the broker holds the messages. */
#ifndef INGEST_MQTT_H
#define INGEST_MQTT_H

#include "ingest_cfg.h"
#include "ingest_queue.h"
#include "ingest_writer.h"

/* Runs until a stop is requested; then disconnects from the broker (so it
 * keeps queueing for our session) and returns.  DS_OK, or an error code
 * when the client cannot be set up at all. */
DS_MUSTCHECK int ingest_mqtt_run(const struct ingest_cfg *cfg, struct ingest_queue *q,
                                 struct ingest_counters *counters);

/* The subscription filter: topic, or $share/<group>/<topic>. */
DS_MUSTCHECK int ingest_mqtt_filter(const struct ingest_cfg *cfg, char *out, size_t out_len);

#endif
