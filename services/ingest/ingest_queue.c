/* Bounded MQTT-thread -> writer-thread queue (see ingest_queue.h). */
#include "ingest_queue.h"

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

int ingest_queue_init(struct ingest_queue *q, size_t max_weight)
{
  memset(q, 0, sizeof *q);
  q->max_weight = max_weight;
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0)
    return DS_ENOMEM;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rc = DS_OK;
  if (pthread_mutex_init(&q->mu, NULL) != 0 || pthread_cond_init(&q->not_empty, &ca) != 0 ||
      pthread_cond_init(&q->not_full, &ca) != 0)
    rc = DS_ENOMEM;
  pthread_condattr_destroy(&ca);
  return rc;
}

void ingest_queue_cleanup(struct ingest_queue *q)
{
  struct ingest_item *it = q->head;
  while (it != NULL) {
    struct ingest_item *next = it->next;
    ingest_item_free(it);
    it = next;
  }
  q->head = q->tail = NULL;
  pthread_cond_destroy(&q->not_empty);
  pthread_cond_destroy(&q->not_full);
  pthread_mutex_destroy(&q->mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static void append_locked(struct ingest_queue *q, struct ingest_item *it)
{
  it->next = NULL;
  if (q->tail != NULL)
    q->tail->next = it;
  else
    q->head = it;
  q->tail = it;
  q->weight += ingest_item_weight(it);
  pthread_cond_signal(&q->not_empty);
}

void ingest_queue_push_force(struct ingest_queue *q, struct ingest_item *it)
{
  pthread_mutex_lock(&q->mu);
  append_locked(q, it);
  pthread_mutex_unlock(&q->mu);
}

bool ingest_queue_push(struct ingest_queue *q, struct ingest_item *it, int wait_ms)
{
  size_t w = ingest_item_weight(it);
  struct timespec dl;
  deadline_in(&dl, wait_ms);
  pthread_mutex_lock(&q->mu);
  while (q->head != NULL && q->weight + w > q->max_weight && !q->closed) {
    if (pthread_cond_timedwait(&q->not_full, &q->mu, &dl) == ETIMEDOUT)
      break;
  }
  bool ok = q->head == NULL || q->weight + w <= q->max_weight || q->closed;
  if (ok)
    append_locked(q, it);
  pthread_mutex_unlock(&q->mu);
  return ok;
}

struct ingest_item *ingest_queue_pop(struct ingest_queue *q, int wait_ms, bool *closed)
{
  struct timespec dl;
  deadline_in(&dl, wait_ms);
  pthread_mutex_lock(&q->mu);
  while (q->head == NULL && !q->closed && wait_ms > 0) {
    if (pthread_cond_timedwait(&q->not_empty, &q->mu, &dl) == ETIMEDOUT)
      break;
  }
  struct ingest_item *it = q->head;
  if (it != NULL) {
    q->head = it->next;
    if (q->head == NULL)
      q->tail = NULL;
    q->weight -= ingest_item_weight(it);
    it->next = NULL;
    pthread_cond_signal(&q->not_full);
  }
  *closed = q->closed && q->head == NULL;
  pthread_mutex_unlock(&q->mu);
  return it;
}

void ingest_queue_close(struct ingest_queue *q)
{
  pthread_mutex_lock(&q->mu);
  q->closed = true;
  pthread_cond_broadcast(&q->not_empty);
  pthread_cond_broadcast(&q->not_full);
  pthread_mutex_unlock(&q->mu);
}

size_t ingest_queue_weight(struct ingest_queue *q)
{
  pthread_mutex_lock(&q->mu);
  size_t w = q->weight;
  pthread_mutex_unlock(&q->mu);
  return w;
}
