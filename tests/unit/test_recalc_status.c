/* Tests for ds/recalc_status.h without a server: the status event JSON
 * (a table of statuses and their exact payloads) and reading a status from
 * a result row (a PGresult built in memory).  Recording and reading runs
 * against PostgreSQL is covered by the aggregator scenarios. */
#include <libpq-fe.h>
#include <string.h>

#include "ds/recalc_status.h"
#include "ds_test.h"

static void test_json(void)
{
  static const struct {
    struct ds_recalc_status st;
    const char *want;
  } cases[] = {
      {{"r-1", "running", 0, 0, ""},
       "{\"request_id\": \"r-1\", \"state\": \"running\", \"devices\": 0, \"elapsed_ms\": 0}"},
      {{"r-1", "done", 1000, 1234, "ignored unless failed"},
       "{\"request_id\": \"r-1\", \"state\": \"done\", \"devices\": 1000, \"elapsed_ms\": 1234}"},
      {{"r-1", "queued", 0, 0, ""},
       "{\"request_id\": \"r-1\", \"state\": \"queued\", \"devices\": 0, \"elapsed_ms\": 0}"},
      {{"r\"2", "failed", 3, 7, "unknown device \"x\""},
       "{\"request_id\": \"r\\\"2\", \"state\": \"failed\", \"devices\": 3, \"elapsed_ms\": 7, "
       "\"error\": \"unknown device \\\"x\\\"\"}"},
      {{"r", "failed", 0, 0, ""},
       "{\"request_id\": \"r\", \"state\": \"failed\", \"devices\": 0, \"elapsed_ms\": 0, "
       "\"error\": \"\"}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ds_buf b;
    ds_buf_init(&b, 4096);
    CU_ASSERT_EQUAL(ds_recalc_status_json(&b, &cases[i].st), DS_OK);
    CU_ASSERT_STRING_EQUAL(b.data, cases[i].want);
    ds_buf_cleanup(&b);
  }
  /* a full buffer is an error, not a truncated event */
  struct ds_buf b;
  ds_buf_init(&b, 20);
  CU_ASSERT_EQUAL(ds_recalc_status_json(&b, &cases[0].st), DS_ERANGE);
  ds_buf_cleanup(&b);
}

/* One row of DS_RECALC_STATUS_COLS as libpq would return it. */
static PGresult *row(const char *const vals[5])
{
  PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
  PGresAttDesc att[5];
  memset(att, 0, sizeof att);
  const char *names[5] = {"request_id", "state", "devices_done", "elapsed", "error"};
  for (int i = 0; i < 5; i++) {
    att[i].name = (char *)names[i];
    att[i].typlen = -1;
  }
  CU_ASSERT_FATAL(PQsetResultAttrs(r, 5, att) != 0);
  for (int i = 0; i < 5; i++)
    CU_ASSERT_FATAL(PQsetvalue(r, 0, i, (char *)vals[i], (int)strlen(vals[i])) != 0);
  return r;
}

static void test_from_row(void)
{
  const char *v[5] = {"nightly-1", "failed", "12", "3456", "device dev-7: out of range"};
  PGresult *r = row(v);
  struct ds_recalc_status st;
  ds_recalc_status_from_row(r, 0, &st);
  CU_ASSERT_STRING_EQUAL(st.request_id, "nightly-1");
  CU_ASSERT_STRING_EQUAL(st.state, "failed");
  CU_ASSERT_EQUAL(st.devices, 12);
  CU_ASSERT_EQUAL(st.elapsed_ms, 3456);
  CU_ASSERT_STRING_EQUAL(st.error, "device dev-7: out of range");
  PQclear(r);

  /* an over-long state is truncated, not overflowed */
  const char *w[5] = {"x", "a-state-longer-than-sixteen-bytes", "0", "0", ""};
  r = row(w);
  ds_recalc_status_from_row(r, 0, &st);
  CU_ASSERT_EQUAL(strlen(st.state), DS_RECALC_STATE_MAX - 1);
  PQclear(r);
}

static const struct ds_test_case tests[] = {
    {"status event json", test_json},
    {"status from a result row", test_from_row},
    {NULL, NULL},
};

DS_TEST_MAIN("recalc_status", tests)
