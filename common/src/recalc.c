/* Recalculation command parsing and printing, and request ids (see
 * ds/recalc.h; the run record and status events are in recalc_status.c).  Strict: a command the
 * aggregator does not fully understand is recorded as failed (or answered 400 by the query service)
 * with the reason rather than half-run. */
#include "ds/recalc.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ds/jsonw.h"

bool ds_recalc_request_id_valid(const char *s, size_t len)
{
  if (s == NULL || len == 0 || len > DS_RECALC_REQUEST_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
      return false;
  return true;
}

void ds_recalc_request_id_format(const unsigned char rnd[16],
                                 char out[DS_RECALC_REQUEST_ID_MAX + 1])
{
  unsigned char b[16];
  memcpy(b, rnd, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 0x0f];
  }
  out[o] = '\0';
}

int ds_recalc_request_id_new(char out[DS_RECALC_REQUEST_ID_MAX + 1])
{
  unsigned char rnd[16];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ssize_t got = fd >= 0 ? read(fd, rnd, sizeof rnd) : -1;
  if (fd >= 0)
    close(fd);
  if (got != (ssize_t)sizeof rnd)
    return DS_EIO;
  ds_recalc_request_id_format(rnd, out);
  return DS_OK;
}

static bool all_space(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
      return false;
  return true;
}

/* Reads the request_id first, so that a command failing for another reason
 * is still recorded under the id its sender will look for. */
static int read_request_id(struct json_object *root, struct ds_recalc_cmd *out, char err[DS_ERRLEN])
{
  struct json_object *v = NULL;
  if (!json_object_object_get_ex(root, "request_id", &v))
    return DS_OK;
  if (!json_object_is_type(v, json_type_string)) {
    snprintf(err, DS_ERRLEN, "request_id must be a string");
    return DS_EINVAL;
  }
  const char *s = json_object_get_string(v);
  size_t len = (size_t)json_object_get_string_len(v);
  if (!ds_recalc_request_id_valid(s, len)) {
    snprintf(err, DS_ERRLEN, "request_id must be 1-%d printable ASCII characters",
             DS_RECALC_REQUEST_ID_MAX);
    return DS_EINVAL;
  }
  memcpy(out->request_id, s, len);
  out->request_id[len] = '\0';
  out->has_request_id = true;
  return DS_OK;
}

static int read_field(const char *key, struct json_object *v, struct ds_recalc_cmd *out, bool *dev,
                      bool *user, char err[DS_ERRLEN])
{
  if (strcmp(key, "request_id") == 0)
    return DS_OK; /* read already */
  if (strcmp(key, "device_id") == 0) {
    if (!json_object_is_type(v, json_type_string)) {
      snprintf(err, DS_ERRLEN, "device_id must be a string");
      return DS_EINVAL;
    }
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (!ds_device_id_valid(s, len)) {
      snprintf(err, DS_ERRLEN, "device_id must be 1-%d characters of A-Z a-z 0-9 _ . -",
               DS_DEVICE_ID_MAX);
      return DS_EINVAL;
    }
    memcpy(out->device_id, s, len);
    out->device_id[len] = '\0';
    *dev = true;
    return DS_OK;
  }
  if (strcmp(key, "user_id") == 0) {
    if (!json_object_is_type(v, json_type_int)) {
      snprintf(err, DS_ERRLEN, "user_id must be an integer");
      return DS_EINVAL;
    }
    int64_t id = json_object_get_int64(v);
    if (id < 1 || id > INT32_MAX) {
      snprintf(err, DS_ERRLEN, "user_id must be between 1 and %d", INT32_MAX);
      return DS_EINVAL;
    }
    out->user_id = (int32_t)id;
    *user = true;
    return DS_OK;
  }
  if (strcmp(key, "full") == 0) {
    if (!json_object_is_type(v, json_type_boolean)) {
      snprintf(err, DS_ERRLEN, "full must be true or false");
      return DS_EINVAL;
    }
    out->full = json_object_get_boolean(v) != 0;
    return DS_OK;
  }
  snprintf(err, DS_ERRLEN, "unknown field \"%.64s\"", key);
  return DS_EINVAL;
}

int ds_recalc_cmd_parse(const char *payload, size_t len, struct ds_recalc_cmd *out,
                        char err[DS_ERRLEN])
{
  memset(out, 0, sizeof *out);
  out->scope = DS_RECALC_SCOPE_ALL;
  if (len == 0 || payload == NULL || all_space(payload, len))
    return DS_OK;
  if (len > DS_RECALC_CMD_PAYLOAD_MAX) {
    snprintf(err, DS_ERRLEN, "command larger than %d bytes", DS_RECALC_CMD_PAYLOAD_MAX);
    return DS_EINVAL;
  }
  if (memchr(payload, '\0', len) != NULL) {
    snprintf(err, DS_ERRLEN, "command is not valid JSON: contains a NUL byte");
    return DS_EINVAL;
  }
  /* A NUL-terminated copy, parsed with its terminator, so that a bare
   * literal ("null", "42") ends where the payload ends. */
  char text[DS_RECALC_CMD_PAYLOAD_MAX + 1];
  memcpy(text, payload, len);
  text[len] = '\0';
  struct json_tokener *tok = json_tokener_new();
  if (tok == NULL)
    return DS_ENOMEM;
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  struct json_object *root = json_tokener_parse_ex(tok, text, (int)len + 1);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  int rc = DS_EINVAL;
  if (root == NULL && jerr == json_tokener_success) { /* "null" */
    snprintf(err, DS_ERRLEN, "command must be a JSON object");
    goto out;
  }
  if (root == NULL || jerr != json_tokener_success) {
    snprintf(err, DS_ERRLEN, "command is not valid JSON: %s",
             jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr));
    goto out;
  }
  if (end < len && !all_space(text + end, len - end)) {
    snprintf(err, DS_ERRLEN, "command is not valid JSON: trailing data");
    goto out;
  }
  if (!json_object_is_type(root, json_type_object)) {
    snprintf(err, DS_ERRLEN, "command must be a JSON object");
    goto out;
  }
  if ((rc = read_request_id(root, out, err)) != DS_OK)
    goto out;
  bool dev = false, user = false;
  json_object_object_foreach(root, key, val)
  {
    if ((rc = read_field(key, val, out, &dev, &user, err)) != DS_OK)
      goto out;
  }
  if (dev && user) {
    snprintf(err, DS_ERRLEN, "device_id and user_id are exclusive");
    rc = DS_EINVAL;
    goto out;
  }
  out->scope = dev ? DS_RECALC_SCOPE_DEVICE : user ? DS_RECALC_SCOPE_USER : DS_RECALC_SCOPE_ALL;
  rc = DS_OK;
out:
  json_object_put(root);
  if (rc != DS_OK) {
    /* Keep only the request id of a failed command. */
    out->scope = DS_RECALC_SCOPE_ALL;
    out->device_id[0] = '\0';
    out->user_id = 0;
    out->full = false;
  }
  return rc;
}

/* The command's members; request_id only when given. */
static int cmd_json(struct ds_buf *b, const struct ds_recalc_cmd *c, const char *request_id)
{
  struct ds_jsonw w;
  ds_jsonw_init(&w, b);
  ds_jsonw_object_begin(&w);
  if (c->scope == DS_RECALC_SCOPE_DEVICE)
    ds_jsonw_key_str(&w, "device_id", c->device_id);
  else if (c->scope == DS_RECALC_SCOPE_USER)
    ds_jsonw_key_int64(&w, "user_id", c->user_id);
  if (c->full)
    ds_jsonw_key_bool(&w, "full", true);
  if (request_id != NULL)
    ds_jsonw_key_str(&w, "request_id", request_id);
  ds_jsonw_object_end(&w);
  return ds_jsonw_finish(&w);
}

int ds_recalc_cmd_to_json(struct ds_buf *b, const struct ds_recalc_cmd *c)
{
  return cmd_json(b, c, NULL);
}

int ds_recalc_cmd_payload(struct ds_buf *b, const struct ds_recalc_cmd *c, const char *request_id)
{
  return cmd_json(b, c, request_id);
}
