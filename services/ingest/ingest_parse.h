/* Turns one MQTT message into a queue item: the device's samples when the
 * topic and payload are valid, else a rejection with the codec's reason.
 * Pure: the receive time is passed in. */
#ifndef INGEST_PARSE_H
#define INGEST_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest_item.h"

/* Returns a new item (ingest_item_free), or NULL when out of memory.
 * payload[0..payload_len) is what was kept of a payload of payload_size
 * bytes (a payload over DS_PAYLOAD_MAX is rejected whole, so only its first
 * bytes need keeping).  keep_max bounds the payload bytes a rejection
 * keeps; scratch is the caller's decode space, reused from message to
 * message. */
struct ingest_item *ingest_parse_message(const char *topic, size_t topic_len, const void *payload,
                                         size_t payload_len, size_t payload_size, int64_t now_us,
                                         size_t keep_max, struct ds_sample scratch[DS_SAMPLES_MAX]);

#endif
