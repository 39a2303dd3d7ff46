/* Tests of what the query service's answers rest on: the exact median on a
 * table of cases (checked against sorting), per-slice statistics as the
 * user route computes them, and JSON numbers that read back to the same
 * double (statistics objects parsed back with json-c). */
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds/buf.h"
#include "ds/jsonw.h"
#include "ds/stats.h"
#include "ds/store.h"
#include "ds/time.h"
#include "ds_test.h"
#include "query_stats.h"

struct median_case {
  size_t n;
  double v[8];
  double median;
};

static const struct median_case median_cases[] = {
    {1, {5}, 5},
    {2, {1, 2}, 1.5},
    {2, {2, 1}, 1.5},
    {3, {3, 1, 2}, 2},
    {4, {4, 1, 3, 2}, 2.5},
    {5, {1, 1, 1, 1, 1}, 1},
    {4, {1, 1, 2, 2}, 1.5},
    {6, {-3, -1, -2, 10, 0, 0}, -0.5},
    {6, {-3, 1, -2, 10, 0, 0}, 0},
    {2, {-0.0, 0.0}, 0},
    {2, {DBL_MAX, DBL_MAX}, DBL_MAX}, /* the mean must not overflow */
    {2, {-DBL_MAX, -DBL_MAX}, -DBL_MAX},
    {2, {DBL_MAX, -DBL_MAX}, 0},
    {2, {DBL_MIN, DBL_TRUE_MIN}, (DBL_MIN + DBL_TRUE_MIN) / 2},
    {3, {1e308, -1e308, 5}, 5},
    {7, {7, 6, 5, 4, 3, 2, 1}, 4},
    {8, {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}, (0.4 + 0.5) / 2},
};

static void test_median_table(void)
{
  for (size_t i = 0; i < sizeof median_cases / sizeof median_cases[0]; i++) {
    double v[8];
    memcpy(v, median_cases[i].v, sizeof v);
    double m = ds_median(v, median_cases[i].n);
    CU_ASSERT_DOUBLE_EQUAL(m, median_cases[i].median, 0);
    if (m != median_cases[i].median)
      fprintf(stderr, "median case %zu: %.17g\n", i, m);
  }
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Random arrays with many duplicates against qsort. */
static void test_median_random(void)
{
  srand(12345);
  for (int round = 0; round < 300; round++) {
    size_t n = 1 + (size_t)(rand() % 2000);
    double *v = malloc(n * sizeof *v), *s = malloc(n * sizeof *s);
    CU_ASSERT_FATAL(v != NULL && s != NULL);
    int spread = 1 + rand() % 50;
    for (size_t i = 0; i < n; i++)
      v[i] = s[i] = (double)(rand() % spread) * 0.25 - 3;
    qsort(s, n, sizeof *s, cmp_double);
    double want = n % 2 ? s[n / 2] : s[n / 2 - 1] / 2 + s[n / 2] / 2;
    CU_ASSERT_EQUAL(ds_median(v, n), want);
    free(v);
    free(s);
  }
}

static double member(struct json_object *o, const char *axis, const char *key)
{
  struct json_object *a = NULL, *v = NULL;
  CU_ASSERT_FATAL(json_object_object_get_ex(o, axis, &a));
  CU_ASSERT_FATAL(json_object_object_get_ex(a, key, &v));
  return json_object_get_double(v);
}

/* Values that are hard to print: each must read back bit-exactly. */
static const double hard[] = {0.1,
                              1.0 / 3,
                              2.0 / 3,
                              1e-300,
                              5e-324,
                              DBL_MAX,
                              -DBL_MIN,
                              123456789.123456789,
                              9007199254740993.0,
                              0.30000000000000004,
                              1e21,
                              1e22,
                              4.35,
                              -2.5e-8,
                              100,
                              0};

static void test_json_round_trip(void)
{
  for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++) {
    struct ds_values v;
    ds_values_init(&v, 1);
    v.x = malloc(sizeof(double));
    v.y = malloc(sizeof(double));
    v.z = malloc(sizeof(double));
    CU_ASSERT_FATAL(v.x && v.y && v.z);
    v.cap = v.n = 1;
    v.x[0] = hard[i];
    v.y[0] = -hard[i];
    v.z[0] = hard[i] / 7;
    double want_z = hard[i] / 7;
    struct ds_stats st;
    ds_values_stats(&v, &st);
    struct ds_buf b;
    ds_buf_init(&b, 1 << 16);
    struct ds_jsonw w;
    ds_jsonw_init(&w, &b);
    query_stats_write(&w, "device_id", "dev-7", 0, DS_TIME_NONE, &st);
    CU_ASSERT_EQUAL_FATAL(ds_jsonw_finish(&w), DS_OK);
    struct json_object *o = json_tokener_parse(b.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    const char *keys[] = {"min", "max", "sum", "median"};
    for (int k = 0; k < 4; k++) {
      double x = member(o, "x", keys[k]), y = member(o, "y", keys[k]), z = member(o, "z", keys[k]);
      CU_ASSERT(memcmp(&x, &hard[i], sizeof x) == 0 || (x == 0 && hard[i] == 0));
      CU_ASSERT(y == -hard[i]);
      CU_ASSERT(z == want_z);
      if (x != hard[i])
        fprintf(stderr, "round trip %.17g printed as %s\n", hard[i], b.data);
    }
    json_object_put(o);
    ds_buf_cleanup(&b);
    ds_values_cleanup(&v);
  }
}

/* The user route computes each device on its slice, then the union: the
 * union's median is a true one, not a median of medians. */
static void test_slices_and_union(void)
{
  double x[] = {1, 2, 3, 100, 200}; /* device A: 1,2,3  device B: 100,200 */
  struct ds_axis_stats a, b, all;
  ds_axis_compute(x, 3, &a);
  ds_axis_compute(x + 3, 2, &b);
  ds_axis_compute(x, 5, &all);
  CU_ASSERT_EQUAL(a.median, 2);
  CU_ASSERT_EQUAL(b.median, 150);
  CU_ASSERT_EQUAL(all.median, 3); /* a median of medians would say 76 */
  CU_ASSERT_EQUAL(all.count, 5);
  CU_ASSERT_EQUAL(all.sum, 306);
  CU_ASSERT_EQUAL(all.min, 1);
  CU_ASSERT_EQUAL(all.max, 200);
}

/* The statistics object: every member in the documented order, spaced as
 * every JSON body ({"a": 1, "b": 2}); an axis without values has null
 * min, max and median and sum 0; a non-finite number is null. */
static void test_object_text(void)
{
  struct ds_stats s = {.count = 3,
                       .x = {3, 1.0, 7.0, 12.0, 4.0},
                       .y = {0, 0, 0, 0, 0},
                       .z = {3, -0.5, 2, INFINITY, 0.1}};
  struct ds_buf b;
  ds_buf_init(&b, 4096);
  struct ds_jsonw w;
  ds_jsonw_init(&w, &b);
  query_stats_write(&w, "device_id", "dev-7", INT64_C(1795824000000000), DS_TIME_NONE, &s);
  CU_ASSERT_EQUAL_FATAL(ds_jsonw_finish(&w), DS_OK);
  CU_ASSERT_STRING_EQUAL(
      b.data,
      "{\"device_id\": \"dev-7\", \"start\": \"2026-11-28T00:00:00.000Z\", \"end\": null, "
      "\"count\": 3, "
      "\"x\": {\"count\": 3, \"min\": 1.0, \"max\": 7.0, \"sum\": 12.0, \"median\": 4.0}, "
      "\"y\": {\"count\": 0, \"min\": null, \"max\": null, \"sum\": 0, \"median\": null}, "
      "\"z\": {\"count\": 3, \"min\": -0.5, \"max\": 2.0, \"sum\": null, \"median\": 0.1}}");
  /* Members into an object the caller opened, without a subject. */
  ds_buf_reset(&b);
  ds_jsonw_init(&w, &b);
  ds_jsonw_object_begin(&w);
  query_stats_write_members(&w, NULL, NULL, DS_TIME_NONE, 0, &s);
  ds_jsonw_key_int64(&w, "extra", 1);
  ds_jsonw_object_end(&w);
  CU_ASSERT_EQUAL_FATAL(ds_jsonw_finish(&w), DS_OK);
  static const char head[] = "{\"start\": null, \"end\": \"1970-01-01T00:00:00.000Z\", ";
  CU_ASSERT_NSTRING_EQUAL(b.data, head, sizeof head - 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "}, \"extra\": 1}"));
  ds_buf_cleanup(&b);
}

static const struct ds_test_case tests[] = {
    {"statistics object text", test_object_text}, {"median table", test_median_table},
    {"median vs sort", test_median_random},       {"JSON numbers round-trip", test_json_round_trip},
    {"slices and union", test_slices_and_union},  {NULL, NULL},
};

DS_TEST_MAIN("query_stats", tests)
