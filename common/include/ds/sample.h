/* The sample codec: MQTT/HTTP payloads (a JSON object or an array of up to
 * DS_SAMPLES_MAX objects) into samples, and topic/device-id validation.
 * Pure: no clock, sockets or environment (the receive time is passed in). */
#ifndef DS_SAMPLE_H
#define DS_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"

#define DS_SAMPLES_MAX 1000
#define DS_DEVICE_ID_MAX 64
/* Largest payload accepted: 1000 samples with generous formatting. */
#define DS_PAYLOAD_MAX (256 * 1024)

struct ds_sample {
  int64_t ts_us; /* microseconds since the epoch, UTC */
  double x, y, z;
};

/* Rejection reasons; the stable code is ds_reject_code(), a precise detail
 * is written into the caller's err buffer. */
enum ds_reject {
  DS_REJECT_NONE = 0,
  DS_REJECT_BAD_TOPIC,     /* "bad_topic" */
  DS_REJECT_TOO_LARGE,     /* "too_large": payload over DS_PAYLOAD_MAX */
  DS_REJECT_EMPTY,         /* "empty": zero-length payload or [] */
  DS_REJECT_BAD_JSON,      /* "bad_json": not JSON, bad UTF-8, trailing data */
  DS_REJECT_NOT_OBJECT,    /* "not_object": not an object/array of objects */
  DS_REJECT_MISSING_FIELD, /* "missing_field": x, y or z absent */
  DS_REJECT_BAD_NUMBER,    /* "bad_number": not a number, or not finite */
  DS_REJECT_BAD_TS,        /* "bad_ts": ts neither RFC 3339 nor integer ms, or out of range */
  DS_REJECT_TOO_MANY,      /* "too_many": array over DS_SAMPLES_MAX */
};

/* Stable snake_case name of r. */
const char *ds_reject_code(enum ds_reject r);

/* Whether s[0..len) is a valid device id: 1..64 of [A-Za-z0-9_.-]. */
bool ds_device_id_valid(const char *s, size_t len);

/* Extracts the device id from "devices/{id}/data" (topic need not be
 * NUL-terminated) into dev (NUL-terminated).  Returns DS_OK, or DS_EINVAL
 * with detail in err. */
DS_MUSTCHECK int ds_topic_device(const char *topic, size_t len, char dev[DS_DEVICE_ID_MAX + 1],
                                 char err[DS_ERRLEN]);

/* Decodes payload[0..len) into out (capacity DS_SAMPLES_MAX), *n samples.
 * Samples without ts get now_us.  Accepts or rejects the payload whole: on
 * rejection returns DS_EINVAL, *reject set, detail in err ("<code>: ...",
 * samples numbered from 0, e.g. "missing_field: sample 3 has no \"y\""),
 * *n untouched (out[] may have been written: treat it as garbage).
 * DS_ENOMEM if json-c cannot allocate (then *reject is not set).
 * reject and err may be NULL.  On success *reject is DS_REJECT_NONE.
 * Rules beyond DESIGN.md: duplicate keys, last wins (like JSON.parse);
 * integers beyond 64 bits (json-c clamps them) are bad_number, and so is
 * exactly -9223372036854775808 or 18446744073709551615 (the clamp values);
 * "ts" as a non-integer number (1.5, 1.7e12, 1764324900123.0) or null is
 * bad_ts; non-finite numbers and NaN/Infinity literals in ignored keys are
 * tolerated; see ds/json.h for what "strict JSON" means. */
DS_MUSTCHECK int ds_sample_decode(const char *payload, size_t len, int64_t now_us,
                                  struct ds_sample *out, size_t *n, enum ds_reject *reject,
                                  char err[DS_ERRLEN]);

#endif
