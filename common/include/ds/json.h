/* A thin layer over json-c: strict parsing of untrusted input and typed
 * getters that fail on a missing key, a wrong type or a non-finite number.
 * Output is not built here: use ds_buf (ds_buf_append_json_str,
 * ds_buf_append_double).
 *
 * What "strict" means (json-c 0.16 with JSON_TOKENER_STRICT and
 * JSON_TOKENER_VALIDATE_UTF8, plus our own checks):
 *   rejected: invalid UTF-8 (a BOM included), NUL bytes anywhere, anything
 *     but whitespace after the value, comments, trailing commas, leading
 *     zeros, hex, '+1', '.5', nesting deeper than DS_JSON_DEPTH, empty input;
 *   tolerated by json-c and kept as is: single-quoted strings, "1." (read
 *     as 1.0), raw control characters inside strings, NaN/Infinity literals
 *     (our number getters then reject them as non-finite);
 *   duplicate keys: the last one wins (like JavaScript's JSON.parse);
 *   integers beyond 64 bits: json-c clamps them silently, so the number
 *     getters reject the clamp values (INT64_MIN and UINT64_MAX) as
 *     DS_ERANGE rather than return a wrong number;
 *   "-0" as an integer reads as +0 (json-c has no negative integer zero);
 *     "-0.0" keeps its sign. */
#ifndef DS_JSON_H
#define DS_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"

/* Deepest nesting accepted (json-c's default). */
#define DS_JSON_DEPTH 32

/* Parses s[0..len) (need not be NUL-terminated) as one JSON value.
 * Returns DS_OK and *out, newly allocated (free with json_object_put; it is
 * NULL for the JSON literal null); DS_ERANGE if len > max_len (checked
 * before anything else); DS_EINVAL for anything not strict JSON, with detail
 * in err such as "unexpected character at offset 12".  An empty or
 * whitespace-only input is DS_EINVAL with detail "empty input".
 * err may be NULL. */
DS_MUSTCHECK int ds_json_parse(const char *s, size_t len, size_t max_len, struct json_object **out,
                               char err[DS_ERRLEN]);

/* "null", "boolean", "number", "string", "object" or "array" (for error
 * messages); v borrowed. */
const char *ds_json_type_name(const struct json_object *v);

/* Whether s[0..len) holds only JSON whitespace (space, tab, CR, LF). */
bool ds_json_is_blank(const char *s, size_t len);

/* Value conversions; v borrowed, *out untouched on failure.
 * ds_json_as_double: integers and decimals; DS_EINVAL if v is not a number
 *   (a string such as "1.5" is not), DS_ERANGE if it is not finite or an
 *   integer beyond 64 bits.
 * ds_json_as_int64: JSON integers only (1.0 and 1e3 are not); DS_EINVAL for
 *   any other type, DS_ERANGE outside int64. */
DS_MUSTCHECK int ds_json_as_double(const struct json_object *v, double *out);
DS_MUSTCHECK int ds_json_as_int64(const struct json_object *v, int64_t *out);

/* Typed getters on a member of object obj (borrowed).  Each returns DS_OK
 * and *out; DS_ENOTFOUND when obj is not an object or has no such key;
 * DS_EINVAL for a wrong type (null included); DS_ERANGE as for the
 * conversions above.  *out is untouched on failure.
 * Strings, objects and arrays are borrowed from obj and live as long as it;
 * string lengths exclude the NUL (strings may hold \u0000, hence the
 * length; len may be NULL). */
DS_MUSTCHECK int ds_json_get_double(const struct json_object *obj, const char *key, double *out);
DS_MUSTCHECK int ds_json_get_int64(const struct json_object *obj, const char *key, int64_t *out);
DS_MUSTCHECK int ds_json_get_bool(const struct json_object *obj, const char *key, bool *out);
DS_MUSTCHECK int ds_json_get_string(const struct json_object *obj, const char *key,
                                    const char **out, size_t *len);
DS_MUSTCHECK int ds_json_get_object(const struct json_object *obj, const char *key,
                                    struct json_object **out);
DS_MUSTCHECK int ds_json_get_array(const struct json_object *obj, const char *key,
                                   struct json_object **out, size_t *n);

#endif
