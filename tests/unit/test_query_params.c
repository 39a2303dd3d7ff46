/* Tests for the query service's input parsing (query_params.c): time
 * ranges with aliases, integers, intervals and series buckets. */
#include <string.h>

#include "ds/time.h"
#include "ds_test.h"
#include "query_params.h"

#define MS INT64_C(1000)
#define S INT64_C(1000000)
#define T0 (INT64_C(1795824000) * S) /* 2026-11-28T00:00:00Z */

struct range_case {
  const char *k1, *v1, *k2, *v2;
  int rc;
  int64_t start, end;
};

static const struct range_case range_cases[] = {
    {NULL, NULL, NULL, NULL, DS_OK, DS_TIME_NONE, DS_TIME_NONE},
    {"start", "2026-11-28T00:00:00Z", NULL, NULL, DS_OK, T0, DS_TIME_NONE},
    {"end", "2026-11-28T00:00:00.001Z", NULL, NULL, DS_OK, DS_TIME_NONE, T0 + MS},
    {"start", "2026-11-28", "end", "2026-11-29", DS_OK, T0, T0 + 86400 * S},
    {"start_date", "2026-11-28", "end_date", "2026-11-29", DS_OK, T0, T0 + 86400 * S},
    {"start", "1795824000000", "end", "1795824000001", DS_OK, T0, T0 + MS},
    {"start", "2026-11-28T01:00:00+01:00", NULL, NULL, DS_OK, T0, DS_TIME_NONE},
    {"start", "2026-11-28", "end", "2026-11-28", DS_OK, T0, T0},          /* empty, not an error */
    {"start", "2026-11-29", "end", "2026-11-28", DS_EINVAL, 0, 0},        /* start after end */
    {"start", "2026-11-28", "start_date", "2026-11-28", DS_EINVAL, 0, 0}, /* both names */
    {"end", "2026-11-28", "end_date", "2026-11-28", DS_EINVAL, 0, 0},
    {"start", "yesterday", NULL, NULL, DS_EINVAL, 0, 0},
    {"start", "", NULL, NULL, DS_EINVAL, 0, 0},
    {"end", "2026-13-01", NULL, NULL, DS_EINVAL, 0, 0},
    {"end", "2026-11-28T25:00:00Z", NULL, NULL, DS_EINVAL, 0, 0},
    {"start", "12abc", NULL, NULL, DS_EINVAL, 0, 0},
};

static void test_range(void)
{
  for (size_t i = 0; i < sizeof range_cases / sizeof range_cases[0]; i++) {
    const struct range_case *c = &range_cases[i];
    struct query_http_req req;
    memset(&req, 0, sizeof req);
    if (c->k1 != NULL)
      req.query[req.n_query++] = (struct query_http_kv){c->k1, c->v1};
    if (c->k2 != NULL)
      req.query[req.n_query++] = (struct query_http_kv){c->k2, c->v2};
    req.query[req.n_query++] = (struct query_http_kv){"other", "ignored"};
    int64_t s = 7, e = 7;
    char err[DS_ERRLEN] = "";
    int rc = query_params_range(&req, &s, &e, err);
    CU_ASSERT_EQUAL(rc, c->rc);
    if (rc != c->rc)
      fprintf(stderr, "range case %zu: rc %d\n", i, rc);
    if (c->rc == DS_OK) {
      CU_ASSERT_EQUAL(s, c->start);
      CU_ASSERT_EQUAL(e, c->end);
    } else {
      CU_ASSERT(err[0] != '\0');
      CU_ASSERT_EQUAL(s, 7); /* untouched */
    }
  }
}

struct int_case {
  const char *in;
  long long min, max;
  int rc;
  long long out;
};

static const struct int_case int_cases[] = {
    {"1", 1, 10, DS_OK, 1},
    {"10", 1, 10, DS_OK, 10},
    {"0", 1, 10, DS_EINVAL, 0},
    {"11", 1, 10, DS_EINVAL, 0},
    {"-1", -5, 10, DS_EINVAL, 0},
    {"+1", 1, 10, DS_EINVAL, 0},
    {" 1", 1, 10, DS_EINVAL, 0},
    {"1 ", 1, 10, DS_EINVAL, 0},
    {"1x", 1, 10, DS_EINVAL, 0},
    {"", 1, 10, DS_EINVAL, 0},
    {"0x10", 0, 100, DS_EINVAL, 0},
    {"007", 0, 10, DS_OK, 7},
    {"99999999999999999999", 0, INT64_MAX, DS_EINVAL, 0},
    {"2147483647", 1, 2147483647, DS_OK, 2147483647},
    {"2147483648", 1, 2147483647, DS_EINVAL, 0},
};

static void test_int(void)
{
  for (size_t i = 0; i < sizeof int_cases / sizeof int_cases[0]; i++) {
    long long v = -42;
    int rc = query_params_int(int_cases[i].in, int_cases[i].min, int_cases[i].max, &v);
    CU_ASSERT_EQUAL(rc, int_cases[i].rc);
    CU_ASSERT_EQUAL(v, rc == DS_OK ? int_cases[i].out : -42);
  }
  long long v;
  CU_ASSERT_EQUAL(query_params_int(NULL, 0, 1, &v), DS_EINVAL);
}

struct interval_case {
  const char *in;
  int rc;
  int64_t us;
};

static const struct interval_case interval_cases[] = {
    {"500ms", DS_OK, 500 * MS}, {"10s", DS_OK, 10 * S},
    {"5m", DS_OK, 300 * S},     {"1h", DS_OK, 3600 * S},
    {"1d", DS_OK, 86400 * S},   {"60s", DS_OK, 60 * S},
    {"1ms", DS_OK, MS},         {"0s", DS_EINVAL, 0},
    {"-1s", DS_EINVAL, 0},      {"10", DS_EINVAL, 0},
    {"s", DS_EINVAL, 0},        {"", DS_EINVAL, 0},
    {"1.5s", DS_EINVAL, 0},     {"10 s", DS_EINVAL, 0},
    {"1w", DS_EINVAL, 0},       {"99999999999999999999d", DS_EINVAL, 0},
};

static void test_limit(void)
{
  static const struct {
    const char *v; /* NULL: absent */
    int rc;
    long long want;
  } cases[] = {
      {NULL, DS_OK, 42},   {"1", DS_OK, 1},      {"500", DS_OK, 500}, {"501", DS_EINVAL, 0},
      {"0", DS_EINVAL, 0}, {"-1", DS_EINVAL, 0}, {"", DS_EINVAL, 0},  {"1e3", DS_EINVAL, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct query_http_req req;
    memset(&req, 0, sizeof req);
    if (cases[i].v != NULL)
      req.query[req.n_query++] = (struct query_http_kv){"limit", cases[i].v};
    long long lim = -7;
    char err[DS_ERRLEN] = "";
    int rc = query_params_limit(&req, 42, 500, &lim, err);
    CU_ASSERT_EQUAL(rc, cases[i].rc);
    if (rc == DS_OK) {
      CU_ASSERT_EQUAL(lim, cases[i].want);
    } else {
      CU_ASSERT_STRING_EQUAL(err, "limit: an integer from 1 to 500");
    }
  }
}

static void test_interval(void)
{
  for (size_t i = 0; i < sizeof interval_cases / sizeof interval_cases[0]; i++) {
    int64_t v = -1;
    int rc = ds_interval_parse(interval_cases[i].in, &v);
    CU_ASSERT_EQUAL(rc == DS_OK, interval_cases[i].rc == DS_OK);
    if (rc == DS_OK)
      CU_ASSERT_EQUAL(v, interval_cases[i].us);
    if ((rc == DS_OK) != (interval_cases[i].rc == DS_OK))
      fprintf(stderr, "interval case %s: rc %d\n", interval_cases[i].in, rc);
  }
}

static void test_buckets(void)
{
  int64_t first = 0, n = 0;
  /* aligned to the epoch, not to start */
  CU_ASSERT_EQUAL(query_params_buckets(T0 + 30 * S, T0 + 150 * S, 60 * S, 100, &first, &n), DS_OK);
  CU_ASSERT_EQUAL(first, T0);
  CU_ASSERT_EQUAL(n, 3);
  /* end exactly on a boundary: the bucket starting there is not included */
  CU_ASSERT_EQUAL(query_params_buckets(T0, T0 + 120 * S, 60 * S, 100, &first, &n), DS_OK);
  CU_ASSERT_EQUAL(first, T0);
  CU_ASSERT_EQUAL(n, 2);
  CU_ASSERT_EQUAL(query_params_buckets(T0, T0 + 1, 60 * S, 100, &first, &n), DS_OK);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_EQUAL(query_params_buckets(T0, T0, 60 * S, 100, &first, &n), DS_OK);
  CU_ASSERT_EQUAL(n, 0);
  /* the cap */
  CU_ASSERT_EQUAL(query_params_buckets(T0, T0 + 100 * S, S, 100, &first, &n), DS_OK);
  CU_ASSERT_EQUAL(n, 100);
  CU_ASSERT_EQUAL(query_params_buckets(T0, T0 + 100 * S + 1, S, 100, &first, &n), DS_ERANGE);
  CU_ASSERT_EQUAL(query_params_buckets(0, DS_TIME_MAX_US, MS, 10000, &first, &n), DS_ERANGE);
  CU_ASSERT_EQUAL(query_params_buckets(T0, T0 - 1, S, 100, &first, &n), DS_EINVAL);
  CU_ASSERT_EQUAL(query_params_buckets(T0, T0 + 1, 0, 100, &first, &n), DS_EINVAL);
  CU_ASSERT_EQUAL(query_params_floor_div(-1, 10), -1);
  CU_ASSERT_EQUAL(query_params_floor_div(-10, 10), -1);
  CU_ASSERT_EQUAL(query_params_floor_div(-11, 10), -2);
  CU_ASSERT_EQUAL(query_params_floor_div(19, 10), 1);
}

static const struct ds_test_case tests[] = {
    {"time ranges", test_range},      {"integers", test_int}, {"intervals", test_interval},
    {"series buckets", test_buckets}, {"limit", test_limit},  {NULL, NULL},
};

DS_TEST_MAIN("query_params", tests)
