/* Tests for ds/time.h: RFC 3339 parsing and printing, Unix milliseconds,
 * query-string times and intervals.  Tables first, then round trips
 * against the C library's gmtime_r as an independent reference. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds/time.h"
#include "ds_test.h"

#define S INT64_C(1000000)

struct time_case {
  const char *in;
  int rc;
  int64_t us;
};

/* 2026-11-28T00:00:00Z */
#define D20261128 (INT64_C(1795824000) * S)

static const struct time_case rfc3339_cases[] = {
    {"1970-01-01T00:00:00Z", DS_OK, 0},
    {"1970-01-01T00:00:00.000001Z", DS_OK, 1},
    {"2026-11-28T10:15:00.123Z", DS_OK, D20261128 + 36900 * S + 123000},
    {"2026-11-28t10:15:00.123z", DS_OK, D20261128 + 36900 * S + 123000},
    {"2026-11-28 10:15:00.123Z", DS_OK, D20261128 + 36900 * S + 123000},
    {"2026-11-28T10:15:00Z", DS_OK, D20261128 + 36900 * S},
    {"2026-11-28T10:15:00.1Z", DS_OK, D20261128 + 36900 * S + 100000},
    {"2026-11-28T10:15:00.12Z", DS_OK, D20261128 + 36900 * S + 120000},
    {"2026-11-28T10:15:00.123456Z", DS_OK, D20261128 + 36900 * S + 123456},
    {"2026-11-28T10:15:00.1234567Z", DS_OK, D20261128 + 36900 * S + 123456},
    {"2026-11-28T10:15:00.123456789Z", DS_OK, D20261128 + 36900 * S + 123456},
    {"2026-11-28T10:15:00.999999999Z", DS_OK, D20261128 + 36900 * S + 999999},
    {"2026-11-28T12:15:00+02:00", DS_OK, D20261128 + 36900 * S},
    {"2026-11-28T04:45:00-05:30", DS_OK, D20261128 + 36900 * S},
    {"2026-11-28T10:15:00+00:00", DS_OK, D20261128 + 36900 * S},
    {"2026-11-28T10:15:00-00:00", DS_OK, D20261128 + 36900 * S},
    {"2026-11-29T10:14:00+23:59", DS_OK, D20261128 + 36900 * S},
    {"2026-11-28T10:15:00.5+02:00", DS_OK, D20261128 + 29700 * S + 500000},
    {"2024-02-29T12:34:56Z", DS_OK, INT64_C(1709210096) * S},
    {"2000-02-29T00:00:00Z", DS_OK, INT64_C(951782400) * S},
    {"1970-01-01T01:00:00+01:00", DS_OK, 0},
    {"9999-12-31T23:59:59.999999Z", DS_OK, DS_TIME_MAX_US},
    {"9999-12-31T23:59:59.9999999Z", DS_OK, DS_TIME_MAX_US},
    {"9999-12-31T22:59:59.999999-01:00", DS_OK, DS_TIME_MAX_US},
    /* malformed */
    {"", DS_EINVAL, 0},
    {"2026-11-28", DS_EINVAL, 0},
    {"2026-11-28T", DS_EINVAL, 0},
    {"2026-11-28T10:15:00", DS_EINVAL, 0},
    {"2026-11-28T10:15Z", DS_EINVAL, 0},
    {"2026-11-28T10Z", DS_EINVAL, 0},
    {"2026-11-28T10:15:00.Z", DS_EINVAL, 0},
    {"2026-11-28T10:15:00.1234567890Z", DS_EINVAL, 0},
    {"2026-11-28T10:15:00,5Z", DS_EINVAL, 0},
    {"2026-11-28T10:15:00Zjunk", DS_EINVAL, 0},
    {"2026-11-28T10:15:00Z ", DS_EINVAL, 0},
    {" 2026-11-28T10:15:00Z", DS_EINVAL, 0},
    {"2026-11-28X10:15:00Z", DS_EINVAL, 0},
    {"2026-11-28_10:15:00Z", DS_EINVAL, 0},
    {"2026/11/28T10:15:00Z", DS_EINVAL, 0},
    {"2026-1-28T10:15:00Z", DS_EINVAL, 0},
    {"2026-11-8T10:15:00Z", DS_EINVAL, 0},
    {"26-11-28T10:15:00Z", DS_EINVAL, 0},
    {"+2026-11-28T10:15:00Z", DS_EINVAL, 0},
    {"2026-11-28T1:15:00Z", DS_EINVAL, 0},
    {"2026-11-28T10:15:0Z", DS_EINVAL, 0},
    {"2026-11-28T10:15:00+02", DS_EINVAL, 0},
    {"2026-11-28T10:15:00+0200", DS_EINVAL, 0},
    {"2026-11-28T10:15:00+2:00", DS_EINVAL, 0},
    {"2026-11-28T10:15:00+24:00", DS_EINVAL, 0},
    {"2026-11-28T10:15:00+02:60", DS_EINVAL, 0},
    {"2026-11-28T10:15:00UTC", DS_EINVAL, 0},
    {"2026-11-28T10:15:00 Z", DS_EINVAL, 0},
    {"2026-11-28T10:15:00.-1Z", DS_EINVAL, 0},
    {"2026-11-28T10:15:00.1e3Z", DS_EINVAL, 0},
    /* field ranges */
    {"2026-13-01T00:00:00Z", DS_EINVAL, 0},
    {"2026-00-01T00:00:00Z", DS_EINVAL, 0},
    {"2026-11-00T00:00:00Z", DS_EINVAL, 0},
    {"2026-11-31T00:00:00Z", DS_EINVAL, 0},
    {"2026-12-32T00:00:00Z", DS_EINVAL, 0},
    {"2026-02-29T00:00:00Z", DS_EINVAL, 0},
    {"1900-02-29T00:00:00Z", DS_EINVAL, 0},
    {"2100-02-29T00:00:00Z", DS_EINVAL, 0},
    {"2026-11-28T24:00:00Z", DS_EINVAL, 0},
    {"2026-11-28T23:60:00Z", DS_EINVAL, 0},
    {"2026-11-28T23:59:60Z", DS_EINVAL, 0},
    {"2026-11-28T99:99:99Z", DS_EINVAL, 0},
    /* outside years 1970..9999, after applying the offset */
    {"1969-12-31T23:59:59.999999Z", DS_EINVAL, 0},
    {"1970-01-01T00:30:00+01:00", DS_EINVAL, 0},
    {"0000-01-01T00:00:00Z", DS_EINVAL, 0},
    {"9999-12-31T23:59:59-00:01", DS_EINVAL, 0},
    {"10000-01-01T00:00:00Z", DS_EINVAL, 0},
    {NULL, 0, 0},
};

static void test_parse_rfc3339_table(void)
{
  for (const struct time_case *c = rfc3339_cases; c->in != NULL; c++) {
    int64_t us = -42;
    int rc = ds_time_parse_rfc3339(c->in, strlen(c->in), &us);
    if (rc != c->rc || (rc == DS_OK && us != c->us))
      fprintf(stderr, "\n  %s: rc=%d us=%lld, want rc=%d us=%lld\n", c->in, rc, (long long)us,
              c->rc, (long long)c->us);
    CU_ASSERT_EQUAL(rc, c->rc);
    CU_ASSERT_EQUAL(us, c->rc == DS_OK ? c->us : -42); /* untouched on failure */
  }
}

static void test_parse_rfc3339_not_nul_terminated(void)
{
  /* The length bounds the input; what follows is never read as part of it. */
  const char *s = "2026-11-28T10:15:00Zjunk";
  int64_t us = 0;
  CU_ASSERT_EQUAL(ds_time_parse_rfc3339(s, 20, &us), DS_OK);
  CU_ASSERT_EQUAL(us, D20261128 + 36900 * S);
  /* Cut anywhere before the end: always rejected, never read past len. */
  const char *full = "2026-11-28T10:15:00.123456+02:00";
  size_t n = strlen(full);
  for (size_t len = 0; len < n; len++) {
    char *copy = malloc(len ? len : 1);
    CU_ASSERT_FATAL(copy != NULL);
    memcpy(copy, full, len);
    CU_ASSERT_EQUAL(ds_time_parse_rfc3339(copy, len, &us), DS_EINVAL);
    free(copy);
  }
  CU_ASSERT_EQUAL(ds_time_parse_rfc3339(full, n, &us), DS_OK);
  /* An embedded NUL is just a bad character. */
  CU_ASSERT_EQUAL(ds_time_parse_rfc3339("2026-11-28T10:15:00\0Z", 21, &us), DS_EINVAL);
}

static void test_from_unix_ms(void)
{
  int64_t us = -42;
  CU_ASSERT_EQUAL(ds_time_from_unix_ms(0, &us), DS_OK);
  CU_ASSERT_EQUAL(us, 0);
  CU_ASSERT_EQUAL(ds_time_from_unix_ms(INT64_C(1764324900123), &us), DS_OK);
  CU_ASSERT_EQUAL(us, INT64_C(1764324900123000));
  CU_ASSERT_EQUAL(ds_time_from_unix_ms(DS_TIME_MAX_US / 1000, &us), DS_OK);
  CU_ASSERT_EQUAL(us, DS_TIME_MAX_US - 999);
  us = -42;
  CU_ASSERT_EQUAL(ds_time_from_unix_ms(-1, &us), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_time_from_unix_ms(DS_TIME_MAX_US / 1000 + 1, &us), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_time_from_unix_ms(INT64_MAX, &us), DS_ERANGE);
  CU_ASSERT_EQUAL(ds_time_from_unix_ms(INT64_MIN, &us), DS_ERANGE);
  CU_ASSERT_EQUAL(us, -42);
}

struct fmt_case {
  int64_t us;
  const char *out;
};

static const struct fmt_case fmt_cases[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {999, "1970-01-01T00:00:00.000Z"},
    {1000, "1970-01-01T00:00:00.001Z"},
    {-1, "1969-12-31T23:59:59.999Z"},
    {-999, "1969-12-31T23:59:59.999Z"},
    {-1000, "1969-12-31T23:59:59.999Z"},
    {-1001, "1969-12-31T23:59:59.998Z"},
    {-86400 * S, "1969-12-31T00:00:00.000Z"},
    {-86400 * S - 1, "1969-12-30T23:59:59.999Z"},
    {D20261128 + 36900 * S + 123999, "2026-11-28T10:15:00.123Z"},
    {INT64_C(1709210096) * S, "2024-02-29T12:34:56.000Z"},
    {INT64_C(951782400) * S - 1, "2000-02-28T23:59:59.999Z"},
    {INT64_C(951868800) * S, "2000-03-01T00:00:00.000Z"},
    {DS_TIME_MAX_US, "9999-12-31T23:59:59.999Z"},
    {DS_TIME_MAX_US + 1, "10000-01-01T00:00:00.000Z"},
    {0, NULL},
};

static void test_format_table(void)
{
  char buf[DS_TIME_STRLEN];
  for (const struct fmt_case *c = fmt_cases; c->out != NULL; c++) {
    CU_ASSERT_PTR_EQUAL(ds_time_format(c->us, buf), buf);
    if (strcmp(buf, c->out) != 0)
      fprintf(stderr, "\n  %lld: got %s want %s\n", (long long)c->us, buf, c->out);
    CU_ASSERT_STRING_EQUAL(buf, c->out);
  }
}

static void test_format_extremes(void)
{
  /* Far outside the accepted range: still NUL-terminated within the buffer. */
  const int64_t odd[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX, DS_TIME_NONE,
                         -INT64_C(62135596800) * S};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    char buf[DS_TIME_STRLEN + 8];
    memset(buf, 'X', sizeof buf);
    ds_time_format(odd[i], buf);
    CU_ASSERT(memchr(buf, '\0', DS_TIME_STRLEN) != NULL);
    CU_ASSERT_EQUAL(buf[DS_TIME_STRLEN], 'X');
  }
}

/* Round trips: format then parse gives the time truncated to milliseconds
 * (floor), and ds_time_format agrees with gmtime_r. */
static void test_round_trip_against_gmtime(void)
{
  uint64_t seed = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 100000; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    int64_t us = (int64_t)(seed % (uint64_t)(DS_TIME_MAX_US + 1));
    if (i < 1000) /* also dense coverage of the first days and of day edges */
      us = i * (86400 * S / 2) - (i % 2);
    if (us < 0)
      us = 0;
    char buf[DS_TIME_STRLEN];
    ds_time_format(us, buf);
    int64_t back = -1;
    CU_ASSERT_EQUAL_FATAL(ds_time_parse_rfc3339(buf, strlen(buf), &back), DS_OK);
    CU_ASSERT_EQUAL_FATAL(back, us - us % 1000);

    time_t t = (time_t)(us / S);
    struct tm tm;
    CU_ASSERT_FATAL(gmtime_r(&t, &tm) != NULL);
    char ref[64];
    snprintf(ref, sizeof ref, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % S / 1000));
    if (strcmp(ref, buf) != 0)
      fprintf(stderr, "\n  %lld: got %s, gmtime says %s\n", (long long)us, buf, ref);
    CU_ASSERT_STRING_EQUAL_FATAL(buf, ref);
  }
}

/* Every day of the accepted range: the date printed parses back to the same
 * day, and consecutive days are 86400 s apart (catches any calendar slip). */
static void test_every_day(void)
{
  int64_t prev = -1;
  for (int64_t day = 0;; day++) {
    int64_t us = day * 86400 * S;
    if (us > DS_TIME_MAX_US)
      break;
    char buf[DS_TIME_STRLEN];
    ds_time_format(us, buf);
    int64_t back;
    if (ds_time_parse_rfc3339(buf, strlen(buf), &back) != DS_OK || back != us) {
      CU_FAIL("day does not round-trip");
      fprintf(stderr, "\n  day %lld: %s\n", (long long)day, buf);
      return;
    }
    char date[11];
    memcpy(date, buf, 10);
    date[10] = '\0';
    if (ds_time_parse_param(date, &back) != DS_OK || back != us ||
        (prev >= 0 && us - prev != 86400 * S)) {
      CU_FAIL("bare date does not parse to midnight");
      return;
    }
    prev = us;
  }
  CU_ASSERT_EQUAL(prev, DS_TIME_MAX_US - (86400 * S - 1));
}

static const struct time_case param_cases[] = {
    {"2026-11-28", DS_OK, D20261128},
    {"1970-01-01", DS_OK, 0},
    {"9999-12-31", DS_OK, DS_TIME_MAX_US - (86400 * S - 1)},
    {"2024-02-29", DS_OK, INT64_C(1709164800) * S},
    {"2026-11-28T10:15:00.123Z", DS_OK, D20261128 + 36900 * S + 123000},
    {"2026-11-28T12:15:00+02:00", DS_OK, D20261128 + 36900 * S},
    /* '+' decoded to ' ' by form decoding */
    {"2026-11-28T12:15:00 02:00", DS_OK, D20261128 + 36900 * S},
    {"2026-11-28T04:45:00-05:30", DS_OK, D20261128 + 36900 * S},
    {"0", DS_OK, 0},
    {"1764324900123", DS_OK, INT64_C(1764324900123000)},
    {"253402300799999", DS_OK, DS_TIME_MAX_US - 999},
    {"2026", DS_OK, 2026000}, /* digits only: Unix milliseconds */
    {"", DS_EINVAL, 0},
    {" ", DS_EINVAL, 0},
    {"abc", DS_EINVAL, 0},
    {"-1", DS_EINVAL, 0},
    {"+1", DS_EINVAL, 0},
    {"1.5", DS_EINVAL, 0},
    {"1e3", DS_EINVAL, 0},
    {"253402300800000", DS_EINVAL, 0},
    {"99999999999999999999", DS_EINVAL, 0},
    {"2026-11-28T10:15:00", DS_EINVAL, 0},
    {"2026-11-28 ", DS_EINVAL, 0},
    {" 2026-11-28", DS_EINVAL, 0},
    {"2026-02-30", DS_EINVAL, 0},
    {"2026-11", DS_EINVAL, 0},
    {"1969-12-31", DS_EINVAL, 0},
    {"2026-11-28T12:15:00 02", DS_EINVAL, 0},
    {"2026-11-28T12:15:00.000000000000000000000000000000000000000000000000000000000000000Z",
     DS_EINVAL, 0},
    {NULL, 0, 0},
};

static void test_parse_param_table(void)
{
  for (const struct time_case *c = param_cases; c->in != NULL; c++) {
    int64_t us = -42;
    int rc = ds_time_parse_param(c->in, &us);
    if (rc != c->rc || (rc == DS_OK && us != c->us))
      fprintf(stderr, "\n  \"%s\": rc=%d us=%lld, want rc=%d us=%lld\n", c->in, rc, (long long)us,
              c->rc, (long long)c->us);
    CU_ASSERT_EQUAL(rc, c->rc);
    CU_ASSERT_EQUAL(us, c->rc == DS_OK ? c->us : -42);
  }
  int64_t us;
  CU_ASSERT_EQUAL(ds_time_parse_param(NULL, &us), DS_EINVAL);
}

static const struct time_case interval_cases[] = {
    {"500ms", DS_OK, 500000},
    {"1ms", DS_OK, 1000},
    {"10s", DS_OK, 10 * S},
    {"60s", DS_OK, 60 * S},
    {"5m", DS_OK, 300 * S},
    {"1h", DS_OK, 3600 * S},
    {"1d", DS_OK, 86400 * S},
    {"007s", DS_OK, 7 * S},
    {"9223372036854775ms", DS_OK, INT64_C(9223372036854775000)},
    {"106751991d", DS_OK, INT64_C(106751991) * 86400 * S},
    {"0s", DS_EINVAL, 0},
    {"0ms", DS_EINVAL, 0},
    {"-1s", DS_EINVAL, 0},
    {"+1s", DS_EINVAL, 0},
    {"10", DS_EINVAL, 0},
    {"s", DS_EINVAL, 0},
    {"", DS_EINVAL, 0},
    {"1.5s", DS_EINVAL, 0},
    {"1w", DS_EINVAL, 0},
    {"1us", DS_EINVAL, 0},
    {"1sec", DS_EINVAL, 0},
    {"1S", DS_EINVAL, 0},
    {"1H", DS_EINVAL, 0},
    {"1 s", DS_EINVAL, 0},
    {" 1s", DS_EINVAL, 0},
    {"1s ", DS_EINVAL, 0},
    {"1s1", DS_EINVAL, 0},
    {"1m5s", DS_EINVAL, 0},
    {"9223372036854776ms", DS_EINVAL, 0},
    {"106751992d", DS_EINVAL, 0},
    {"999999999999999999d", DS_EINVAL, 0},
    {"99999999999999999999s", DS_EINVAL, 0},
    {"0000000000000000000001s", DS_EINVAL, 0},
    {NULL, 0, 0},
};

static void test_interval_table(void)
{
  for (const struct time_case *c = interval_cases; c->in != NULL; c++) {
    int64_t us = -42;
    int rc = ds_interval_parse(c->in, &us);
    if (rc != c->rc || (rc == DS_OK && us != c->us))
      fprintf(stderr, "\n  \"%s\": rc=%d us=%lld, want rc=%d us=%lld\n", c->in, rc, (long long)us,
              c->rc, (long long)c->us);
    CU_ASSERT_EQUAL(rc, c->rc);
    CU_ASSERT_EQUAL(us, c->rc == DS_OK ? c->us : -42);
  }
  int64_t us;
  CU_ASSERT_EQUAL(ds_interval_parse(NULL, &us), DS_EINVAL);
}

static void test_clocks(void)
{
  int64_t now = ds_time_now_us();
  CU_ASSERT(now > INT64_C(1735689600) * S); /* after 2025-01-01 */
  CU_ASSERT(now < DS_TIME_MAX_US);
  int64_t a = ds_time_mono_ms();
  int64_t b = ds_time_mono_ms();
  CU_ASSERT(a >= 0);
  CU_ASSERT(b >= a);
}

static const struct ds_test_case cases[] = {
    {"parse_rfc3339_table", test_parse_rfc3339_table},
    {"parse_rfc3339_not_nul_terminated", test_parse_rfc3339_not_nul_terminated},
    {"from_unix_ms", test_from_unix_ms},
    {"format_table", test_format_table},
    {"format_extremes", test_format_extremes},
    {"round_trip_against_gmtime", test_round_trip_against_gmtime},
    {"every_day", test_every_day},
    {"parse_param_table", test_parse_param_table},
    {"interval_table", test_interval_table},
    {"clocks", test_clocks},
    {NULL, NULL},
};

DS_TEST_MAIN("time", cases)
