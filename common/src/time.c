/* Time as int64 microseconds since the Unix epoch (UTC): the clocks,
 * RFC 3339 parsing and printing, query-string times and intervals.  Calendar
 * arithmetic is proleptic Gregorian (days_from_civil / civil_from_days, after
 * Howard Hinnant), so it needs neither timegm() nor the TZ environment. */
#include "ds/time.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define US_PER_S INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_S)

int64_t ds_time_now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

int64_t ds_time_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;                                  /* [0, 399] */
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
  return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;                                      /* [0, 146096] */
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
  int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n ASCII digits at s[*pos..] into *out. */
static bool digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
  int v = 0;
  if (len - *pos < (size_t)n)
    return false;
  for (int i = 0; i < n; i++) {
    char c = s[*pos + (size_t)i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  *pos += (size_t)n;
  *out = v;
  return true;
}

static bool expect(const char *s, size_t len, size_t *pos, char c)
{
  if (*pos >= len || s[*pos] != c)
    return false;
  (*pos)++;
  return true;
}

/* "YYYY-MM-DD" at s[*pos..], validated (month 1..12, day within month). */
static bool parse_date(const char *s, size_t len, size_t *pos, int *y, int *m, int *d)
{
  if (!digits(s, len, pos, 4, y) || !expect(s, len, pos, '-') || !digits(s, len, pos, 2, m) ||
      !expect(s, len, pos, '-') || !digits(s, len, pos, 2, d))
    return false;
  return *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

/* Seconds 60 (leap seconds) are rejected: PostgreSQL and most clients
 * cannot represent them either. */
int ds_time_parse_rfc3339(const char *s, size_t len, int64_t *out_us)
{
  size_t pos = 0;
  int y, mo, d, h, mi, sec, oh = 0, om = 0;
  int64_t frac_us = 0, offset_s = 0;

  if (s == NULL || !parse_date(s, len, &pos, &y, &mo, &d))
    return DS_EINVAL;
  if (pos >= len || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
    return DS_EINVAL;
  pos++;
  if (!digits(s, len, &pos, 2, &h) || !expect(s, len, &pos, ':') || !digits(s, len, &pos, 2, &mi) ||
      !expect(s, len, &pos, ':') || !digits(s, len, &pos, 2, &sec))
    return DS_EINVAL;
  if (h > 23 || mi > 59 || sec > 59)
    return DS_EINVAL;
  if (pos < len && s[pos] == '.') {
    /* 1..9 digits; digits past the sixth are truncated (toward the past,
     * since the fraction is non-negative). */
    size_t start = ++pos;
    int64_t scale = 100000;
    while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start >= 9)
        return DS_EINVAL;
      frac_us += (s[pos] - '0') * scale;
      scale /= 10;
      pos++;
    }
    if (pos == start)
      return DS_EINVAL;
  }
  if (pos >= len)
    return DS_EINVAL;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    pos++;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int sign = s[pos] == '-' ? -1 : 1;
    pos++;
    if (!digits(s, len, &pos, 2, &oh) || !expect(s, len, &pos, ':') ||
        !digits(s, len, &pos, 2, &om) || oh > 23 || om > 59)
      return DS_EINVAL;
    offset_s = sign * (oh * INT64_C(3600) + om * 60);
  } else {
    return DS_EINVAL;
  }
  if (pos != len)
    return DS_EINVAL;

  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  /* Years are 4 digits, so this cannot overflow; check the UTC range. */
  int64_t us = secs * US_PER_S + frac_us;
  if (us < DS_TIME_MIN_US || us > DS_TIME_MAX_US)
    return DS_EINVAL;
  *out_us = us;
  return DS_OK;
}

int ds_time_from_unix_ms(int64_t ms, int64_t *out_us)
{
  if (ms < DS_TIME_MIN_US / 1000 || ms > DS_TIME_MAX_US / 1000)
    return DS_ERANGE;
  *out_us = ms * 1000;
  return DS_OK;
}

static bool all_digits(const char *s, size_t len)
{
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

int ds_time_parse_param(const char *s, int64_t *out_us)
{
  if (s == NULL)
    return DS_EINVAL;
  size_t len = strlen(s);
  if (len == 0 || len > 64)
    return DS_EINVAL;

  if (all_digits(s, len)) {
    errno = 0;
    char *end = NULL;
    long long ms = strtoll(s, &end, 10);
    if (errno != 0 || end != s + len)
      return DS_EINVAL;
    return ds_time_from_unix_ms(ms, out_us) == DS_OK ? DS_OK : DS_EINVAL;
  }

  if (len == 10) {
    size_t pos = 0;
    int y, m, d;
    if (!parse_date(s, len, &pos, &y, &m, &d))
      return DS_EINVAL;
    int64_t us = days_from_civil(y, m, d) * US_PER_DAY;
    if (us < DS_TIME_MIN_US || us > DS_TIME_MAX_US)
      return DS_EINVAL;
    *out_us = us;
    return DS_OK;
  }

  /* An unencoded '+' in a query string arrives as a space after form
   * decoding ("...10:00:00 02:00"); the offset position is unambiguous, so
   * read it back as '+'. */
  char tmp[65];
  memcpy(tmp, s, len);
  if (len >= 6 && tmp[len - 6] == ' ' && tmp[len - 3] == ':')
    tmp[len - 6] = '+';
  return ds_time_parse_rfc3339(tmp, len, out_us);
}

char *ds_time_format(int64_t us, char out[DS_TIME_STRLEN])
{
  /* Floor division, so that negative times truncate toward the past. */
  int64_t ms = us / 1000 - (us % 1000 < 0);
  int64_t days = ms / 86400000 - (ms % 86400000 < 0);
  int64_t ms_of_day = ms - days * 86400000;
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  int h = (int)(ms_of_day / 3600000);
  int mi = (int)(ms_of_day / 60000 % 60);
  int sec = (int)(ms_of_day / 1000 % 60);
  int msec = (int)(ms_of_day % 1000);
  /* Years beyond 0..9999 (outside the accepted range) still fit. */
  char tmp[96];
  int n = snprintf(tmp, sizeof tmp, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d, h,
                   mi, sec, msec);
  size_t len = n < 0 ? 0 : (size_t)n;
  if (len > DS_TIME_STRLEN - 1)
    len = DS_TIME_STRLEN - 1;
  memcpy(out, tmp, len);
  out[len] = '\0';
  return out;
}

int ds_interval_parse(const char *s, int64_t *out_us)
{
  static const struct {
    const char *name;
    int64_t us;
  } units[] = {
      {"ms", 1000},           {"s", US_PER_S},   {"m", 60 * US_PER_S},
      {"h", 3600 * US_PER_S}, {"d", US_PER_DAY},
  };
  if (s == NULL)
    return DS_EINVAL;
  size_t n = 0;
  while (s[n] >= '0' && s[n] <= '9')
    n++;
  if (n == 0 || n > 18)
    return DS_EINVAL;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  if (v <= 0)
    return DS_EINVAL;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(s + n, units[i].name) == 0) {
      if (v > INT64_MAX / units[i].us)
        return DS_EINVAL;
      *out_us = v * units[i].us;
      return DS_OK;
    }
  }
  return DS_EINVAL;
}
