/* Time as int64 microseconds since the Unix epoch (UTC): parsing RFC 3339
 * and Unix milliseconds, printing RFC 3339 with milliseconds. */
#ifndef DS_TIME_H
#define DS_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"

#define DS_TIME_NONE INT64_MIN
/* Accepted range: years 1970..9999. */
#define DS_TIME_MIN_US INT64_C(0)
#define DS_TIME_MAX_US INT64_C(253402300799999999)
#define DS_TIME_STRLEN 32

/* Wall clock now. */
int64_t ds_time_now_us(void);
/* Monotonic clock, for durations. */
int64_t ds_time_mono_ms(void);

/* Parses an RFC 3339 date-time ("2026-11-28T10:15:00.123Z", offsets such as
 * "+02:00", 't'/'z'/' ' accepted, fractions up to 9 digits, truncated to
 * microseconds); s need not be NUL-terminated.  DS_EINVAL on anything else,
 * including a leap second (:60), 24:00, and times outside years 1970..9999
 * once the offset is applied. */
DS_MUSTCHECK int ds_time_parse_rfc3339(const char *s, size_t len, int64_t *out_us);
/* Unix milliseconds to microseconds; DS_ERANGE outside years 1970..9999. */
DS_MUSTCHECK int ds_time_from_unix_ms(int64_t ms, int64_t *out_us);
/* Parses a query-string time (NUL-terminated, already URL-decoded): RFC 3339,
 * a bare date "2026-11-28" (midnight UTC) or integer Unix milliseconds (digits
 * only).  A space where the offset's '+' belongs ("...10:00:00 02:00", what
 * form decoding makes of an unencoded '+') is read as '+'.  DS_EINVAL on
 * anything else. */
DS_MUSTCHECK int ds_time_parse_param(const char *s, int64_t *out_us);
/* Formats "YYYY-MM-DDTHH:MM:SS.mmmZ" (milliseconds, truncated toward the
 * past: -1 us is "1969-12-31T23:59:59.999Z") into out; returns out.  Any
 * int64 is printed without overflow (years outside 0..9999 get more digits). */
char *ds_time_format(int64_t us, char out[DS_TIME_STRLEN]);
/* Parses an interval such as "500ms", "10s", "5m", "1h", "1d" (a positive
 * integer and a unit, nothing else: no sign, space, fraction or other unit)
 * into microseconds.  DS_EINVAL otherwise, or when it overflows int64. */
DS_MUSTCHECK int ds_interval_parse(const char *s, int64_t *out_us);

#endif
