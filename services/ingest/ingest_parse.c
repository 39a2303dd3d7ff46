/* MQTT message -> queue item (see ingest_parse.h). */
#include "ingest_parse.h"

#include <stdio.h>

#include "ds/sample.h"

struct ingest_item *ingest_parse_message(const char *topic, size_t topic_len, const void *payload,
                                         size_t payload_len, size_t payload_size, int64_t now_us,
                                         size_t keep_max, struct ds_sample scratch[DS_SAMPLES_MAX])
{
  char dev[DS_DEVICE_ID_MAX + 1];
  char err[DS_ERRLEN];
  /* Both codec calls write "<code>: <detail>" into err. */
  if (ds_topic_device(topic, topic_len, dev, err) != DS_OK)
    return ingest_item_new_rejected(topic, topic_len, payload, payload_len, keep_max, err);
  if (payload_size > DS_PAYLOAD_MAX || payload_len < payload_size) {
    snprintf(err, DS_ERRLEN, "too_large: payload is %zu bytes, more than the limit of %d",
             payload_size, DS_PAYLOAD_MAX);
    struct ingest_item *it =
        ingest_item_new_rejected(topic, topic_len, payload, payload_len, keep_max, err);
    if (it != NULL)
      it->payload_size = payload_size;
    return it;
  }
  size_t n = 0;
  enum ds_reject why = DS_REJECT_NONE;
  int rc = ds_sample_decode(payload, payload_len, now_us, scratch, &n, &why, err);
  if (rc == DS_ENOMEM)
    return NULL;
  if (rc != DS_OK)
    return ingest_item_new_rejected(topic, topic_len, payload, payload_len, keep_max, err);
  return ingest_item_new_samples(dev, scratch, n);
}
