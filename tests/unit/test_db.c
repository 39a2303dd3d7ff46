/* Tests for the parts of ds/db.h that need no server: integer arrays as
 * SQL array literal text (passed as one parameter) and the timestamp
 * conversions.  ds_db_exec and the migrator run against a real server in
 * the integration tests. */
#include <stdint.h>
#include <string.h>

#include "ds/db.h"
#include "ds_test.h"

static void test_int32_array(void)
{
  static const struct {
    int32_t v[4];
    size_t n;
    const char *want;
  } cases[] = {
      {{0}, 0, "{}"},
      {{7}, 1, "{7}"},
      {{1, 2, 3}, 3, "{1,2,3}"},
      {{INT32_MIN, -1, 0, INT32_MAX}, 4, "{-2147483648,-1,0,2147483647}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ds_buf b;
    ds_buf_init(&b, 1024);
    CU_ASSERT_EQUAL(ds_db_int32_array(&b, cases[i].v, cases[i].n), DS_OK);
    CU_ASSERT_STRING_EQUAL(b.data, cases[i].want);
    ds_buf_cleanup(&b);
  }
}

static void test_int64_array(void)
{
  const int64_t v[] = {INT64_MIN, 0, INT64_MAX};
  struct ds_buf b;
  ds_buf_init(&b, 1024);
  CU_ASSERT_EQUAL(ds_db_int64_array(&b, v, 3), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, "{-9223372036854775808,0,9223372036854775807}");
  ds_buf_reset(&b);
  CU_ASSERT_EQUAL(ds_db_int64_array(&b, NULL, 0), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, "{}");
  ds_buf_cleanup(&b);
  /* a bounded buffer fails cleanly */
  ds_buf_init(&b, 8);
  CU_ASSERT_EQUAL(ds_db_int64_array(&b, v, 3), DS_ERANGE);
  ds_buf_cleanup(&b);
}

static void test_timestamps(void)
{
  CU_ASSERT_EQUAL(ds_pg_ts_from_unix(DS_PG_EPOCH_OFFSET_US), 0);
  CU_ASSERT_EQUAL(ds_pg_ts_to_unix(0), DS_PG_EPOCH_OFFSET_US);
  CU_ASSERT_EQUAL(ds_pg_ts_to_unix(ds_pg_ts_from_unix(123456789)), 123456789);
  /* Saturating at the ends (fuzz_chunk: a chunk time of 'infinity'). */
  CU_ASSERT_EQUAL(ds_pg_ts_to_unix(INT64_MAX), INT64_MAX);
  CU_ASSERT_EQUAL(ds_pg_ts_to_unix(INT64_MAX - DS_PG_EPOCH_OFFSET_US + 1), INT64_MAX);
  CU_ASSERT_EQUAL(ds_pg_ts_to_unix(INT64_MAX - DS_PG_EPOCH_OFFSET_US), INT64_MAX);
  CU_ASSERT_EQUAL(ds_pg_ts_to_unix(INT64_MIN), INT64_MIN + DS_PG_EPOCH_OFFSET_US);
  CU_ASSERT_EQUAL(ds_pg_ts_from_unix(INT64_MIN), INT64_MIN);
  CU_ASSERT_EQUAL(ds_pg_ts_from_unix(INT64_MIN + DS_PG_EPOCH_OFFSET_US - 1), INT64_MIN);
  CU_ASSERT_EQUAL(ds_pg_ts_from_unix(INT64_MAX), INT64_MAX - DS_PG_EPOCH_OFFSET_US);
}

static const struct ds_test_case tests[] = {
    {"int32_array", test_int32_array},
    {"int64_array", test_int64_array},
    {"timestamps", test_timestamps},
    {NULL, NULL},
};

DS_TEST_MAIN("db", tests)
