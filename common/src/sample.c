/* The sample codec: MQTT/HTTP payloads into struct ds_sample, and topic and
 * device-id validation.  Pure: the receive time comes in as an argument.
 * Every rejection names its stable code and, in err, a precise detail such
 * as "missing_field: sample 3 has no \"y\"" (samples count from 0). */
#include "ds/sample.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ds/json.h"
#include "ds/time.h"

static const char *const reject_codes[] = {
    [DS_REJECT_NONE] = "none",
    [DS_REJECT_BAD_TOPIC] = "bad_topic",
    [DS_REJECT_TOO_LARGE] = "too_large",
    [DS_REJECT_EMPTY] = "empty",
    [DS_REJECT_BAD_JSON] = "bad_json",
    [DS_REJECT_NOT_OBJECT] = "not_object",
    [DS_REJECT_MISSING_FIELD] = "missing_field",
    [DS_REJECT_BAD_NUMBER] = "bad_number",
    [DS_REJECT_BAD_TS] = "bad_ts",
    [DS_REJECT_TOO_MANY] = "too_many",
};

const char *ds_reject_code(enum ds_reject r)
{
  if ((unsigned)r >= sizeof reject_codes / sizeof reject_codes[0])
    return "unknown";
  return reject_codes[r];
}

static bool id_char(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool ds_device_id_valid(const char *s, size_t len)
{
  if (s == NULL || len == 0 || len > DS_DEVICE_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!id_char(s[i]))
      return false;
  return true;
}

#define TOPIC_PREFIX "devices/"
#define TOPIC_SUFFIX "/data"

int ds_topic_device(const char *topic, size_t len, char dev[DS_DEVICE_ID_MAX + 1],
                    char err[DS_ERRLEN])
{
  const size_t pre = sizeof TOPIC_PREFIX - 1, suf = sizeof TOPIC_SUFFIX - 1;
  if (topic == NULL || len < pre + suf || memcmp(topic, TOPIC_PREFIX, pre) != 0 ||
      memcmp(topic + len - suf, TOPIC_SUFFIX, suf) != 0) {
    if (err != NULL)
      snprintf(err, DS_ERRLEN, "bad_topic: topic is not devices/{device_id}/data");
    return DS_EINVAL;
  }
  const char *id = topic + pre;
  size_t id_len = len - pre - suf;
  if (!ds_device_id_valid(id, id_len)) {
    if (err != NULL)
      snprintf(err, DS_ERRLEN,
               "bad_topic: device id must be 1-%d characters of A-Z a-z 0-9 _ . - (got %zu bytes)",
               DS_DEVICE_ID_MAX, id_len);
    return DS_EINVAL;
  }
  memcpy(dev, id, id_len);
  dev[id_len] = '\0';
  return DS_OK;
}

/* One failed decode: the reason and its detail. */
struct reject_info {
  enum ds_reject code;
  char detail[DS_ERRLEN - 32]; /* leaves room for the "<code>: " prefix */
};

static int fail(struct reject_info *ri, enum ds_reject code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reject_info *ri, enum ds_reject code, const char *fmt, ...)
{
  ri->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ri->detail, sizeof ri->detail, fmt, ap);
  va_end(ap);
  return DS_EINVAL;
}

static const char *const axis_names[3] = {"x", "y", "z"};

/* "a number", "an object": for error details. */
static const char *article(const struct json_object *v)
{
  enum json_type t = json_object_get_type(v);
  return t == json_type_object || t == json_type_array ? "an" : "a";
}

/* Decodes sample number idx (object o) into *out. */
static int decode_one(struct json_object *o, size_t idx, int64_t now_us, struct ds_sample *out,
                      struct reject_info *ri)
{
  if (json_object_get_type(o) != json_type_object)
    return fail(ri, DS_REJECT_NOT_OBJECT, "sample %zu is %s %s, not an object", idx, article(o),
                ds_json_type_name(o));

  double v[3];
  for (int a = 0; a < 3; a++) {
    struct json_object *f;
    if (!json_object_object_get_ex(o, axis_names[a], &f))
      return fail(ri, DS_REJECT_MISSING_FIELD, "sample %zu has no \"%s\"", idx, axis_names[a]);
    int rc = ds_json_as_double(f, &v[a]);
    if (rc == DS_EINVAL)
      return fail(ri, DS_REJECT_BAD_NUMBER, "sample %zu \"%s\" is %s %s, not a number", idx,
                  axis_names[a], article(f), ds_json_type_name(f));
    if (rc != DS_OK)
      return fail(
          ri, DS_REJECT_BAD_NUMBER,
          json_object_get_type(f) == json_type_int
              ? "sample %zu \"%s\" is an integer beyond 64 bits (write it as a decimal, e.g. 1e20)"
              : "sample %zu \"%s\" is not a finite number",
          idx, axis_names[a]);
  }

  int64_t ts = now_us;
  struct json_object *t;
  if (json_object_object_get_ex(o, "ts", &t)) {
    enum json_type tt = json_object_get_type(t);
    if (tt == json_type_string) {
      if (ds_time_parse_rfc3339(json_object_get_string(t), (size_t)json_object_get_string_len(t),
                                &ts) != DS_OK)
        return fail(ri, DS_REJECT_BAD_TS,
                    "sample %zu \"ts\" is not an RFC 3339 time in years 1970-9999", idx);
    } else if (tt == json_type_int) {
      int64_t ms;
      if (ds_json_as_int64(t, &ms) != DS_OK || ds_time_from_unix_ms(ms, &ts) != DS_OK)
        return fail(ri, DS_REJECT_BAD_TS,
                    "sample %zu \"ts\" is out of range (Unix milliseconds in years 1970-9999)",
                    idx);
    } else if (tt == json_type_double) {
      return fail(ri, DS_REJECT_BAD_TS, "sample %zu \"ts\" is not an integer (Unix milliseconds)",
                  idx);
    } else {
      return fail(ri, DS_REJECT_BAD_TS,
                  "sample %zu \"ts\" is %s %s, not an RFC 3339 string or integer Unix milliseconds",
                  idx, article(t), ds_json_type_name(t));
    }
  }
  out->ts_us = ts;
  out->x = v[0];
  out->y = v[1];
  out->z = v[2];
  return DS_OK;
}

/* Decodes into out; on failure fills *ri.  out may be written even then. */
static int decode(const char *payload, size_t len, int64_t now_us, struct ds_sample *out, size_t *n,
                  struct reject_info *ri)
{
  if (len > DS_PAYLOAD_MAX)
    return fail(ri, DS_REJECT_TOO_LARGE, "payload is %zu bytes, more than the limit of %d", len,
                DS_PAYLOAD_MAX);
  if (payload == NULL || ds_json_is_blank(payload, len))
    return fail(ri, DS_REJECT_EMPTY, "payload is empty");

  struct json_object *root = NULL;
  char jerr[DS_ERRLEN];
  int rc = ds_json_parse(payload, len, DS_PAYLOAD_MAX, &root, jerr);
  if (rc == DS_ENOMEM)
    return rc;
  if (rc != DS_OK)
    return fail(ri, DS_REJECT_BAD_JSON, "%s", jerr);

  enum json_type t = json_object_get_type(root);
  if (t == json_type_object) {
    rc = decode_one(root, 0, now_us, out, ri);
    if (rc == DS_OK)
      *n = 1;
  } else if (t == json_type_array) {
    size_t count = json_object_array_length(root);
    if (count == 0) {
      rc = fail(ri, DS_REJECT_EMPTY, "payload is an empty array");
    } else if (count > DS_SAMPLES_MAX) {
      rc = fail(ri, DS_REJECT_TOO_MANY, "array holds %zu samples, more than the limit of %d", count,
                DS_SAMPLES_MAX);
    } else {
      for (size_t i = 0; i < count && rc == DS_OK; i++)
        rc = decode_one(json_object_array_get_idx(root, i), i, now_us, &out[i], ri);
      if (rc == DS_OK)
        *n = count;
    }
  } else {
    rc = fail(ri, DS_REJECT_NOT_OBJECT, "payload is %s %s, not an object or an array of objects",
              article(root), ds_json_type_name(root));
  }
  json_object_put(root);
  return rc;
}

int ds_sample_decode(const char *payload, size_t len, int64_t now_us, struct ds_sample *out,
                     size_t *n, enum ds_reject *reject, char err[DS_ERRLEN])
{
  struct reject_info ri = {.code = DS_REJECT_NONE};
  int rc = decode(payload, len, now_us, out, n, &ri);
  if (rc == DS_OK) {
    if (reject != NULL)
      *reject = DS_REJECT_NONE;
    return DS_OK;
  }
  if (rc == DS_ENOMEM)
    return rc;
  if (reject != NULL)
    *reject = ri.code;
  if (err != NULL)
    snprintf(err, DS_ERRLEN, "%s: %s", ds_reject_code(ri.code), ri.detail);
  return rc;
}
