/* ds_buf: bounded growable buffers, JSON string escaping, shortest
 * round-trip doubles and big-endian integers for binary COPY. */
#include "ds/buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ds_buf_init(struct ds_buf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void ds_buf_cleanup(struct ds_buf *b)
{
  DS_FREE(b->data);
  b->len = 0;
  b->cap = 0;
}

void ds_buf_reset(struct ds_buf *b)
{
  b->len = 0;
  if (b->data != NULL)
    b->data[0] = '\0';
}

char *ds_buf_take(struct ds_buf *b)
{
  char *d = b->data;
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return d;
}

int ds_buf_reserve(struct ds_buf *b, size_t extra)
{
  /* A max near SIZE_MAX ("unbounded") must not overflow max + 1 below. */
  size_t max = b->max < SIZE_MAX / 2 ? b->max : SIZE_MAX / 2;
  if (extra > max || b->len > max - extra)
    return DS_ERANGE;
  size_t need = b->len + extra + 1; /* room for the NUL */
  if (need <= b->cap)
    return DS_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > max + 1)
    cap = max + 1;
  char *d = realloc(b->data, cap);
  if (d == NULL)
    return DS_ENOMEM;
  b->data = d;
  b->cap = cap;
  return DS_OK;
}

int ds_buf_append(struct ds_buf *b, const void *data, size_t len)
{
  int rc = ds_buf_reserve(b, len);
  if (rc != DS_OK)
    return rc;
  if (len > 0)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return DS_OK;
}

int ds_buf_append_str(struct ds_buf *b, const char *s)
{
  return ds_buf_append(b, s, strlen(s));
}

int ds_buf_appendf(struct ds_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return DS_EINVAL;
  int rc = ds_buf_reserve(b, (size_t)n);
  if (rc != DS_OK)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return DS_OK;
}

int ds_buf_append_json_str(struct ds_buf *b, const char *s, size_t len)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  int rc = ds_buf_append(b, "\"", 1);
  size_t i = 0;
  while (rc == DS_OK && i < len) {
    size_t run = i;
    while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
      run++;
    if (run > i) {
      rc = ds_buf_append(b, p + i, run - i);
      i = run;
      continue;
    }
    unsigned char c = p[i];
    char esc[6];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      rc = ds_buf_append(b, esc, 2);
      i++;
    } else if (c < 0x20) {
      const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
      if (named != NULL) {
        rc = ds_buf_append(b, named, 2);
      } else {
        esc[0] = '\\';
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xF];
        rc = ds_buf_append(b, esc, 6);
      }
      i++;
    } else {
      size_t n = ds_utf8_seq_len(p + i, len - i);
      if (n == 0) {
        rc = ds_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
        i++;
      } else {
        rc = ds_buf_append(b, p + i, n);
        i += n;
      }
    }
  }
  if (rc == DS_OK)
    rc = ds_buf_append(b, "\"", 1);
  return rc;
}

size_t ds_double_format(double v, char out[32])
{
  if (v == 0.0) {
    /* Keep the sign of -0 so it reads back as -0. */
    const char *z = signbit(v) ? "-0.0" : "0.0";
    size_t n = strlen(z);
    memcpy(out, z, n + 1);
    return n;
  }
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      break;
  }
  /* "4" is a valid JSON number, but make integers read as floats in JSON
   * consumers that care ("4.0"), unless an exponent is present. */
  if (strpbrk(out, ".eEni") == NULL && n + 2 < 32) {
    out[n++] = '.';
    out[n++] = '0';
    out[n] = '\0';
  }
  return (size_t)n;
}

int ds_buf_append_double(struct ds_buf *b, double v)
{
  if (!isfinite(v))
    return DS_EINVAL;
  char tmp[32];
  size_t n = ds_double_format(v, tmp);
  return ds_buf_append(b, tmp, n);
}

int ds_buf_append_be16(struct ds_buf *b, uint16_t v)
{
  unsigned char t[2] = {(unsigned char)(v >> 8), (unsigned char)v};
  return ds_buf_append(b, t, 2);
}

int ds_buf_append_be32(struct ds_buf *b, uint32_t v)
{
  unsigned char t[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  return ds_buf_append(b, t, 4);
}

int ds_buf_append_be64(struct ds_buf *b, uint64_t v)
{
  int rc = ds_buf_append_be32(b, (uint32_t)(v >> 32));
  return rc != DS_OK ? rc : ds_buf_append_be32(b, (uint32_t)v);
}
