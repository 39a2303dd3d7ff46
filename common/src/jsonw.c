/* ds_jsonw: the JSON writer (see ds/jsonw.h).  Commas and the ": "
 * separator are placed here and nowhere else. */
#include "ds/jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void ds_jsonw_init(struct ds_jsonw *w, struct ds_buf *out)
{
  memset(w, 0, sizeof *w);
  w->out = out;
  w->err = DS_OK;
}

int ds_jsonw_error(const struct ds_jsonw *w)
{
  return w->err;
}

int ds_jsonw_finish(const struct ds_jsonw *w)
{
  if (w->err != DS_OK)
    return w->err;
  return w->done && w->depth == 0 ? DS_OK : DS_EINVAL;
}

static void put(struct ds_jsonw *w, const char *s, size_t len)
{
  if (w->err == DS_OK)
    w->err = ds_buf_append(w->out, s, len);
}

/* Called before every value: checks that a value may go here and writes
 * the separator that precedes it.  False (with w->err set) if not. */
static bool value_start(struct ds_jsonw *w)
{
  if (w->err != DS_OK)
    return false;
  if (w->depth == 0) {
    if (w->done)
      w->err = DS_EINVAL; /* a second top-level value */
    return w->err == DS_OK;
  }
  int top = w->depth - 1;
  if (w->kind[top] == '{') {
    if (!w->after_key) {
      w->err = DS_EINVAL; /* a value where a key is due */
      return false;
    }
    w->after_key = false;
    return true; /* key() wrote the separator already */
  }
  if (!w->first[top])
    put(w, ", ", 2);
  w->first[top] = false;
  return w->err == DS_OK;
}

/* After a complete value at the current level. */
static void value_end(struct ds_jsonw *w)
{
  if (w->depth == 0)
    w->done = true;
}

static void open_container(struct ds_jsonw *w, char kind)
{
  if (!value_start(w))
    return;
  if (w->depth >= DS_JSONW_DEPTH) {
    w->err = DS_ERANGE;
    return;
  }
  put(w, &kind, 1);
  w->kind[w->depth] = kind;
  w->first[w->depth] = true;
  w->depth++;
}

static void close_container(struct ds_jsonw *w, char kind)
{
  if (w->err != DS_OK)
    return;
  if (w->depth == 0 || w->kind[w->depth - 1] != kind || w->after_key) {
    w->err = DS_EINVAL;
    return;
  }
  char c = kind == '{' ? '}' : ']';
  put(w, &c, 1);
  w->depth--;
  value_end(w);
}

void ds_jsonw_object_begin(struct ds_jsonw *w)
{
  open_container(w, '{');
}

void ds_jsonw_object_end(struct ds_jsonw *w)
{
  close_container(w, '{');
}

void ds_jsonw_array_begin(struct ds_jsonw *w)
{
  open_container(w, '[');
}

void ds_jsonw_array_end(struct ds_jsonw *w)
{
  close_container(w, '[');
}

void ds_jsonw_key(struct ds_jsonw *w, const char *key)
{
  if (w->err != DS_OK)
    return;
  int top = w->depth - 1;
  if (w->depth == 0 || w->kind[top] != '{' || w->after_key || key == NULL) {
    w->err = DS_EINVAL;
    return;
  }
  if (!w->first[top])
    put(w, ", ", 2);
  w->first[top] = false;
  if (w->err == DS_OK)
    w->err = ds_buf_append_json_str(w->out, key, strlen(key));
  put(w, ": ", 2);
  w->after_key = true;
}

void ds_jsonw_strn(struct ds_jsonw *w, const char *s, size_t len)
{
  if (!value_start(w))
    return;
  w->err = ds_buf_append_json_str(w->out, s, len);
  value_end(w);
}

void ds_jsonw_str(struct ds_jsonw *w, const char *s)
{
  if (s == NULL)
    ds_jsonw_null(w);
  else
    ds_jsonw_strn(w, s, strlen(s));
}

void ds_jsonw_int64(struct ds_jsonw *w, int64_t v)
{
  if (!value_start(w))
    return;
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
  put(w, tmp, (size_t)n);
  value_end(w);
}

void ds_jsonw_double(struct ds_jsonw *w, double v)
{
  if (w->err == DS_OK && !isfinite(v)) {
    w->err = DS_EINVAL;
    return;
  }
  if (!value_start(w))
    return;
  w->err = ds_buf_append_double(w->out, v);
  value_end(w);
}

void ds_jsonw_bool(struct ds_jsonw *w, bool v)
{
  ds_jsonw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void ds_jsonw_null(struct ds_jsonw *w)
{
  ds_jsonw_raw(w, "null", 4);
}

void ds_jsonw_raw(struct ds_jsonw *w, const char *json, size_t len)
{
  if (!value_start(w))
    return;
  put(w, json, len);
  value_end(w);
}

void ds_jsonw_key_str(struct ds_jsonw *w, const char *key, const char *s)
{
  ds_jsonw_key(w, key);
  ds_jsonw_str(w, s);
}

void ds_jsonw_key_int64(struct ds_jsonw *w, const char *key, int64_t v)
{
  ds_jsonw_key(w, key);
  ds_jsonw_int64(w, v);
}

void ds_jsonw_key_double(struct ds_jsonw *w, const char *key, double v)
{
  ds_jsonw_key(w, key);
  ds_jsonw_double(w, v);
}

void ds_jsonw_key_bool(struct ds_jsonw *w, const char *key, bool v)
{
  ds_jsonw_key(w, key);
  ds_jsonw_bool(w, v);
}

void ds_jsonw_key_null(struct ds_jsonw *w, const char *key)
{
  ds_jsonw_key(w, key);
  ds_jsonw_null(w);
}
