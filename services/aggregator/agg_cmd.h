/* Recalculation commands (control/recalculate payloads) and status events
 * (control/recalculate/status payloads).  Pure: no clock, sockets, database
 * or environment; the caller supplies random bytes for generated ids. */
#ifndef AGG_CMD_H
#define AGG_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ds/err.h"
#include "ds/sample.h"

#define AGG_REQUEST_ID_MAX 128
/* Largest command accepted; anything bigger is malformed. */
#define AGG_CMD_PAYLOAD_MAX 4096

enum agg_scope {
  AGG_SCOPE_ALL = 0, /* {} or an empty payload */
  AGG_SCOPE_DEVICE,  /* {"device_id": "dev-7"} */
  AGG_SCOPE_USER,    /* {"user_id": 3} */
};

struct agg_cmd {
  enum agg_scope scope;
  char device_id[DS_DEVICE_ID_MAX + 1]; /* AGG_SCOPE_DEVICE */
  int32_t user_id;                      /* AGG_SCOPE_USER, > 0 */
  bool full;                            /* "full": true recomputes unchanged devices */
  bool has_request_id;
  char request_id[AGG_REQUEST_ID_MAX + 1];
};

/* Parses payload[0..len) (need not be NUL-terminated).  Accepted: an empty
 * payload, or a JSON object with only the keys device_id (valid device id
 * string), user_id (integer 1..2^31-1), request_id (string of 1..128
 * printable ASCII characters), full (boolean); device_id and user_id are
 * exclusive.  On failure returns DS_EINVAL with the reason in err; the
 * request_id is still filled in (has_request_id) when it could be read, so
 * the failure can be recorded under it.  *out is always initialised. */
DS_MUSTCHECK int agg_cmd_parse(const char *payload, size_t len, struct agg_cmd *out,
                               char err[DS_ERRLEN]);

/* Whether s[0..len) is an acceptable request id: 1..128 bytes of printable
 * ASCII (0x21..0x7e). */
bool agg_request_id_valid(const char *s, size_t len);

/* Formats 16 random bytes as a UUID version 4 string (36 characters) into
 * out. */
void agg_request_id_format(const unsigned char rnd[16], char out[AGG_REQUEST_ID_MAX + 1]);

/* Appends the canonical command JSON of c (without request_id), e.g.
 * {"device_id":"dev-7","full":true}; what a run records as "what was asked". */
DS_MUSTCHECK int agg_cmd_to_json(struct ds_buf *b, const struct agg_cmd *c);

/* Appends a status event:
 *   {"request_id":..,"state":..,"devices":N,"elapsed_ms":N[,"error":..]}
 * error is included only when state is "failed" (NULL becomes ""). */
DS_MUSTCHECK int agg_status_json(struct ds_buf *b, const char *request_id, const char *state,
                                 long long devices, long long elapsed_ms, const char *error);

#endif
