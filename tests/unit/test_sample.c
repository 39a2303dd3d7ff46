/* Tests for ds/sample.h: topic and device-id validation, and the payload
 * codec (tables of accepted and rejected payloads with their exact reason,
 * boundaries, whole-array rejection, a mutation smoke test, a timing). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds/sample.h"
#include "ds/time.h"
#include "ds_test.h"

#define NOW INT64_C(1795860900123000) /* 2026-11-28T10:15:00.123Z */

/* ---- device ids and topics ---- */

static void test_device_id_valid(void)
{
  CU_ASSERT(ds_device_id_valid("dev-7", 5));
  CU_ASSERT(ds_device_id_valid("a", 1));
  CU_ASSERT(ds_device_id_valid("A.Z_a-z.0_9", 11));
  CU_ASSERT(ds_device_id_valid("...", 3));
  char id[DS_DEVICE_ID_MAX + 2];
  memset(id, 'x', sizeof id);
  CU_ASSERT(ds_device_id_valid(id, DS_DEVICE_ID_MAX));
  CU_ASSERT_FALSE(ds_device_id_valid(id, DS_DEVICE_ID_MAX + 1));
  CU_ASSERT_FALSE(ds_device_id_valid("", 0));
  CU_ASSERT_FALSE(ds_device_id_valid(NULL, 0));
  const char *bad[] = {"dev 7", "dev/7", "dev+",  "dev#", "d\xc3\xa9v", "dev\t", "dev:7",
                       "dev*",  "dev\"", "dev\\", "dev%", "dev@",       "dev~"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CU_ASSERT_FALSE(ds_device_id_valid(bad[i], strlen(bad[i])));
  CU_ASSERT_FALSE(ds_device_id_valid("de\0v", 4));
  /* The length bounds the id: "dev-7!" cut before the '!' is valid. */
  CU_ASSERT(ds_device_id_valid("dev-7!", 5));
}

struct topic_case {
  const char *topic;
  const char *dev; /* NULL: rejected */
};

static const struct topic_case topic_cases[] = {
    {"devices/dev-7/data", "dev-7"},
    {"devices/a/data", "a"},
    {"devices/A.Z_a-z.0_9/data", "A.Z_a-z.0_9"},
    {"devices/1234567890123456789012345678901234567890123456789012345678901234/data",
     "1234567890123456789012345678901234567890123456789012345678901234"},
    {"devices/12345678901234567890123456789012345678901234567890123456789012345/data", NULL},
    {"devices//data", NULL},
    {"devices/a/b/data", NULL},
    {"devices/dev 7/data", NULL},
    {"devices/+/data", NULL},
    {"devices/#/data", NULL},
    {"devices/d\xc3\xa9v/data", NULL},
    {"device/a/data", NULL},
    {"Devices/a/data", NULL},
    {"/devices/a/data", NULL},
    {"devices/a/data/", NULL},
    {"devices/a/dat", NULL},
    {"devices/a/Data", NULL},
    {"devices/a", NULL},
    {"devices/", NULL},
    {"devices/data", NULL},
    {"devices/a/status", NULL},
    {"control/recalculate", NULL},
    {"", NULL},
    {NULL, NULL},
};

static void test_topic_table(void)
{
  for (const struct topic_case *c = topic_cases; c->topic != NULL; c++) {
    char dev[DS_DEVICE_ID_MAX + 1] = "untouched";
    char err[DS_ERRLEN] = "";
    int rc = ds_topic_device(c->topic, strlen(c->topic), dev, err);
    if ((rc == DS_OK) != (c->dev != NULL))
      fprintf(stderr, "\n  topic \"%s\": rc=%d err=%s\n", c->topic, rc, err);
    if (c->dev != NULL) {
      CU_ASSERT_EQUAL(rc, DS_OK);
      CU_ASSERT_STRING_EQUAL(dev, c->dev);
    } else {
      CU_ASSERT_EQUAL(rc, DS_EINVAL);
      CU_ASSERT(strncmp(err, "bad_topic: ", 11) == 0);
      CU_ASSERT_STRING_EQUAL(dev, "untouched");
    }
  }
}

static void test_topic_not_nul_terminated(void)
{
  char dev[DS_DEVICE_ID_MAX + 1];
  char err[DS_ERRLEN];
  const char *t = "devices/dev-7/dataXYZ";
  CU_ASSERT_EQUAL(ds_topic_device(t, 18, dev, err), DS_OK);
  CU_ASSERT_STRING_EQUAL(dev, "dev-7");
  CU_ASSERT_EQUAL(ds_topic_device(t, strlen(t), dev, err), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_topic_device("devices/x\0y/data", 16, dev, err), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_topic_device("devices/x/data", 14, dev, NULL), DS_OK);
  CU_ASSERT_EQUAL(ds_topic_device("nope", 4, dev, NULL), DS_EINVAL);
}

static void test_reject_codes(void)
{
  const char *want[] = {"none",       "bad_topic",     "too_large",  "empty",  "bad_json",
                        "not_object", "missing_field", "bad_number", "bad_ts", "too_many"};
  for (int r = DS_REJECT_NONE; r <= DS_REJECT_TOO_MANY; r++)
    CU_ASSERT_STRING_EQUAL(ds_reject_code((enum ds_reject)r), want[r]);
  CU_ASSERT_STRING_EQUAL(ds_reject_code((enum ds_reject)99), "unknown");
}

/* ---- the payload codec ---- */

static struct ds_sample out[DS_SAMPLES_MAX];

/* Decodes p (NUL-terminated unless len given) expecting success. */
static size_t decode_ok(const char *p, size_t len)
{
  size_t n = 12345;
  enum ds_reject r = DS_REJECT_TOO_MANY;
  char err[DS_ERRLEN] = "";
  int rc = ds_sample_decode(p, len, NOW, out, &n, &r, err);
  if (rc != DS_OK)
    fprintf(stderr, "\n  payload %.80s: %s\n", p, err);
  CU_ASSERT_EQUAL(rc, DS_OK);
  CU_ASSERT_EQUAL(r, DS_REJECT_NONE);
  return rc == DS_OK ? n : 0;
}

struct ok_case {
  const char *payload;
  double x, y, z;
  int64_t ts_us; /* of the only (or first) sample */
};

static const struct ok_case ok_cases[] = {
    {"{\"x\": 1.5, \"y\": -2.0, \"z\": 0.25}", 1.5, -2.0, 0.25, NOW},
    {"{\"x\":1,\"y\":2,\"z\":3}", 1, 2, 3, NOW},
    {" \t\r\n{\"x\":1,\"y\":2,\"z\":3} \t\r\n", 1, 2, 3, NOW},
    {"{\"z\":3,\"y\":2,\"x\":1}", 1, 2, 3, NOW},
    {"{\"x\": 1.5, \"y\": -2.0, \"z\": 0.25, \"ts\": \"2026-11-28T10:15:00.123Z\"}", 1.5, -2.0,
     0.25, INT64_C(1795860900123000)},
    {"{\"x\":0,\"y\":0,\"z\":0,\"ts\":\"2026-11-28T12:15:00.123456789+02:00\"}", 0, 0, 0,
     INT64_C(1795860900123456)},
    {"{\"x\":0,\"y\":0,\"z\":0,\"ts\":1764324900123}", 0, 0, 0, INT64_C(1764324900123000)},
    {"{\"x\":0,\"y\":0,\"z\":0,\"ts\":0}", 0, 0, 0, 0},
    {"{\"x\":0,\"y\":0,\"z\":0,\"ts\":253402300799999}", 0, 0, 0, INT64_C(253402300799999000)},
    /* other keys ignored, whatever they hold */
    {"{\"x\":1,\"y\":2,\"z\":3,\"meta\":{\"a\":[1,2,{\"b\":null}]},\"s\":\"\xc3\xa9\\u0000\",\"X\":"
     "\"q\","
     "\"t\":true,\"n\":null,\"big\":1e999}",
     1, 2, 3, NOW},
    /* duplicate keys: the last one wins, like JSON.parse */
    {"{\"x\":1,\"y\":2,\"z\":3,\"x\":4}", 4, 2, 3, NOW},
    {"{\"x\":\"no\",\"y\":2,\"z\":3,\"x\":4}", 4, 2, 3, NOW},
    {"{\"x\":0,\"y\":0,\"z\":0,\"ts\":\"bad\",\"ts\":5}", 0, 0, 0, 5000},
    /* magnitudes */
    {"{\"x\":1e308,\"y\":-1e308,\"z\":5e-324}", 1e308, -1e308, 5e-324, NOW},
    {"{\"x\":1.7976931348623157e308,\"y\":2.2250738585072014e-308,\"z\":1e-400}", DBL_MAX, DBL_MIN,
     0, NOW},
    {"{\"x\":0.1,\"y\":0.30000000000000004,\"z\":3.141592653589793}", 0.1, 0.30000000000000004,
     3.141592653589793, NOW},
    {"{\"x\":1E+2,\"y\":1e-2,\"z\":-1.5E2}", 100, 0.01, -150, NOW},
    /* integers: exact through 2^53, correctly rounded beyond, up to 64 bits */
    {"{\"x\":9007199254740993,\"y\":-9223372036854775807,\"z\":9223372036854775807}",
     9007199254740992.0, -9223372036854775807.0, 9223372036854775807.0, NOW},
    {"{\"x\":9223372036854775808,\"y\":18446744073709551614,\"z\":-0}", 9223372036854775808.0,
     18446744073709551614.0, 0, NOW},
    {NULL, 0, 0, 0, 0},
};

static void test_decode_ok_table(void)
{
  for (const struct ok_case *c = ok_cases; c->payload != NULL; c++) {
    size_t n = decode_ok(c->payload, strlen(c->payload));
    CU_ASSERT_EQUAL(n, 1);
    if (n != 1)
      continue;
    if (out[0].x != c->x || out[0].y != c->y || out[0].z != c->z || out[0].ts_us != c->ts_us)
      fprintf(stderr, "\n  %s:\n  got %.17g %.17g %.17g %lld\n", c->payload, out[0].x, out[0].y,
              out[0].z, (long long)out[0].ts_us);
    CU_ASSERT_EQUAL(out[0].x, c->x);
    CU_ASSERT_EQUAL(out[0].y, c->y);
    CU_ASSERT_EQUAL(out[0].z, c->z);
    CU_ASSERT_EQUAL(out[0].ts_us, c->ts_us);
  }
}

static void test_decode_signed_zero(void)
{
  CU_ASSERT_EQUAL_FATAL(decode_ok("{\"x\":-0.0,\"y\":0.0,\"z\":-0e0}", 27), 1);
  CU_ASSERT(signbit(out[0].x));
  CU_ASSERT(!signbit(out[0].y));
  CU_ASSERT(signbit(out[0].z));
}

static void test_decode_array(void)
{
  const char *p =
      "[{\"x\": 1, \"y\": 2, \"z\": 3, \"ts\": 1764324900123}, {\"x\": 4, \"y\": 5, \"z\": 6}]";
  CU_ASSERT_EQUAL_FATAL(decode_ok(p, strlen(p)), 2);
  CU_ASSERT(out[0].x == 1 && out[0].y == 2 && out[0].z == 3);
  CU_ASSERT_EQUAL(out[0].ts_us, INT64_C(1764324900123000));
  CU_ASSERT(out[1].x == 4 && out[1].y == 5 && out[1].z == 6);
  CU_ASSERT_EQUAL(out[1].ts_us, NOW);
  CU_ASSERT_EQUAL(decode_ok("[{\"x\":1,\"y\":2,\"z\":3}]", 21), 1);
}

/* n copies of a sample in an array, optionally with sample bad_at replaced. */
static char *make_array(size_t n, size_t bad_at, const char *bad)
{
  size_t cap = n * 64 + 64;
  char *p = malloc(cap);
  CU_ASSERT_FATAL(p != NULL);
  size_t len = 0;
  p[len++] = '[';
  for (size_t i = 0; i < n; i++) {
    int w = i == bad_at
                ? snprintf(p + len, cap - len, "%s%s", i ? "," : "", bad)
                : snprintf(p + len, cap - len, "%s{\"x\":%zu,\"y\":-%zu,\"z\":0.5,\"ts\":%zu}",
                           i ? "," : "", i, i, i);
    CU_ASSERT_FATAL(w > 0 && (size_t)w < cap - len);
    len += (size_t)w;
  }
  p[len++] = ']';
  p[len] = '\0';
  return p;
}

static void test_decode_limits(void)
{
  /* exactly DS_SAMPLES_MAX samples */
  char *p = make_array(DS_SAMPLES_MAX, SIZE_MAX, NULL);
  CU_ASSERT_EQUAL(decode_ok(p, strlen(p)), DS_SAMPLES_MAX);
  CU_ASSERT_EQUAL(out[999].x, 999);
  CU_ASSERT_EQUAL(out[999].y, -999);
  CU_ASSERT_EQUAL(out[999].ts_us, 999000);
  free(p);

  /* one more: too_many, with nothing decoded */
  p = make_array(DS_SAMPLES_MAX + 1, SIZE_MAX, NULL);
  size_t n = 7;
  enum ds_reject r = DS_REJECT_NONE;
  char err[DS_ERRLEN];
  CU_ASSERT_EQUAL(ds_sample_decode(p, strlen(p), NOW, out, &n, &r, err), DS_EINVAL);
  CU_ASSERT_EQUAL(r, DS_REJECT_TOO_MANY);
  CU_ASSERT_EQUAL(n, 7);
  CU_ASSERT_STRING_EQUAL(err, "too_many: array holds 1001 samples, more than the limit of 1000");
  free(p);

  /* exactly DS_PAYLOAD_MAX bytes (padded with whitespace): accepted */
  char *big = malloc(DS_PAYLOAD_MAX + 2);
  CU_ASSERT_FATAL(big != NULL);
  memset(big, ' ', DS_PAYLOAD_MAX + 1);
  memcpy(big, "{\"x\":1,\"y\":2,\"z\":3}", 19);
  CU_ASSERT_EQUAL(decode_ok(big, DS_PAYLOAD_MAX), 1);
  /* one byte more: too_large, before any parsing */
  CU_ASSERT_EQUAL(ds_sample_decode(big, DS_PAYLOAD_MAX + 1, NOW, out, &n, &r, err), DS_EINVAL);
  CU_ASSERT_EQUAL(r, DS_REJECT_TOO_LARGE);
  CU_ASSERT_STRING_EQUAL(err, "too_large: payload is 262145 bytes, more than the limit of 262144");
  big[0] = '\xff'; /* still too_large, not bad_json: size is checked first */
  CU_ASSERT_EQUAL(ds_sample_decode(big, DS_PAYLOAD_MAX + 1, NOW, out, &n, &r, err), DS_EINVAL);
  CU_ASSERT_EQUAL(r, DS_REJECT_TOO_LARGE);
  free(big);
}

/* An array is accepted or rejected whole: a bad last sample rejects it,
 * *n stays as it was, and the detail names the sample. */
static void test_decode_whole_array(void)
{
  char *p = make_array(DS_SAMPLES_MAX, DS_SAMPLES_MAX - 1, "{\"x\":1,\"z\":2}");
  size_t n = 7;
  enum ds_reject r = DS_REJECT_NONE;
  char err[DS_ERRLEN];
  CU_ASSERT_EQUAL(ds_sample_decode(p, strlen(p), NOW, out, &n, &r, err), DS_EINVAL);
  CU_ASSERT_EQUAL(r, DS_REJECT_MISSING_FIELD);
  CU_ASSERT_EQUAL(n, 7);
  CU_ASSERT_STRING_EQUAL(err, "missing_field: sample 999 has no \"y\"");
  free(p);

  p = make_array(5, 3, "{\"x\":1,\"z\":2}");
  CU_ASSERT_EQUAL(ds_sample_decode(p, strlen(p), NOW, out, &n, &r, err), DS_EINVAL);
  CU_ASSERT_STRING_EQUAL(err, "missing_field: sample 3 has no \"y\"");
  free(p);

  /* the first bad sample is the one reported */
  p = make_array(5, 2, "{\"x\":1,\"y\":\"2\",\"z\":2,\"ts\":-1}");
  CU_ASSERT_EQUAL(ds_sample_decode(p, strlen(p), NOW, out, &n, &r, err), DS_EINVAL);
  CU_ASSERT_EQUAL(r, DS_REJECT_BAD_NUMBER);
  CU_ASSERT_STRING_EQUAL(err, "bad_number: sample 2 \"y\" is a string, not a number");
  free(p);

  /* reject and err may be NULL */
  CU_ASSERT_EQUAL(ds_sample_decode("{}", 2, NOW, out, &n, NULL, NULL), DS_EINVAL);
  CU_ASSERT_EQUAL(n, 7);
}

struct bad_case {
  const char *payload;
  size_t len; /* 0: strlen */
  enum ds_reject reject;
  const char *err; /* exact detail, or a prefix when it ends with '*' */
};

static const struct bad_case bad_cases[] = {
    /* empty */
    {"", 0, DS_REJECT_EMPTY, "empty: payload is empty"},
    {" \r\n\t ", 0, DS_REJECT_EMPTY, "empty: payload is empty"},
    {"[]", 0, DS_REJECT_EMPTY, "empty: payload is an empty array"},
    {" [ \n ] ", 0, DS_REJECT_EMPTY, "empty: payload is an empty array"},
    /* not JSON */
    {"{", 0, DS_REJECT_BAD_JSON, "bad_json: unexpected end of data at offset 1"},
    {"{\"x\":1,\"y\":2,\"z\":3", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"nul", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"hello", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{x:1,y:2,z:3}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"[{\"x\":1,\"y\":2,\"z\":3},]", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":1,\"y\":2,\"z\":3} x", 0, DS_REJECT_BAD_JSON,
     "bad_json: unexpected character at offset 20"},
    {"{\"x\":1,\"y\":2,\"z\":3}{}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":1,\"y\":2,\"z\":3}\0", 20, DS_REJECT_BAD_JSON, "bad_json: NUL byte at offset 19"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"s\":\"a\0b\"}", 30, DS_REJECT_BAD_JSON,
     "bad_json: NUL byte at offset 25"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"s\":\"\xff\"}", 0, DS_REJECT_BAD_JSON,
     "bad_json: invalid UTF-8 at offset 24"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"s\":\"\xc3\"}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"s\":\"\xed\xa0\x80\"}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"\xc0\xaf\":1}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"\xef\xbb\xbf{\"x\":1,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"/* c */{\"x\":1,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":01,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":+1,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":.5,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":0x10,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"s\":\"\\x\"}", 0, DS_REJECT_BAD_JSON, "bad_json: *"},
    /* not an object or an array of objects */
    {"123", 0, DS_REJECT_NOT_OBJECT,
     "not_object: payload is a number, not an object or an array of objects"},
    {"\"x\"", 0, DS_REJECT_NOT_OBJECT,
     "not_object: payload is a string, not an object or an array of objects"},
    {"true", 0, DS_REJECT_NOT_OBJECT,
     "not_object: payload is a boolean, not an object or an array of objects"},
    {"null", 0, DS_REJECT_NOT_OBJECT,
     "not_object: payload is a null, not an object or an array of objects"},
    {"[1,2]", 0, DS_REJECT_NOT_OBJECT, "not_object: sample 0 is a number, not an object"},
    {"[{\"x\":1,\"y\":2,\"z\":3},[1]]", 0, DS_REJECT_NOT_OBJECT,
     "not_object: sample 1 is an array, not an object"},
    {"[null]", 0, DS_REJECT_NOT_OBJECT, "not_object: sample 0 is a null, not an object"},
    {"[[{\"x\":1,\"y\":2,\"z\":3}]]", 0, DS_REJECT_NOT_OBJECT,
     "not_object: sample 0 is an array, not an object"},
    /* missing fields */
    {"{}", 0, DS_REJECT_MISSING_FIELD, "missing_field: sample 0 has no \"x\""},
    {"{\"x\":1,\"z\":3}", 0, DS_REJECT_MISSING_FIELD, "missing_field: sample 0 has no \"y\""},
    {"{\"x\":1,\"y\":3}", 0, DS_REJECT_MISSING_FIELD, "missing_field: sample 0 has no \"z\""},
    {"{\"X\":1,\"Y\":2,\"Z\":3}", 0, DS_REJECT_MISSING_FIELD,
     "missing_field: sample 0 has no \"x\""},
    {"{\"x \":1,\"y\":2,\"z\":3}", 0, DS_REJECT_MISSING_FIELD,
     "missing_field: sample 0 has no \"x\""},
    {"{\"data\":{\"x\":1,\"y\":2,\"z\":3}}", 0, DS_REJECT_MISSING_FIELD,
     "missing_field: sample 0 has no \"x\""},
    /* not numbers */
    {"{\"x\":\"1.5\",\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"x\" is a string, not a number"},
    {"{\"x\":1,\"y\":true,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"y\" is a boolean, not a number"},
    {"{\"x\":1,\"y\":2,\"z\":null}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"z\" is a null, not a number"},
    {"{\"x\":{\"v\":1},\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"x\" is an object, not a number"},
    {"{\"x\":[1],\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"x\" is an array, not a number"},
    /* not finite */
    {"{\"x\":1e400,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"x\" is not a finite number"},
    {"{\"x\":1,\"y\":-1e400,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"y\" is not a finite number"},
    {"{\"x\":1,\"y\":2,\"z\":NaN}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"z\" is not a finite number"},
    {"{\"x\":Infinity,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"x\" is not a finite number"},
    {"{\"x\":-Infinity,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"x\" is not a finite number"},
    /* integers beyond 64 bits: json-c clamps them, so they are refused */
    {"{\"x\":99999999999999999999,\"y\":2,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"x\" is an integer beyond 64 bits (write it as a decimal, e.g. 1e20)"},
    {"{\"x\":1,\"y\":-99999999999999999999,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"y\" is an integer beyond 64 bits*"},
    {"{\"x\":1,\"y\":18446744073709551616,\"z\":3}", 0, DS_REJECT_BAD_NUMBER,
     "bad_number: sample 0 \"y\" is an integer beyond 64 bits*"},
    /* bad timestamps */
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":1.5}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is not an integer (Unix milliseconds)"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":1764324900123.0}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is not an integer*"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":1.764324900123e12}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is not an integer*"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":-1}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is out of range (Unix milliseconds in years 1970-9999)"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":253402300800000}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is out of range*"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":99999999999999999999}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is out of range*"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":\"yesterday\"}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is not an RFC 3339 time in years 1970-9999"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":\"2026-11-28\"}", 0, DS_REJECT_BAD_TS, "bad_ts: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":\"2026-11-28T10:15:00\"}", 0, DS_REJECT_BAD_TS, "bad_ts: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":\"2026-02-29T10:15:00Z\"}", 0, DS_REJECT_BAD_TS, "bad_ts: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":\"1969-12-31T23:59:59Z\"}", 0, DS_REJECT_BAD_TS, "bad_ts: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":\"1764324900123\"}", 0, DS_REJECT_BAD_TS, "bad_ts: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":\"2026-11-28T10:15:00Z\\u0000\"}", 0, DS_REJECT_BAD_TS,
     "bad_ts: *"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":true}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is a boolean, not an RFC 3339 string or integer Unix milliseconds"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":null}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is a null*"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":{}}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is an object*"},
    {"{\"x\":1,\"y\":2,\"z\":3,\"ts\":[1]}", 0, DS_REJECT_BAD_TS,
     "bad_ts: sample 0 \"ts\" is an array*"},
    {NULL, 0, DS_REJECT_NONE, NULL},
};

static void test_decode_bad_table(void)
{
  for (const struct bad_case *c = bad_cases; c->payload != NULL; c++) {
    size_t len = c->len ? c->len : strlen(c->payload);
    size_t n = 4242;
    enum ds_reject r = DS_REJECT_NONE;
    char err[DS_ERRLEN] = "";
    int rc = ds_sample_decode(c->payload, len, NOW, out, &n, &r, err);
    size_t elen = strlen(c->err);
    int prefix = c->err[elen - 1] == '*';
    int match = prefix ? strncmp(err, c->err, elen - 1) == 0 : strcmp(err, c->err) == 0;
    if (rc != DS_EINVAL || r != c->reject || !match)
      fprintf(stderr, "\n  payload %.60s:\n  rc=%d reject=%s err=%s\n  want %s\n", c->payload, rc,
              ds_reject_code(r), err, c->err);
    CU_ASSERT_EQUAL(rc, DS_EINVAL);
    CU_ASSERT_EQUAL(r, c->reject);
    CU_ASSERT(match);
    CU_ASSERT_EQUAL(n, 4242);
  }
}

static void test_decode_deep_nesting(void)
{
  const size_t depth = 10000;
  const char *opens[] = {"[", "{\"a\":"};
  for (int kind = 0; kind < 2; kind++) {
    size_t w = strlen(opens[kind]);
    char *p = malloc(depth * w + 1);
    CU_ASSERT_FATAL(p != NULL);
    for (size_t i = 0; i < depth; i++)
      memcpy(p + i * w, opens[kind], w);
    size_t n = 0;
    enum ds_reject r = DS_REJECT_NONE;
    char err[DS_ERRLEN];
    CU_ASSERT_EQUAL(ds_sample_decode(p, depth * w, NOW, out, &n, &r, err), DS_EINVAL);
    CU_ASSERT_EQUAL(r, DS_REJECT_BAD_JSON);
    CU_ASSERT(strncmp(err, "bad_json: nesting too deep", 26) == 0);
    free(p);
  }
  /* Nesting within the limit, in an ignored key, is fine. */
  const char *ok = "{\"x\":1,\"y\":2,\"z\":3,\"m\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}";
  CU_ASSERT_EQUAL(decode_ok(ok, strlen(ok)), 1);
}

/* Mutated payloads: whatever the bytes, the codec returns DS_OK or
 * DS_EINVAL with a reason and a "<code>: " detail, and never touches memory
 * it should not (this runs under ASan in sanitizer builds). */
static void test_decode_mutations(void)
{
  static const char *seeds[] = {
      "[{\"x\": 1, \"y\": 2, \"z\": 3, \"ts\": 1764324900123}, {\"x\": 4.5e1, \"y\": -5, \"z\": "
      "6}]",
      "{\"x\": 1.5, \"y\": -2.0, \"z\": 0.25, \"ts\": \"2026-11-28T10:15:00.123+02:00\"}",
  };
  const char alphabet[] = "{}[],:\"\\ 0123456789.eE+-xyzts\xff\xc3\xa9nulltrue";
  uint64_t s = 12345;
  char buf[256];
  for (int iter = 0; iter < 50000; iter++) {
    const char *seed = seeds[iter % 2];
    size_t len = strlen(seed);
    memcpy(buf, seed, len);
    int edits = 1 + iter % 4;
    for (int e = 0; e < edits; e++) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      size_t pos = (size_t)(s % len);
      switch ((s >> 32) % 3) {
      case 0: /* replace */
        buf[pos] = alphabet[(s >> 40) % (sizeof alphabet - 1)];
        break;
      case 1: /* delete */
        memmove(buf + pos, buf + pos + 1, len - pos - 1);
        len--;
        break;
      default: /* truncate */
        len = pos;
        break;
      }
      if (len == 0)
        break;
    }
    /* Heap copy of exactly len bytes, so ASan sees any overread. */
    char *p = malloc(len ? len : 1);
    CU_ASSERT_FATAL(p != NULL);
    memcpy(p, buf, len);
    size_t n = 0;
    enum ds_reject r = DS_REJECT_NONE;
    char err[DS_ERRLEN] = "";
    int rc = ds_sample_decode(p, len, NOW, out, &n, &r, err);
    if (rc == DS_OK) {
      CU_ASSERT(n >= 1 && n <= 2);
      CU_ASSERT(isfinite(out[0].x) && isfinite(out[0].y) && isfinite(out[0].z));
      CU_ASSERT(out[0].ts_us >= DS_TIME_MIN_US && out[0].ts_us <= DS_TIME_MAX_US);
    } else {
      CU_ASSERT_EQUAL_FATAL(rc, DS_EINVAL);
      CU_ASSERT(r != DS_REJECT_NONE);
      const char *code = ds_reject_code(r);
      size_t cl = strlen(code);
      CU_ASSERT(strncmp(err, code, cl) == 0 && err[cl] == ':' && err[cl + 1] == ' ');
    }
    free(p);
  }
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Timing, printed (not asserted): a single sample and a full array. */
static void test_decode_speed(void)
{
  const char *one = "{\"x\": 1.5, \"y\": -2.0, \"z\": 0.25, \"ts\": \"2026-11-28T10:15:00.123Z\"}";
  size_t len = strlen(one), n;
  enum ds_reject r;
  char err[DS_ERRLEN];
  double t0 = now_s();
  int iters = 20000;
  for (int i = 0; i < iters; i++)
    CU_ASSERT_EQUAL_FATAL(ds_sample_decode(one, len, NOW, out, &n, &r, err), DS_OK);
  double t1 = now_s();
  char *arr = make_array(DS_SAMPLES_MAX, SIZE_MAX, NULL);
  size_t alen = strlen(arr);
  for (int i = 0; i < 50; i++)
    CU_ASSERT_EQUAL_FATAL(ds_sample_decode(arr, alen, NOW, out, &n, &r, err), DS_OK);
  double t2 = now_s();
  fprintf(stderr, "[one sample: %.2f us/msg; 1000-sample array (%zu bytes): %.0f us/msg] ",
          (t1 - t0) / iters * 1e6, alen, (t2 - t1) / 50 * 1e6);
  free(arr);
}

static const struct ds_test_case cases[] = {
    {"device_id_valid", test_device_id_valid},
    {"topic_table", test_topic_table},
    {"topic_not_nul_terminated", test_topic_not_nul_terminated},
    {"reject_codes", test_reject_codes},
    {"decode_ok_table", test_decode_ok_table},
    {"decode_signed_zero", test_decode_signed_zero},
    {"decode_array", test_decode_array},
    {"decode_limits", test_decode_limits},
    {"decode_whole_array", test_decode_whole_array},
    {"decode_bad_table", test_decode_bad_table},
    {"decode_deep_nesting", test_decode_deep_nesting},
    {"decode_mutations", test_decode_mutations},
    {"decode_speed", test_decode_speed},
    {NULL, NULL},
};

DS_TEST_MAIN("sample", cases)
