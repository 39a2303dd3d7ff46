/* libFuzzer target for the recalculation command (MQTT
 * control/recalculate and POST /tasks/recalculate bodies).  Checks beyond
 * "no crash": an accepted command holds only valid values, its canonical
 * payload parses back to the same command; a refused one says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds/buf.h"
#include "ds/recalc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct ds_recalc_cmd c, c2;
  char err[DS_ERRLEN];
  err[0] = '\0';
  int rc = ds_recalc_cmd_parse((const char *)data, size, &c, err);
  if (rc == DS_ENOMEM)
    return 0;
  if (rc != DS_OK) {
    if (rc != DS_EINVAL || err[0] == '\0' || strnlen(err, DS_ERRLEN) == DS_ERRLEN)
      abort();
    if (c.has_request_id && !ds_recalc_request_id_valid(c.request_id, strlen(c.request_id)))
      abort();
    return 0;
  }
  if ((c.scope == DS_RECALC_SCOPE_DEVICE &&
       !ds_device_id_valid(c.device_id, strnlen(c.device_id, sizeof c.device_id))) ||
      (c.scope == DS_RECALC_SCOPE_USER && c.user_id <= 0) ||
      (c.has_request_id && !ds_recalc_request_id_valid(c.request_id, strlen(c.request_id))))
    abort();
  struct ds_buf b;
  ds_buf_init(&b, 8192);
  if (ds_recalc_cmd_payload(&b, &c, c.has_request_id ? c.request_id : NULL) != DS_OK)
    abort();
  if (ds_recalc_cmd_parse(b.data, b.len, &c2, err) != DS_OK)
    abort();
  if (c2.scope != c.scope || c2.full != c.full || c2.has_request_id != c.has_request_id ||
      (c.scope == DS_RECALC_SCOPE_DEVICE && strcmp(c.device_id, c2.device_id) != 0) ||
      (c.scope == DS_RECALC_SCOPE_USER && c.user_id != c2.user_id) ||
      (c.has_request_id && strcmp(c.request_id, c2.request_id) != 0))
    abort();
  ds_buf_cleanup(&b);
  return 0;
}
