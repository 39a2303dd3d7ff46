/* A subscriber over Paho's MQTTAsync (MQTT 3.1.1) for services that must
 * make a message durable before the broker hears it was received.
 *
 * The message callback runs on Paho's receive thread, and Paho (1.3.10 and
 * later, no client persistence, nothing queued in the client) sends the
 * PUBACK of a QoS 1 message only after the callback returns.  So whatever
 * the callback has written before it returns survives the process being
 * killed at any moment: a message not yet acknowledged is redelivered by
 * the broker (DUP set, same packet id) on the next connection of the same
 * session.  scenario_ingest_faults proves this ordering against the real
 * library and broker.
 *
 * The callback must not return before the message is safe; it may block
 * (the broker then holds further messages: back-pressure), but while it
 * blocks no keep-alive traffic is read, so block in slices and expect the
 * connection to be lost after a long block (the message is then simply
 * redelivered).  Paho holds its own lock while the callback runs, so every
 * Paho call from another thread (subscribe, disconnect) waits for the
 * callback to return; ds_mqtta_is_connected does not.  Connecting,
 * subscribing and disconnecting are called from one other thread. */
#ifndef DS_MQTT_ASYNC_H
#define DS_MQTT_ASYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "ds/err.h"
#include "ds/mqtt.h"

struct ds_mqtta;

/* A received message; every pointer is borrowed for the callback only. */
struct ds_mqtta_msg {
  const char *topic;
  size_t topic_len;
  const void *payload;
  size_t payload_len;
  int qos;
  bool dup;  /* the broker's DUP flag: this may be a redelivery */
  int msgid; /* packet id (0 for QoS 0) */
};

typedef void (*ds_mqtta_on_message)(void *ctx, const struct ds_mqtta_msg *msg);

/* Creates a client (not connected); on_message(ctx, msg) receives every
 * message.  opts->publish_only is ignored.  Free with ds_mqtta_free. */
DS_MUSTCHECK int ds_mqtta_new(const struct ds_mqtt_opts *opts, ds_mqtta_on_message on_message,
                              void *ctx, struct ds_mqtta **out, char err[DS_ERRLEN]);
/* Disconnects (waiting up to timeout_ms for the broker) and frees; NULL ok. */
void ds_mqtta_free(struct ds_mqtta *m, int timeout_ms);

/* One connection attempt, waiting up to timeout_ms for the broker's answer.
 * *session_present tells whether the broker resumed a stored session (it
 * then sends what it queued right away, possibly before any SUBACK); it is
 * also true when that is not known yet (the connection was seen before
 * Paho's success callback, which may wait behind a blocked message
 * callback). */
DS_MUSTCHECK int ds_mqtta_connect(struct ds_mqtta *m, int timeout_ms, bool *session_present,
                                  char err[DS_ERRLEN]);
/* Subscribes and waits up to timeout_ms for the SUBACK; a refusal (ACL) is
 * DS_EMQTT with "refused by broker" in err.  timeout_ms 0: sends the
 * SUBSCRIBE and returns; a refusal arriving later is reported by
 * ds_mqtta_take_error.  (Waiting is wrong on a resumed session whose
 * message callback may be blocked: the SUBACK is read after it.) */
DS_MUSTCHECK int ds_mqtta_subscribe(struct ds_mqtta *m, const char *filter, int qos, int timeout_ms,
                                    char err[DS_ERRLEN]);
/* True, with the reason in err, once when an unwaited subscription failed. */
bool ds_mqtta_take_error(struct ds_mqtta *m, char err[DS_ERRLEN]);
/* False once the connection is lost (until the next ds_mqtta_connect). */
bool ds_mqtta_is_connected(struct ds_mqtta *m);
/* Sends DISCONNECT and waits up to timeout_ms; no callback runs after it
 * returns. */
void ds_mqtta_disconnect(struct ds_mqtta *m, int timeout_ms);

#endif
