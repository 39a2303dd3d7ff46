/* The recalculation protocol shared by the aggregator (MQTT
 * control/recalculate) and the query service (POST /tasks/recalculate):
 * topics, command parsing and canonical form, request ids.  The run record
 * (recalc_runs) and the status events are in ds/recalc_status.h.  Pure
 * except for ds_recalc_request_id_new, which reads /dev/urandom. */
#ifndef DS_RECALC_H
#define DS_RECALC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ds/err.h"
#include "ds/sample.h"

/* The topics of the protocol: commands in, status events out (QoS 1).
 * Several aggregators share the commands through
 * $share/<group>/control/recalculate. */
#define DS_RECALC_TOPIC "control/recalculate"
#define DS_RECALC_STATUS_TOPIC "control/recalculate/status"

#define DS_RECALC_REQUEST_ID_MAX 128
/* Largest command accepted; anything bigger is malformed. */
#define DS_RECALC_CMD_PAYLOAD_MAX 4096

enum ds_recalc_scope {
  DS_RECALC_SCOPE_ALL = 0, /* {} or an empty payload */
  DS_RECALC_SCOPE_DEVICE,  /* {"device_id": "dev-7"} */
  DS_RECALC_SCOPE_USER,    /* {"user_id": 3} */
};

struct ds_recalc_cmd {
  enum ds_recalc_scope scope;
  char device_id[DS_DEVICE_ID_MAX + 1]; /* DS_RECALC_SCOPE_DEVICE */
  int32_t user_id;                      /* DS_RECALC_SCOPE_USER, > 0 */
  bool full;                            /* "full": true recomputes unchanged devices */
  bool has_request_id;
  char request_id[DS_RECALC_REQUEST_ID_MAX + 1];
};

/* Parses payload[0..len) (borrowed, need not be NUL-terminated).  Accepted:
 * an empty or all-whitespace payload, or a JSON object with only the keys
 * device_id (valid device id string), user_id (integer 1..2^31-1),
 * request_id (string of 1..128 printable ASCII characters), full (boolean);
 * device_id and user_id are exclusive.  On failure returns DS_EINVAL with
 * the reason in err (a payload over DS_RECALC_CMD_PAYLOAD_MAX bytes
 * included), or DS_ENOMEM; the request_id is still filled in
 * (has_request_id) when it could be read, so the failure can be recorded
 * under it.  *out is always initialised. */
DS_MUSTCHECK int ds_recalc_cmd_parse(const char *payload, size_t len, struct ds_recalc_cmd *out,
                                     char err[DS_ERRLEN]);

/* Appends the canonical command JSON of c (borrowed) to b, without
 * request_id, e.g. {"device_id": "dev-7", "full": true}; what a run records
 * as "what was asked".  DS_OK or ds_buf's error. */
DS_MUSTCHECK int ds_recalc_cmd_to_json(struct ds_buf *b, const struct ds_recalc_cmd *c);
/* The same with "request_id" (borrowed; NULL: left out) as the last member:
 * the payload to publish on DS_RECALC_TOPIC. */
DS_MUSTCHECK int ds_recalc_cmd_payload(struct ds_buf *b, const struct ds_recalc_cmd *c,
                                       const char *request_id);

/* Whether s[0..len) (borrowed, may be NULL) is an acceptable request id:
 * 1..128 bytes of printable ASCII (0x21..0x7e). */
bool ds_recalc_request_id_valid(const char *s, size_t len);

/* Formats 16 random bytes as a UUID version 4 string (36 characters) into
 * out. */
void ds_recalc_request_id_format(const unsigned char rnd[16],
                                 char out[DS_RECALC_REQUEST_ID_MAX + 1]);

/* A new UUID version 4 request id from /dev/urandom into out.  DS_OK, or
 * DS_EIO (out untouched) when /dev/urandom cannot be read. */
DS_MUSTCHECK int ds_recalc_request_id_new(char out[DS_RECALC_REQUEST_ID_MAX + 1]);

#endif
