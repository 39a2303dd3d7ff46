/* Tests for ds/jsonw.h: each case is a list of writer calls and the exact
 * text (or the sticky error) they must produce; successful output must also
 * parse back with json-c. */
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ds/jsonw.h"
#include "ds_test.h"

enum op_kind { END = 0, OBJ, OBJ_END, ARR, ARR_END, KEY, STR, STRN, INT, DBL, BOOL, NUL, RAW };

struct op {
  enum op_kind kind;
  const char *s; /* KEY, STR, STRN, RAW */
  size_t len;    /* STRN */
  int64_t i;     /* INT, BOOL */
  double d;      /* DBL */
};

#define MAX_OPS 24
struct jcase {
  const char *name;
  struct op ops[MAX_OPS];
  int rc;           /* what ds_jsonw_finish returns */
  const char *want; /* exact output when rc is DS_OK */
  size_t max;       /* buffer maximum; 0 means 4096 */
};

#define O                                                                                          \
  {                                                                                                \
    .kind = OBJ                                                                                    \
  }
#define OE                                                                                         \
  {                                                                                                \
    .kind = OBJ_END                                                                                \
  }
#define A                                                                                          \
  {                                                                                                \
    .kind = ARR                                                                                    \
  }
#define AE                                                                                         \
  {                                                                                                \
    .kind = ARR_END                                                                                \
  }
#define K(k)                                                                                       \
  {                                                                                                \
    .kind = KEY, .s = k                                                                            \
  }
#define S(v)                                                                                       \
  {                                                                                                \
    .kind = STR, .s = v                                                                            \
  }
#define SN(v, n)                                                                                   \
  {                                                                                                \
    .kind = STRN, .s = v, .len = n                                                                 \
  }
#define I(v)                                                                                       \
  {                                                                                                \
    .kind = INT, .i = v                                                                            \
  }
#define D(v)                                                                                       \
  {                                                                                                \
    .kind = DBL, .d = v                                                                            \
  }
#define B(v)                                                                                       \
  {                                                                                                \
    .kind = BOOL, .i = v                                                                           \
  }
#define N                                                                                          \
  {                                                                                                \
    .kind = NUL                                                                                    \
  }
#define R(v)                                                                                       \
  {                                                                                                \
    .kind = RAW, .s = v                                                                            \
  }
/* CASE(name, expected rc, expected text or NULL, buffer max or 0, calls...) */
#define CASE(n, r, w, m, ...)                                                                      \
  {                                                                                                \
    .name = n, .rc = r, .want = w, .max = m, .ops = { __VA_ARGS__ }                                \
  }

static const struct jcase cases[] = {
    CASE("empty object", DS_OK, "{}", 0, O, OE),
    CASE("empty array", DS_OK, "[]", 0, A, AE),
    CASE("spacing", DS_OK, "{\"a\": 1, \"b\": [1, 2]}", 0, O, K("a"), I(1), K("b"), A, I(1), I(2),
         AE, OE),
    CASE("nested", DS_OK, "{\"x\": {\"n\": null}, \"e\": [], \"o\": {}}", 0, O, K("x"), O, K("n"),
         N, OE, K("e"), A, AE, K("o"), O, OE, OE),
    CASE("array of objects", DS_OK, "[{\"a\": 1}, {}, []]", 0, A, O, K("a"), I(1), OE, O, OE, A, AE,
         AE),
    CASE("top-level int", DS_OK, "-42", 0, I(-42)),
    CASE("top-level string", DS_OK, "\"x\"", 0, S("x")),
    CASE("NULL string is null", DS_OK, "[null]", 0, A, S(NULL), AE),
    CASE("int64 limits", DS_OK, "[-9223372036854775808, 9223372036854775807, 0]", 0, A,
         I(INT64_MIN), I(INT64_MAX), I(0), AE),
    CASE("doubles round-trip", DS_OK, "[4.0, 0.1, -0.0, 1e+300, -2.5, 0.3333333333333333]", 0, A,
         D(4.0), D(0.1), D(-0.0), D(1e300), D(-2.5), D(1.0 / 3), AE),
    CASE("double extremes", DS_OK,
         "[1.7976931348623157e+308, 2.2250738585072014e-308, 4.94065645841247e-324]", 0, A,
         D(DBL_MAX), D(DBL_MIN), D(5e-324), AE),
    CASE("bools and null", DS_OK, "[true, false, null]", 0, A, B(1), B(0), N, AE),
    CASE("escaped strings", DS_OK, "{\"q\\\"k\": \"a\\\\b\\n\\u0001\"}", 0, O, K("q\"k"),
         S("a\\b\n\x01"), OE),
    CASE("invalid UTF-8 replaced", DS_OK, "\"a\xef\xbf\xbd\"", 0, S("a\xff")),
    CASE("strn with NUL", DS_OK, "\"a\\u0000b\"", 0, SN("a\0b", 3)),
    CASE("raw member", DS_OK, "{\"cmd\": {\"full\": true}, \"n\": 1}", 0, O, K("cmd"),
         R("{\"full\": true}"), K("n"), I(1), OE),
    CASE("raw in array", DS_OK, "[1, []]", 0, A, R("1"), R("[]"), AE),
    /* misuse */
    CASE("nothing written", DS_EINVAL, NULL, 0, {.kind = END}),
    CASE("unclosed object", DS_EINVAL, NULL, 0, O, K("a"), I(1)),
    CASE("unclosed array", DS_EINVAL, NULL, 0, A),
    CASE("value without key", DS_EINVAL, NULL, 0, O, I(1), OE),
    CASE("key without value", DS_EINVAL, NULL, 0, O, K("a"), OE),
    CASE("two keys", DS_EINVAL, NULL, 0, O, K("a"), K("b"), I(1), OE),
    CASE("key in array", DS_EINVAL, NULL, 0, A, K("a"), AE),
    CASE("key at top level", DS_EINVAL, NULL, 0, K("a")),
    CASE("mismatched close", DS_EINVAL, NULL, 0, O, AE),
    CASE("close at top level", DS_EINVAL, NULL, 0, OE),
    CASE("two top-level values", DS_EINVAL, NULL, 0, I(1), I(2)),
    CASE("NaN", DS_EINVAL, NULL, 0, A, D(NAN), AE),
    CASE("infinity", DS_EINVAL, NULL, 0, O, K("x"), D(INFINITY), OE),
    /* bounded output */
    CASE("fits exactly", DS_OK, "{\"a\": 1}", 8, O, K("a"), I(1), OE),
    CASE("buffer full", DS_ERANGE, NULL, 8, O, K("a"), I(10), OE),
    CASE("buffer full in escape", DS_ERANGE, NULL, 10, S("\x01\x01")),
    {.name = NULL},
};

static void apply(struct ds_jsonw *w, const struct op *op)
{
  switch (op->kind) {
  case END:
    break;
  case OBJ:
    ds_jsonw_object_begin(w);
    break;
  case OBJ_END:
    ds_jsonw_object_end(w);
    break;
  case ARR:
    ds_jsonw_array_begin(w);
    break;
  case ARR_END:
    ds_jsonw_array_end(w);
    break;
  case KEY:
    ds_jsonw_key(w, op->s);
    break;
  case STR:
    ds_jsonw_str(w, op->s);
    break;
  case STRN:
    ds_jsonw_strn(w, op->s, op->len);
    break;
  case INT:
    ds_jsonw_int64(w, op->i);
    break;
  case DBL:
    ds_jsonw_double(w, op->d);
    break;
  case BOOL:
    ds_jsonw_bool(w, op->i != 0);
    break;
  case NUL:
    ds_jsonw_null(w);
    break;
  case RAW:
    ds_jsonw_raw(w, op->s, strlen(op->s));
    break;
  }
}

static void test_table(void)
{
  for (const struct jcase *c = cases; c->name != NULL; c++) {
    struct ds_buf b;
    ds_buf_init(&b, c->max ? c->max : 4096);
    struct ds_jsonw w;
    ds_jsonw_init(&w, &b);
    for (size_t i = 0; i < MAX_OPS && (i == 0 || c->ops[i].kind != END); i++)
      apply(&w, &c->ops[i]);
    int rc = ds_jsonw_finish(&w);
    if (rc != c->rc || (c->want != NULL && (b.data == NULL || strcmp(b.data, c->want) != 0)))
      fprintf(stderr, "\n  case \"%s\": rc %d want %d, got %s\n", c->name, rc, c->rc,
              b.data ? b.data : "(null)");
    CU_ASSERT_EQUAL(rc, c->rc);
    if (c->rc == DS_OK) {
      CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
      CU_ASSERT_STRING_EQUAL(b.data, c->want);
      struct json_tokener *tok = json_tokener_new();
      json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
      struct json_object *o = json_tokener_parse_ex(tok, b.data, (int)b.len + 1);
      CU_ASSERT_EQUAL(json_tokener_get_error(tok), json_tokener_success);
      json_object_put(o);
      json_tokener_free(tok);
    }
    ds_buf_cleanup(&b);
  }
}

/* The key_* shorthands equal key + value. */
static void test_members(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 4096);
  struct ds_jsonw w;
  ds_jsonw_init(&w, &b);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key_str(&w, "s", "v");
  ds_jsonw_key_int64(&w, "i", 7);
  ds_jsonw_key_double(&w, "d", 1.5);
  ds_jsonw_key_bool(&w, "b", true);
  ds_jsonw_key_null(&w, "n");
  ds_jsonw_object_end(&w);
  CU_ASSERT_EQUAL(ds_jsonw_finish(&w), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, "{\"s\": \"v\", \"i\": 7, \"d\": 1.5, \"b\": true, \"n\": null}");
  ds_buf_cleanup(&b);
}

/* Errors are sticky: nothing is written after the first one, and what the
 * buffer held before the writer started is kept. */
static void test_sticky(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 4096);
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "pre:"), DS_OK);
  struct ds_jsonw w;
  ds_jsonw_init(&w, &b);
  ds_jsonw_array_begin(&w);
  ds_jsonw_int64(&w, 1);
  ds_jsonw_double(&w, NAN);
  CU_ASSERT_EQUAL(ds_jsonw_error(&w), DS_EINVAL);
  ds_jsonw_int64(&w, 2);
  ds_jsonw_array_end(&w);
  CU_ASSERT_EQUAL(ds_jsonw_finish(&w), DS_EINVAL);
  CU_ASSERT_STRING_EQUAL(b.data, "pre:[1");
  ds_buf_cleanup(&b);
}

/* Nesting up to DS_JSONW_DEPTH works; one more level is DS_ERANGE. */
static void test_depth(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 4096);
  struct ds_jsonw w;
  ds_jsonw_init(&w, &b);
  for (int i = 0; i < DS_JSONW_DEPTH; i++)
    ds_jsonw_array_begin(&w);
  for (int i = 0; i < DS_JSONW_DEPTH; i++)
    ds_jsonw_array_end(&w);
  CU_ASSERT_EQUAL(ds_jsonw_finish(&w), DS_OK);
  CU_ASSERT_EQUAL(b.len, 2 * DS_JSONW_DEPTH);

  ds_buf_reset(&b);
  ds_jsonw_init(&w, &b);
  for (int i = 0; i <= DS_JSONW_DEPTH; i++)
    ds_jsonw_array_begin(&w);
  CU_ASSERT_EQUAL(ds_jsonw_finish(&w), DS_ERANGE);
  ds_buf_cleanup(&b);
}

static const struct ds_test_case tests[] = {
    {"table", test_table},
    {"members", test_members},
    {"sticky errors", test_sticky},
    {"depth", test_depth},
    {NULL, NULL},
};

DS_TEST_MAIN("jsonw", tests)
