/* libFuzzer target for the time parsers: RFC 3339 (payload "ts" values),
 * the query-string forms (RFC 3339, bare date, Unix milliseconds) and
 * series intervals.  Checks beyond "no crash": every parsed time is in
 * range and reads back from its printed form (milliseconds kept), every
 * parsed interval is positive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What printing keeps: the millisecond the time falls in. */
static void check_roundtrip(int64_t us)
{
  if (us < DS_TIME_MIN_US || us > DS_TIME_MAX_US)
    abort();
  char out[DS_TIME_STRLEN];
  ds_time_format(us, out);
  int64_t back;
  if (ds_time_parse_rfc3339(out, strlen(out), &back) != DS_OK || back != us - us % 1000)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  int64_t us;
  if (ds_time_parse_rfc3339((const char *)data, size, &us) == DS_OK)
    check_roundtrip(us);
  if (size > 4096)
    return 0;
  /* The query-string forms take NUL-terminated text. */
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  if (ds_time_parse_param(s, &us) == DS_OK)
    check_roundtrip(us);
  if (ds_interval_parse(s, &us) == DS_OK && us <= 0)
    abort();
  free(s);
  return 0;
}
