/* Tests for ds/buf.h: the bounded buffer, JSON string escaping (control
 * characters, invalid UTF-8), round-trip doubles and big-endian integers.
 * JSON output is checked by parsing it back with json-c. */
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/buf.h"
#include "ds_test.h"

static void test_basics(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 100);
  CU_ASSERT_EQUAL(b.len, 0);
  CU_ASSERT_EQUAL(ds_buf_append(&b, "abc", 3), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "de"), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_appendf(&b, "%d-%s", 42, "x"), DS_OK);
  CU_ASSERT_EQUAL(b.len, 9);
  CU_ASSERT_STRING_EQUAL(b.data, "abcde42-x");
  CU_ASSERT_EQUAL(ds_buf_append(&b, NULL, 0), DS_OK);
  CU_ASSERT_EQUAL(b.len, 9);
  /* binary data, NUL included */
  CU_ASSERT_EQUAL(ds_buf_append(&b, "\0z", 2), DS_OK);
  CU_ASSERT_EQUAL(b.len, 11);
  CU_ASSERT(memcmp(b.data, "abcde42-x\0z", 12) == 0);

  ds_buf_reset(&b);
  CU_ASSERT_EQUAL(b.len, 0);
  CU_ASSERT_STRING_EQUAL(b.data, "");
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "again"), DS_OK);
  char *taken = ds_buf_take(&b);
  CU_ASSERT_STRING_EQUAL(taken, "again");
  free(taken);
  CU_ASSERT_PTR_NULL(b.data);
  CU_ASSERT_EQUAL(b.len, 0);
  /* usable after take, and after cleanup + init */
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "more"), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, "more");
  ds_buf_cleanup(&b);
  ds_buf_cleanup(&b); /* twice is harmless */
  CU_ASSERT_PTR_NULL(b.data);

  /* reset and cleanup of a never-used buffer */
  ds_buf_init(&b, 10);
  ds_buf_reset(&b);
  ds_buf_cleanup(&b);
}

static void test_growth(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 1 << 20);
  for (int i = 0; i < 100000; i++)
    CU_ASSERT_EQUAL_FATAL(ds_buf_append(&b, "0123456789", 10), DS_OK);
  CU_ASSERT_EQUAL(b.len, 1000000);
  CU_ASSERT(b.cap > b.len);
  CU_ASSERT_EQUAL(b.data[b.len], '\0');
  CU_ASSERT(memcmp(b.data + 999990, "0123456789", 10) == 0);
  ds_buf_cleanup(&b);
}

/* Growing past max fails with DS_ERANGE and leaves the buffer unchanged. */
static void test_bound(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 10);
  CU_ASSERT_EQUAL(ds_buf_append(&b, "0123456789", 10), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append(&b, "x", 1), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "x"), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_appendf(&b, "%d", 1), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_append_json_str(&b, "", 0), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_append_double(&b, 1.5), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_append_be16(&b, 1), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_reserve(&b, 1), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_reserve(&b, 0), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append(&b, "", 0), DS_OK);
  CU_ASSERT_EQUAL(b.len, 10);
  CU_ASSERT_STRING_EQUAL(b.data, "0123456789");
  CU_ASSERT(b.cap <= 11); /* never allocates past max + NUL */
  ds_buf_cleanup(&b);

  /* appendf that would cross the bound writes nothing */
  ds_buf_init(&b, 8);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "abc"), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_appendf(&b, "%s", "123456"), DS_ERANGE);
  CU_ASSERT_EQUAL(b.len, 3);
  CU_ASSERT_STRING_EQUAL(b.data, "abc");
  CU_ASSERT_EQUAL(ds_buf_appendf(&b, "%s", "12345"), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, "abc12345");
  ds_buf_cleanup(&b);

  /* max 0: only empty appends */
  ds_buf_init(&b, 0);
  CU_ASSERT_EQUAL(ds_buf_append(&b, "x", 1), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_append(&b, "", 0), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, "");
  ds_buf_cleanup(&b);

  /* huge requests fail cleanly instead of overflowing size arithmetic */
  ds_buf_init(&b, 1000);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "ab"), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_reserve(&b, SIZE_MAX), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_reserve(&b, SIZE_MAX - 1), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_reserve(&b, 999), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_buf_reserve(&b, 998), DS_OK);
  ds_buf_cleanup(&b);

  /* an effectively unbounded buffer */
  ds_buf_init(&b, SIZE_MAX);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "unbounded"), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, "unbounded");
  ds_buf_cleanup(&b);
}

/* The escaped form of in[0..len), which must parse back (json-c, strict,
 * UTF-8 validated) to want[0..want_len). */
static void check_json_str(const char *in, size_t len, const char *escaped, const char *want,
                           size_t want_len)
{
  struct ds_buf b;
  ds_buf_init(&b, 4096);
  CU_ASSERT_EQUAL_FATAL(ds_buf_append_json_str(&b, in, len), DS_OK);
  if (escaped != NULL) {
    if (strcmp(b.data, escaped) != 0)
      fprintf(stderr, "\n  escaped: got %s want %s\n", b.data, escaped);
    CU_ASSERT_STRING_EQUAL(b.data, escaped);
  }
  struct json_tokener *tok = json_tokener_new();
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  struct json_object *o = json_tokener_parse_ex(tok, b.data, (int)b.len);
  CU_ASSERT_FATAL(o != NULL);
  CU_ASSERT_FATAL(json_object_is_type(o, json_type_string));
  if (want != NULL) {
    CU_ASSERT_EQUAL(json_object_get_string_len(o), (int)want_len);
    CU_ASSERT(memcmp(json_object_get_string(o), want, want_len) == 0);
  }
  json_object_put(o);
  json_tokener_free(tok);
  ds_buf_cleanup(&b);
}

#define CHECK_STR(in, esc, want) check_json_str(in, sizeof(in) - 1, esc, want, sizeof(want) - 1)
#define FFFD "\xef\xbf\xbd"

static void test_json_str_escaping(void)
{
  CHECK_STR("", "\"\"", "");
  CHECK_STR("plain text", "\"plain text\"", "plain text");
  CHECK_STR("a\"b", "\"a\\\"b\"", "a\"b");
  CHECK_STR("a\\b", "\"a\\\\b\"", "a\\b");
  CHECK_STR("/", "\"/\"", "/");
  CHECK_STR("\n\r\t", "\"\\n\\r\\t\"", "\n\r\t");
  CHECK_STR("\x01\x08\x0c\x1f", "\"\\u0001\\u0008\\u000c\\u001f\"", "\x01\x08\x0c\x1f");
  CHECK_STR("a\0b", "\"a\\u0000b\"", "a\0b");
  CHECK_STR("\x7f", "\"\x7f\"", "\x7f");
  CHECK_STR(" ~", "\" ~\"", " ~");
  /* valid UTF-8 passes through: 2, 3 and 4 bytes, the largest code point */
  CHECK_STR("\xc3\xa9", "\"\xc3\xa9\"", "\xc3\xa9");
  CHECK_STR("\xe2\x82\xac", "\"\xe2\x82\xac\"", "\xe2\x82\xac");
  CHECK_STR("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80");
  CHECK_STR("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf");
  CHECK_STR("\xef\xbb\xbf", "\"\xef\xbb\xbf\"", "\xef\xbb\xbf");
  /* invalid UTF-8: each bad byte becomes U+FFFD */
  CHECK_STR("\xff", "\"" FFFD "\"", FFFD);
  CHECK_STR("a\xc3", "\"a" FFFD "\"", "a" FFFD);                       /* truncated at end */
  CHECK_STR("\xc3(", "\"" FFFD "(\"", FFFD "(");                       /* bad continuation */
  CHECK_STR("\xc0\xaf", "\"" FFFD FFFD "\"", FFFD FFFD);               /* overlong '/' */
  CHECK_STR("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD); /* overlong */
  CHECK_STR("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD); /* surrogate */
  CHECK_STR("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"",
            FFFD FFFD FFFD FFFD);                                      /* > U+10FFFF */
  CHECK_STR("\x80", "\"" FFFD "\"", FFFD);                             /* lone continuation */
  CHECK_STR("\xf0\x9f\x98", "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD); /* truncated 4-byte */
  CHECK_STR("x\xe2\x82\"", "\"x" FFFD FFFD "\\\"\"", "x" FFFD FFFD "\"");
}

/* The length bounds the input: bytes after it are never read. */
static void test_json_str_length(void)
{
  check_json_str("abc\"def", 3, "\"abc\"", "abc", 3);
  check_json_str("\xc3\xa9", 1, "\"" FFFD "\"", FFFD, 3);
  /* exactly-sized heap copies so ASan catches overreads on partial sequences */
  const char *seqs[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  for (size_t s = 0; s < 3; s++) {
    size_t n = strlen(seqs[s]);
    for (size_t cut = 1; cut <= n; cut++) {
      char *p = malloc(cut);
      CU_ASSERT_FATAL(p != NULL);
      memcpy(p, seqs[s], cut);
      check_json_str(p, cut, NULL, NULL, 0);
      free(p);
    }
  }
}

/* Random bytes always give a string json-c accepts; valid UTF-8 input
 * comes back unchanged. */
static void test_json_str_random(void)
{
  uint64_t s = 0x243f6a8885a308d3u;
  unsigned char in[64];
  for (int iter = 0; iter < 20000; iter++) {
    size_t len = (size_t)(iter % 64);
    for (size_t i = 0; i < len; i++) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      /* mostly ASCII on even iterations, any byte on odd */
      in[i] = (unsigned char)(iter % 2 ? s >> 24 : (s >> 24) % 128);
    }
    check_json_str((const char *)in, len, NULL, iter % 2 ? NULL : (const char *)in, len);
  }
}

/* A failure part-way leaves the buffer bounded and NUL-terminated. */
static void test_json_str_bound(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 8);
  CU_ASSERT_EQUAL(ds_buf_append_json_str(&b, "abcdef", 6), DS_OK); /* 8 bytes */
  CU_ASSERT_STRING_EQUAL(b.data, "\"abcdef\"");
  ds_buf_reset(&b);
  CU_ASSERT_EQUAL(ds_buf_append_json_str(&b, "abcdefg", 7), DS_ERANGE);
  CU_ASSERT(b.len <= 8);
  CU_ASSERT_EQUAL(b.data[b.len], '\0');
  ds_buf_reset(&b);
  CU_ASSERT_EQUAL(ds_buf_append_json_str(&b, "\x01\x01", 2), DS_ERANGE);
  CU_ASSERT(b.len <= 8);
  ds_buf_cleanup(&b);
}

struct dbl_case {
  double v;
  const char *out;
};

/* Integers print with ".0", matching the DESIGN.md examples ("min": 1.0). */
static const struct dbl_case dbl_cases[] = {
    {0.1, "0.1"},
    {-1.5, "-1.5"},
    {1.0 / 3, "0.3333333333333333"},
    {2.0 / 3, "0.6666666666666666"},
    {0.1 + 0.2, "0.30000000000000004"},
    {4, "4.0"},
    {-4, "-4.0"},
    {100, "100.0"},
    {123456789, "123456789.0"},
    {0.0, "0.0"},
    {-0.0, "-0.0"},
    {1e308, "1e+308"},
    {1e21, "1e+21"},
    {1e-7, "1e-07"},
    {DBL_MAX, "1.7976931348623157e+308"},
    {DBL_MIN, "2.2250738585072014e-308"},
    {9007199254740993.0, "9007199254740992.0"},
    {3.141592653589793, "3.141592653589793"},
    {0, NULL},
};

static int round_trips(double v, const char *s)
{
  char *end;
  double back = strtod(s, &end);
  return *end == '\0' && memcmp(&back, &v, sizeof v) == 0;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number(const char *s)
{
  if (*s == '-')
    s++;
  if (*s == '0')
    s++;
  else if (*s >= '1' && *s <= '9')
    while (*s >= '0' && *s <= '9')
      s++;
  else
    return 0;
  if (*s == '.') {
    s++;
    if (!(*s >= '0' && *s <= '9'))
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-')
      s++;
    if (!(*s >= '0' && *s <= '9'))
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == '\0';
}

static void test_double_table(void)
{
  for (const struct dbl_case *c = dbl_cases; c->out != NULL; c++) {
    char out[32];
    size_t n = ds_double_format(c->v, out);
    if (strcmp(out, c->out) != 0)
      fprintf(stderr, "\n  %.17g: got %s want %s\n", c->v, out, c->out);
    CU_ASSERT_STRING_EQUAL(out, c->out);
    CU_ASSERT_EQUAL(n, strlen(out));
    CU_ASSERT(round_trips(c->v, out));
    CU_ASSERT(json_number(out));
  }
  /* subnormals: round-trip (5e-324 is the smallest) */
  const double sub[] = {5e-324, -5e-324, 1e-323, 2.2250738585072009e-308};
  for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
    char out[32];
    ds_double_format(sub[i], out);
    CU_ASSERT(round_trips(sub[i], out));
    CU_ASSERT(json_number(out));
  }
}

/* Any finite double: valid JSON number, reads back to the same bits, at most
 * 24 characters, and no longer than needed by more than the ".0". */
static void test_double_random(void)
{
  uint64_t s = 0x13198a2e03707344u;
  for (int iter = 0; iter < 200000; iter++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    double v;
    if (iter % 3 == 0) {
      memcpy(&v, &s, sizeof v);
      if (!isfinite(v))
        continue;
    } else if (iter % 3 == 1) {
      v = (double)(int64_t)(s % 2000000001) / 1000.0 - 1000000.0; /* sensor-like */
    } else {
      v = (double)(int64_t)(s >> 11) * (iter % 2 ? 1 : -1);
    }
    char out[32];
    size_t n = ds_double_format(v, out);
    if (!round_trips(v, out) || !json_number(out) || n > 24) {
      fprintf(stderr, "\n  %a: %s\n", v, out);
      CU_FAIL("double does not round-trip as a JSON number");
      return;
    }
  }
}

static void test_append_double(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 100);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "["), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append_double(&b, 0.1), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, ","), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append_double(&b, -0.0), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "]"), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, "[0.1,-0.0]");
  /* non-finite values are refused and leave the buffer alone */
  CU_ASSERT_EQUAL(ds_buf_append_double(&b, NAN), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_buf_append_double(&b, INFINITY), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_buf_append_double(&b, -INFINITY), DS_EINVAL);
  CU_ASSERT_STRING_EQUAL(b.data, "[0.1,-0.0]");
  ds_buf_cleanup(&b);
}

static void test_big_endian(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 100);
  CU_ASSERT_EQUAL(ds_buf_append_be16(&b, 0x0102), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append_be32(&b, 0x03040506u), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append_be64(&b, UINT64_C(0x0708090a0b0c0d0e)), DS_OK);
  CU_ASSERT_EQUAL(ds_buf_append_be16(&b, 0xffff), DS_OK);
  const unsigned char want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff, 0xff};
  CU_ASSERT_EQUAL(b.len, sizeof want);
  CU_ASSERT(memcmp(b.data, want, sizeof want) == 0);
  /* the decoders read back what the encoders wrote, at any alignment */
  CU_ASSERT_EQUAL(ds_buf_get_be16(b.data), 0x0102);
  CU_ASSERT_EQUAL(ds_buf_get_be32(b.data + 2), 0x03040506u);
  CU_ASSERT_EQUAL(ds_buf_get_be64(b.data + 6), UINT64_C(0x0708090a0b0c0d0e));
  CU_ASSERT_EQUAL(ds_buf_get_be16(b.data + 14), 0xffff);
  ds_buf_reset(&b);
  const double ds[] = {0.0, -0.0, 1.5, -2.25e-300, DBL_MAX, 5e-324};
  for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
    uint64_t u;
    memcpy(&u, &ds[i], 8);
    CU_ASSERT_EQUAL(ds_buf_append_be64(&b, u), DS_OK);
  }
  for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
    double d = ds_buf_get_be_double(b.data + 8 * i);
    CU_ASSERT(memcmp(&d, &ds[i], 8) == 0);
  }
  CU_ASSERT_EQUAL(ds_buf_get_be32("\xff\xfe\xfd\xfc"), 0xfffefdfcu);
  ds_buf_cleanup(&b);
}

static const struct ds_test_case cases[] = {
    {"basics", test_basics},
    {"growth", test_growth},
    {"bound", test_bound},
    {"json_str_escaping", test_json_str_escaping},
    {"json_str_length", test_json_str_length},
    {"json_str_random", test_json_str_random},
    {"json_str_bound", test_json_str_bound},
    {"double_table", test_double_table},
    {"double_random", test_double_random},
    {"append_double", test_append_double},
    {"big_endian", test_big_endian},
    {NULL, NULL},
};

DS_TEST_MAIN("buf", cases)
