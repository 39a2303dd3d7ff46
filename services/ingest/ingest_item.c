/* Decoded messages (see ingest_item.h). */
#include "ingest_item.h"

#include "ds/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ingest_item *ingest_item_new_samples(const char *device, const struct ds_sample *s, size_t n)
{
  struct ingest_item *it = calloc(1, sizeof *it + n * sizeof it->samples[0]);
  if (it == NULL)
    return NULL;
  it->kind = INGEST_ITEM_SAMPLES;
  size_t dl = strnlen(device, DS_DEVICE_ID_MAX);
  memcpy(it->device, device, dl);
  it->device[dl] = '\0';
  it->n = n;
  if (n > 0)
    memcpy(it->samples, s, n * sizeof *s);
  return it;
}

/* Copies topic as valid UTF-8 text for the rejected table: characters are
 * kept (MQTT topics are UTF-8), control bytes and invalid sequences become
 * '?', so the row can always be stored and still reads as what was sent. */
static char *sanitize_topic(const char *t, size_t len)
{
  if (len > 1024)
    len = 1024;
  char *out = malloc(len + 1);
  if (out == NULL)
    return NULL;
  const unsigned char *p = (const unsigned char *)t;
  size_t o = 0, i = 0;
  while (i < len) {
    size_t n = ds_utf8_seq_len(p + i, len - i);
    if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
      out[o++] = '?';
      i++;
    } else {
      memcpy(out + o, p + i, n);
      o += n;
      i += n;
    }
  }
  out[o] = '\0';
  return out;
}

struct ingest_item *ingest_item_new_rejected(const char *topic, size_t topic_len,
                                             const void *payload, size_t payload_len,
                                             size_t keep_max, const char *reason)
{
  struct ingest_item *it = calloc(1, sizeof *it);
  if (it == NULL)
    return NULL;
  it->kind = INGEST_ITEM_REJECTED;
  size_t keep = payload_len < keep_max ? payload_len : keep_max;
  it->topic = sanitize_topic(topic, topic_len);
  it->payload = malloc(keep > 0 ? keep : 1);
  it->reason = strdup(reason);
  if (it->topic == NULL || it->payload == NULL || it->reason == NULL) {
    ingest_item_free(it);
    return NULL;
  }
  if (keep > 0)
    memcpy(it->payload, payload, keep);
  it->payload_len = keep;
  it->payload_size = payload_len;
  return it;
}

void ingest_item_free(struct ingest_item *it)
{
  if (it == NULL)
    return;
  free(it->topic);
  free(it->payload);
  free(it->reason);
  free(it);
}

size_t ingest_item_weight(const struct ingest_item *it)
{
  return it->kind == INGEST_ITEM_SAMPLES ? it->n : 1;
}
