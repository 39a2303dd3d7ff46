/* MQTT helpers over Paho MQTT C (the synchronous MQTTClient, MQTT 3.1.1):
 * connect with credentials, reconnect, subscribe, receive by polling (which
 * gives natural back-pressure: a client that stops receiving makes the
 * broker queue), publish and wait for the acknowledgement. */
#ifndef DS_MQTT_H
#define DS_MQTT_H

#include <stdbool.h>
#include <stddef.h>

#include "ds/err.h"

struct ds_mqtt;

struct ds_mqtt_opts {
  const char *url;       /* tcp://host:port, or ssl:// / mqtts:// for TLS */
  const char *client_id; /* must be unique per connected client */
  const char *username;  /* NULL for none */
  const char *password;  /* NULL for none */
  bool clean_session;    /* false: the broker keeps our subscriptions and queue */
  int keepalive_s;
  /* true: a Paho background thread keeps the connection alive (pings,
   * acknowledgements) for a client that only publishes; ds_mqtt_receive is
   * then unavailable.  false: the caller polls ds_mqtt_receive at least
   * once per keepalive interval. */
  bool publish_only;
  /* TLS (ssl:// or mqtts:// URLs only): PEM file of the CA(s) the broker's
   * certificate must chain to, its host name checked too; NULL: the
   * system's trust store. */
  const char *ca_file;
};

/* True when url asks for TLS (ssl:// or mqtts://; Paho 1.3.11 takes both). */
bool ds_mqtt_url_is_tls(const char *url);
/* Checks the TLS settings of opts before a client is created: DS_EINVAL
 * with err naming MQTT_CA_FILE when it is set for a TLS URL but cannot be
 * read. */
DS_MUSTCHECK int ds_mqtt_check_tls(const struct ds_mqtt_opts *opts, char err[DS_ERRLEN]);

/* Creates a client (not yet connected).  *out is freed by ds_mqtt_free. */
DS_MUSTCHECK int ds_mqtt_new(const struct ds_mqtt_opts *opts, struct ds_mqtt **out,
                             char err[DS_ERRLEN]);
/* Disconnects (if connected, waiting up to timeout_ms) and frees; NULL ok. */
void ds_mqtt_free(struct ds_mqtt *m, int timeout_ms);

/* One connection attempt. */
DS_MUSTCHECK int ds_mqtt_connect(struct ds_mqtt *m, char err[DS_ERRLEN]);
/* Retries ds_mqtt_connect with capped backoff until connected (DS_OK), a
 * stop is requested (DS_ESTOPPED) or timeout_ms passes (<0: for ever).
 * Logs mqtt_unavailable once and mqtt_connected when it comes back. */
DS_MUSTCHECK int ds_mqtt_connect_retry(struct ds_mqtt *m, long max_backoff_ms, long timeout_ms);
bool ds_mqtt_is_connected(struct ds_mqtt *m);
DS_MUSTCHECK int ds_mqtt_subscribe(struct ds_mqtt *m, const char *filter, int qos,
                                   char err[DS_ERRLEN]);

/* A received message; ds_mqtt_message_free releases it. */
struct ds_mqtt_message {
  char *topic;
  size_t topic_len;
  void *payload;
  size_t payload_len;
  int qos;
  void *impl; /* Paho's message */
};

/* Waits up to timeout_ms for a message.  DS_OK with *got set (and msg
 * filled when true); DS_EMQTT when the connection is lost. */
DS_MUSTCHECK int ds_mqtt_receive(struct ds_mqtt *m, int timeout_ms, bool *got,
                                 struct ds_mqtt_message *msg);
void ds_mqtt_message_free(struct ds_mqtt_message *msg);

/* Publishes and, for qos > 0, waits up to timeout_ms for the broker's
 * acknowledgement.  Safe to call from several threads. */
DS_MUSTCHECK int ds_mqtt_publish(struct ds_mqtt *m, const char *topic, const void *payload,
                                 size_t len, int qos, bool retain, int timeout_ms,
                                 char err[DS_ERRLEN]);

#endif
