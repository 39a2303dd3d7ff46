/* Tests for ds/json.h: strict parsing (what is refused and what json-c
 * tolerates), and the typed getters' failure modes. */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ds/json.h"
#include "ds_test.h"

struct parse_case {
  const char *in;
  size_t len; /* 0: strlen */
  int rc;
  const char *err; /* prefix of the detail, or NULL */
};

static const struct parse_case parse_cases[] = {
    {"{}", 0, DS_OK, NULL},
    {" [1, 2.5, \"s\", true, false, null, {\"a\": {}}] ", 0, DS_OK, NULL},
    {"123", 0, DS_OK, NULL},
    {"\"str\"", 0, DS_OK, NULL},
    {"true", 0, DS_OK, NULL},
    {"-0.5e-3", 0, DS_OK, NULL},
    /* json-c tolerances, documented in ds/json.h */
    {"{'a': 1}", 0, DS_OK, NULL},
    {"[1.]", 0, DS_OK, NULL},
    {"[NaN]", 0, DS_OK, NULL},
    /* refused */
    {"", 0, DS_EINVAL, "empty input"},
    {" \n", 0, DS_EINVAL, "empty input"},
    {"{", 0, DS_EINVAL, "unexpected end of data at offset 1"},
    {"[1,]", 0, DS_EINVAL, "unexpected character at offset 3"},
    {"{} {}", 0, DS_EINVAL, "unexpected character at offset 3"},
    {"{}x", 0, DS_EINVAL, "unexpected character"},
    {"tru", 0, DS_EINVAL, "unexpected end of data"},
    {"[01]", 0, DS_EINVAL, NULL},
    {"// c\n{}", 0, DS_EINVAL, NULL},
    {"{}\0", 3, DS_EINVAL, "NUL byte at offset 2"},
    {"[\"\xff\"]", 0, DS_EINVAL, "invalid UTF-8 at offset 2"},
    {"[\"\xc0\xaf\"]", 0, DS_EINVAL, "invalid UTF-8 at offset 2"},
    {"[\"\xe0\x80\xaf\"]", 0, DS_EINVAL, "invalid UTF-8 at offset 2"},
    {"[\"\xed\xa0\x80\"]", 0, DS_EINVAL, "invalid UTF-8 at offset 2"},
    {"[\"\xf4\x90\x80\x80\"]", 0, DS_EINVAL, "invalid UTF-8 at offset 2"},
    {"[\"\xf0\x9f\x98\"]", 0, DS_EINVAL, "invalid UTF-8 at offset 2"},
    {"\xef\xbb\xbf{}", 0, DS_EINVAL, NULL},
    {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 0,
     DS_EINVAL, "nesting too deep"},
    {NULL, 0, 0, NULL},
};

static void test_parse_table(void)
{
  for (const struct parse_case *c = parse_cases; c->in != NULL; c++) {
    size_t len = c->len ? c->len : strlen(c->in);
    struct json_object *o = (struct json_object *)&o; /* sentinel */
    char err[DS_ERRLEN] = "";
    int rc = ds_json_parse(c->in, len, 1000, &o, err);
    if (rc != c->rc || (c->err != NULL && strncmp(err, c->err, strlen(c->err)) != 0))
      fprintf(stderr, "\n  %s: rc=%d err=%s\n", c->in, rc, err);
    CU_ASSERT_EQUAL(rc, c->rc);
    if (c->err != NULL)
      CU_ASSERT(strncmp(err, c->err, strlen(c->err)) == 0);
    if (rc == DS_OK)
      json_object_put(o);
    else
      CU_ASSERT_PTR_EQUAL(o, (struct json_object *)&o);
  }
}

static void test_parse_limits(void)
{
  struct json_object *o = NULL;
  char err[DS_ERRLEN];
  CU_ASSERT_EQUAL(ds_json_parse("[1]", 3, 3, &o, err), DS_OK);
  json_object_put(o);
  CU_ASSERT_EQUAL(ds_json_parse("[1] ", 4, 3, &o, err), DS_ERANGE);
  CU_ASSERT_STRING_EQUAL(err, "4 bytes, more than the limit of 3");
  /* null parses to a NULL object */
  o = (struct json_object *)&o;
  CU_ASSERT_EQUAL(ds_json_parse("null", 4, 10, &o, NULL), DS_OK);
  CU_ASSERT_PTR_NULL(o);
  /* err may be NULL on failure too */
  CU_ASSERT_EQUAL(ds_json_parse("{", 1, 10, &o, NULL), DS_EINVAL);
  /* the length bounds the input */
  CU_ASSERT_EQUAL(ds_json_parse("{}garbage", 2, 10, &o, err), DS_OK);
  json_object_put(o);
}

static struct json_object *parse(const char *s)
{
  struct json_object *o = NULL;
  char err[DS_ERRLEN];
  CU_ASSERT_FATAL(ds_json_parse(s, strlen(s), 10000, &o, err) == DS_OK);
  return o;
}

static void test_getters(void)
{
  struct json_object *o =
      parse("{\"d\": 1.5, \"i\": 42, \"neg\": -7, \"big\": 9223372036854775807,"
            " \"u\": 9223372036854775808, \"huge\": 99999999999999999999,"
            " \"nhuge\": -99999999999999999999, \"inf\": 1e999, \"nan\": NaN,"
            " \"s\": \"h\\u0000i\", \"snum\": \"1.5\", \"b\": true, \"n\": null,"
            " \"o\": {\"k\": 1}, \"a\": [1, 2, 3], \"dup\": 1, \"dup\": 2}");
  double d = -1;
  int64_t i = -1;
  bool b = false;
  const char *s = NULL;
  size_t len = 0;
  struct json_object *sub = NULL;
  size_t n = 0;

  CU_ASSERT_EQUAL(ds_json_get_double(o, "d", &d), DS_OK);
  CU_ASSERT_EQUAL(d, 1.5);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "i", &d), DS_OK);
  CU_ASSERT_EQUAL(d, 42);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "u", &d), DS_OK);
  CU_ASSERT_EQUAL(d, 9223372036854775808.0);
  d = -1;
  CU_ASSERT_EQUAL(ds_json_get_double(o, "huge", &d), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "nhuge", &d), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "inf", &d), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "nan", &d), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "snum", &d), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "n", &d), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "b", &d), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_json_get_double(o, "missing", &d), DS_ENOTFOUND);
  CU_ASSERT_EQUAL(d, -1); /* untouched on failure */

  CU_ASSERT_EQUAL(ds_json_get_int64(o, "i", &i), DS_OK);
  CU_ASSERT_EQUAL(i, 42);
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "neg", &i), DS_OK);
  CU_ASSERT_EQUAL(i, -7);
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "big", &i), DS_OK);
  CU_ASSERT_EQUAL(i, INT64_MAX);
  i = -1;
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "u", &i), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "huge", &i), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "nhuge", &i), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "d", &i), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "s", &i), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "missing", &i), DS_ENOTFOUND);
  CU_ASSERT_EQUAL(i, -1);
  CU_ASSERT_EQUAL(ds_json_get_int64(o, "dup", &i), DS_OK);
  CU_ASSERT_EQUAL(i, 2); /* the last duplicate wins */

  CU_ASSERT_EQUAL(ds_json_get_bool(o, "b", &b), DS_OK);
  CU_ASSERT(b);
  CU_ASSERT_EQUAL(ds_json_get_bool(o, "i", &b), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_json_get_bool(o, "n", &b), DS_EINVAL);

  CU_ASSERT_EQUAL(ds_json_get_string(o, "s", &s, &len), DS_OK);
  CU_ASSERT_EQUAL(len, 3);
  CU_ASSERT(memcmp(s, "h\0i", 3) == 0);
  CU_ASSERT_EQUAL(ds_json_get_string(o, "snum", &s, NULL), DS_OK);
  CU_ASSERT_STRING_EQUAL(s, "1.5");
  CU_ASSERT_EQUAL(ds_json_get_string(o, "i", &s, &len), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_json_get_string(o, "n", &s, &len), DS_EINVAL);

  CU_ASSERT_EQUAL(ds_json_get_object(o, "o", &sub), DS_OK);
  CU_ASSERT_EQUAL(ds_json_get_int64(sub, "k", &i), DS_OK);
  CU_ASSERT_EQUAL(i, 1);
  CU_ASSERT_EQUAL(ds_json_get_object(o, "a", &sub), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_json_get_array(o, "a", &sub, &n), DS_OK);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_EQUAL(ds_json_get_array(o, "o", &sub, &n), DS_EINVAL);

  /* getters on something that is not an object */
  struct json_object *arr = parse("[1]");
  CU_ASSERT_EQUAL(ds_json_get_double(arr, "x", &d), DS_ENOTFOUND);
  CU_ASSERT_EQUAL(ds_json_get_double(NULL, "x", &d), DS_ENOTFOUND);
  json_object_put(arr);

  CU_ASSERT_STRING_EQUAL(ds_json_type_name(NULL), "null");
  json_object_object_get_ex(o, "a", &sub);
  CU_ASSERT_STRING_EQUAL(ds_json_type_name(sub), "array");
  json_object_object_get_ex(o, "d", &sub);
  CU_ASSERT_STRING_EQUAL(ds_json_type_name(sub), "number");
  json_object_put(o);
}

static void test_blank(void)
{
  CU_ASSERT(ds_json_is_blank("", 0));
  CU_ASSERT(ds_json_is_blank(" \t\r\n", 4));
  CU_ASSERT_FALSE(ds_json_is_blank(" x", 2));
  CU_ASSERT_FALSE(ds_json_is_blank("\v", 1));
  CU_ASSERT_FALSE(ds_json_is_blank("\0", 1));
}

static const struct ds_test_case cases[] = {
    {"parse_table", test_parse_table},
    {"parse_limits", test_parse_limits},
    {"getters", test_getters},
    {"blank", test_blank},
    {NULL, NULL},
};

DS_TEST_MAIN("json", cases)
