/* The simulated devices of devicestats-loadgen: D devices split over
 * --connections libmosquitto connections (the library mosquitto_pub is
 * built on: Paho's MQTTClient took 3x its CPU per message, measured, and
 * the issue asks for >= 0.9x a raw client), one publishing thread each
 * plus the library's network thread, which counts PUBACKs; at a fixed rate
 * per device or as fast as the window of messages in flight allows, single
 * objects or arrays of K. */
#ifndef LOAD_MQTT_H
#define LOAD_MQTT_H

#include "load_run.h"

struct load_mqtt_totals {
  long long sent_msgs, sent_samples, acked, failed;
  int failed_conn; /* a connection failed or was lost */
};

/* Connects every connection, then publishes until each device has sent its
 * share of --samples or run->stop is set, then waits (at most 10 s) for
 * the last PUBACKs and disconnects.  Counts into run (published, messages,
 * errors, dev_published) and *t.  Returns 0, or -1 when it could not
 * connect or start (with a line on stderr). */
int load_mqtt_run(struct load_run *run, struct load_mqtt_totals *t);

/* Appends one sample object to buf at *len (room for LOAD_SAMPLE_TEXT_MAX
 * per sample); ts_ms < 0 leaves ts out. */
#define LOAD_SAMPLE_TEXT_MAX 96
void load_put_sample(char *buf, size_t cap, size_t *len, double x, double y, double z,
                     long long ts_ms);

#endif
