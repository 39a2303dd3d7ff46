/* libFuzzer target for the sample codec (ds_sample_decode), the topic
 * parser and RFC 3339 times.  Built with clang by scripts/test.sh (the fuzz
 * step: cmake -DDS_FUZZ=ON in build-fuzz/) and run by tests/fuzz/run.sh
 * over corpus/fuzz_sample/ with sample.dict.
 *
 * Checks beyond "no crash": a decode either succeeds with 1..DS_SAMPLES_MAX
 * finite, in-range samples, or fails with DS_EINVAL, a reason and a detail
 * starting with "<code>: ". */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds/sample.h"
#include "ds/time.h"

static struct ds_sample out[DS_SAMPLES_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t n = 0;
  enum ds_reject r = DS_REJECT_NONE;
  char err[DS_ERRLEN];
  int rc = ds_sample_decode((const char *)data, size, INT64_C(1795860900123000), out, &n, &r, err);
  if (rc == DS_OK) {
    if (n < 1 || n > DS_SAMPLES_MAX || r != DS_REJECT_NONE)
      abort();
    for (size_t i = 0; i < n; i++)
      if (!isfinite(out[i].x) || !isfinite(out[i].y) || !isfinite(out[i].z) ||
          out[i].ts_us < DS_TIME_MIN_US || out[i].ts_us > DS_TIME_MAX_US)
        abort();
  } else if (rc == DS_EINVAL) {
    const char *code = ds_reject_code(r);
    size_t cl = strlen(code);
    if (r == DS_REJECT_NONE || strncmp(err, code, cl) != 0 || err[cl] != ':')
      abort();
  } else if (rc != DS_ENOMEM) {
    abort();
  }

  char dev[DS_DEVICE_ID_MAX + 1];
  if (ds_topic_device((const char *)data, size, dev, err) == DS_OK &&
      !ds_device_id_valid(dev, strlen(dev)))
    abort();

  /* The same bytes as a time string. */
  int64_t us;
  if (ds_time_parse_rfc3339((const char *)data, size, &us) == DS_OK &&
      (us < DS_TIME_MIN_US || us > DS_TIME_MAX_US))
    abort();
  return 0;
}
