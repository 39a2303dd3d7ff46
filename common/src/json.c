/* A thin layer over json-c: strict parsing of untrusted bytes and typed
 * getters (see ds/json.h for what "strict" covers and what json-c
 * tolerates). */
#include "ds/json.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ds/utf8.h"

static void set_err(char *err, const char *fmt, const char *what, size_t off)
{
  if (err != NULL)
    snprintf(err, DS_ERRLEN, fmt, what, off);
}

bool ds_json_is_blank(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
      return false;
  return true;
}

/* Whether s[0..len) is the JSON literal null, with optional whitespace. */
static bool is_null_text(const char *s, size_t len)
{
  size_t a = 0, b = len;
  while (a < b && ds_json_is_blank(s + a, 1))
    a++;
  while (b > a && ds_json_is_blank(s + b - 1, 1))
    b--;
  return b - a == 4 && memcmp(s + a, "null", 4) == 0;
}

int ds_json_parse(const char *s, size_t len, size_t max_len, struct json_object **out,
                  char err[DS_ERRLEN])
{
  if (len > max_len || len > INT_MAX - 1) {
    if (err != NULL)
      snprintf(err, DS_ERRLEN, "%zu bytes, more than the limit of %zu", len, max_len);
    return DS_ERANGE;
  }
  if (ds_json_is_blank(s, len)) {
    if (err != NULL)
      snprintf(err, DS_ERRLEN, "empty input");
    return DS_EINVAL;
  }
  /* json-c stops at a NUL byte as if the input ended there. */
  const char *nul = memchr(s, '\0', len);
  if (nul != NULL) {
    set_err(err, "%s at offset %zu", "NUL byte", (size_t)(nul - s));
    return DS_EINVAL;
  }

  /* json-c's own check lets overlong forms and encoded surrogates through. */
  size_t bad = ds_utf8_check((const unsigned char *)s, len);
  if (bad < len) {
    set_err(err, "%s at offset %zu", "invalid UTF-8", bad);
    return DS_EINVAL;
  }

  struct json_tokener *tok = json_tokener_new_ex(DS_JSON_DEPTH);
  if (tok == NULL)
    return DS_ENOMEM;
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  struct json_object *obj = json_tokener_parse_ex(tok, s, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  if (jerr == json_tokener_continue) {
    /* A bare top-level number or literal ends only at a delimiter: feed a
     * terminating NUL to close it; an unfinished object or array then
     * fails as "unexpected end of data". */
    obj = json_tokener_parse_ex(tok, "", 1);
    jerr = json_tokener_get_error(tok);
    if (jerr != json_tokener_success) {
      set_err(err, "%s at offset %zu", json_tokener_error_desc(jerr), len);
      json_object_put(obj);
      json_tokener_free(tok);
      return DS_EINVAL;
    }
  } else if (jerr != json_tokener_success) {
    set_err(err, "%s at offset %zu", json_tokener_error_desc(jerr),
            json_tokener_get_parse_end(tok));
    json_object_put(obj);
    json_tokener_free(tok);
    return DS_EINVAL;
  }
  /* json-c 0.16 has no "out of memory" error: a failed allocation ends the
   * parse early with no value and no error (tests/unit/test_alloc_fail.c).
   * No value is JSON null only when the text says null. */
  if (obj == NULL && !is_null_text(s, len)) {
    json_tokener_free(tok);
    set_err(err, "%s at offset %zu", "out of memory", end);
    return DS_ENOMEM;
  }
  /* Strict mode already rejects trailing non-whitespace; keep the check
   * here too so the contract does not hang on a json-c flag. */
  json_tokener_free(tok);
  if (end < len && !ds_json_is_blank(s + end, len - end)) {
    set_err(err, "%s at offset %zu", "trailing data", end);
    json_object_put(obj);
    return DS_EINVAL;
  }
  *out = obj;
  return DS_OK;
}

const char *ds_json_type_name(const struct json_object *v)
{
  switch (json_object_get_type(v)) {
  case json_type_null:
    return "null";
  case json_type_boolean:
    return "boolean";
  case json_type_double:
  case json_type_int:
    return "number";
  case json_type_string:
    return "string";
  case json_type_object:
    return "object";
  case json_type_array:
    return "array";
  }
  return "unknown";
}

int ds_json_as_double(const struct json_object *v, double *out)
{
  enum json_type t = json_object_get_type(v);
  if (t == json_type_double) {
    double d = json_object_get_double(v);
    if (!isfinite(d))
      return DS_ERANGE;
    *out = d;
    return DS_OK;
  }
  if (t != json_type_int)
    return DS_EINVAL;
  /* json-c keeps non-negative integers above INT64_MAX as uint64 and clamps
   * anything beyond 64 bits to INT64_MIN or UINT64_MAX: those two values
   * are ambiguous, so they are refused. */
  int64_t i = json_object_get_int64(v);
  if (i == INT64_MIN)
    return DS_ERANGE;
  if (i == INT64_MAX) {
    uint64_t u = json_object_get_uint64(v);
    if (u == UINT64_MAX)
      return DS_ERANGE;
    *out = (double)u;
    return DS_OK;
  }
  *out = (double)i;
  return DS_OK;
}

int ds_json_as_int64(const struct json_object *v, int64_t *out)
{
  if (json_object_get_type(v) != json_type_int)
    return DS_EINVAL;
  int64_t i = json_object_get_int64(v);
  if (i == INT64_MIN)
    return DS_ERANGE;
  if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
    return DS_ERANGE;
  *out = i;
  return DS_OK;
}

static int member(const struct json_object *obj, const char *key, struct json_object **v)
{
  if (json_object_get_type(obj) != json_type_object || !json_object_object_get_ex(obj, key, v))
    return DS_ENOTFOUND;
  return DS_OK;
}

int ds_json_get_double(const struct json_object *obj, const char *key, double *out)
{
  struct json_object *v;
  int rc = member(obj, key, &v);
  return rc != DS_OK ? rc : ds_json_as_double(v, out);
}

int ds_json_get_int64(const struct json_object *obj, const char *key, int64_t *out)
{
  struct json_object *v;
  int rc = member(obj, key, &v);
  return rc != DS_OK ? rc : ds_json_as_int64(v, out);
}

int ds_json_get_bool(const struct json_object *obj, const char *key, bool *out)
{
  struct json_object *v;
  int rc = member(obj, key, &v);
  if (rc != DS_OK)
    return rc;
  if (json_object_get_type(v) != json_type_boolean)
    return DS_EINVAL;
  *out = json_object_get_boolean(v) != 0;
  return DS_OK;
}

int ds_json_get_string(const struct json_object *obj, const char *key, const char **out,
                       size_t *len)
{
  struct json_object *v;
  int rc = member(obj, key, &v);
  if (rc != DS_OK)
    return rc;
  if (json_object_get_type(v) != json_type_string)
    return DS_EINVAL;
  *out = json_object_get_string(v);
  if (len != NULL)
    *len = (size_t)json_object_get_string_len(v);
  return DS_OK;
}

int ds_json_get_object(const struct json_object *obj, const char *key, struct json_object **out)
{
  struct json_object *v;
  int rc = member(obj, key, &v);
  if (rc != DS_OK)
    return rc;
  if (json_object_get_type(v) != json_type_object)
    return DS_EINVAL;
  *out = v;
  return DS_OK;
}

int ds_json_get_array(const struct json_object *obj, const char *key, struct json_object **out,
                      size_t *n)
{
  struct json_object *v;
  int rc = member(obj, key, &v);
  if (rc != DS_OK)
    return rc;
  if (json_object_get_type(v) != json_type_array)
    return DS_EINVAL;
  *out = v;
  if (n != NULL)
    *n = json_object_array_length(v);
  return DS_OK;
}
