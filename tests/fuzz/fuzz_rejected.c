/* libFuzzer target for ingest's message parsing and the cleaning of a
 * rejected message's topic (what GET /rejected shows).  Input: a 2-byte
 * big-endian topic length, the topic, then the payload.  Checks beyond "no
 * crash": an accepted message has a valid device id and 1..1000 samples; a
 * rejected one keeps a reason, at most keep_max payload bytes, and a topic
 * that is valid UTF-8 without control characters, no longer than what was
 * sent (and at most 1024 bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds/utf8.h"
#include "ingest_item.h"
#include "ingest_parse.h"

#define KEEP_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ds_sample scratch[DS_SAMPLES_MAX];

static void check_rejected(const struct ingest_item *it, size_t topic_len, size_t payload_len)
{
  size_t tl = strlen(it->topic);
  if (tl > topic_len || tl > 1024 || !ds_utf8_valid((const unsigned char *)it->topic, tl))
    abort();
  for (size_t i = 0; i < tl; i++)
    if ((unsigned char)it->topic[i] < 0x20 || it->topic[i] == 0x7f)
      abort();
  if (it->reason == NULL || it->reason[0] == '\0' || it->payload_len > KEEP_MAX ||
      it->payload_len > payload_len || it->payload_size != payload_len)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  size_t tl = (size_t)data[0] << 8 | data[1];
  if (tl > size - 2)
    tl = size - 2;
  const char *topic = (const char *)data + 2;
  const uint8_t *payload = data + 2 + tl;
  size_t pl = size - 2 - tl;
  struct ingest_item *it = ingest_parse_message(topic, tl, payload, pl, pl,
                                                INT64_C(1795860900123000), KEEP_MAX, scratch);
  if (it != NULL) {
    if (it->kind == INGEST_ITEM_SAMPLES) {
      if (!ds_device_id_valid(it->device, strlen(it->device)) || it->n < 1 ||
          it->n > DS_SAMPLES_MAX)
        abort();
    } else {
      check_rejected(it, tl, pl);
    }
    ingest_item_free(it);
  }
  /* The whole input as a topic. */
  it = ingest_item_new_rejected((const char *)data, size, NULL, 0, KEEP_MAX, "bad_topic");
  if (it != NULL) {
    check_rejected(it, size, 0);
    ingest_item_free(it);
  }
  return 0;
}
