/* ds_buf: a growable byte buffer with a hard maximum size.  Used for every
 * string we build (JSON output, COPY data, log lines). */
#ifndef DS_BUF_H
#define DS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ds/err.h"
#include "ds/utf8.h" /* ds_utf8_seq_len, used by the JSON escaper */

struct ds_buf {
  char *data; /* NUL-terminated after every successful append */
  size_t len;
  size_t cap;
  size_t max; /* growing past max fails with DS_ERANGE */
};

/* Initialises an empty buffer that may grow to max bytes (plus the NUL). */
void ds_buf_init(struct ds_buf *b, size_t max);
/* Frees the storage; the buffer may be reused after ds_buf_init. */
void ds_buf_cleanup(struct ds_buf *b);
/* Empties the buffer, keeping its storage. */
void ds_buf_reset(struct ds_buf *b);
/* Detaches and returns data (caller frees), leaving b empty. */
char *ds_buf_take(struct ds_buf *b);

DS_MUSTCHECK int ds_buf_reserve(struct ds_buf *b, size_t extra);
DS_MUSTCHECK int ds_buf_append(struct ds_buf *b, const void *data, size_t len);
DS_MUSTCHECK int ds_buf_append_str(struct ds_buf *b, const char *s);
DS_MUSTCHECK int ds_buf_appendf(struct ds_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s (len bytes) as a JSON string literal with quotes, escaping
 * control characters, quotes and backslashes; invalid UTF-8 bytes become
 * U+FFFD. */
DS_MUSTCHECK int ds_buf_append_json_str(struct ds_buf *b, const char *s, size_t len);
/* Appends the shortest decimal form of v that reads back to the same double
 * (JSON number; v must be finite). */
DS_MUSTCHECK int ds_buf_append_double(struct ds_buf *b, double v);
/* Big-endian integers, for PostgreSQL's binary COPY format. */
DS_MUSTCHECK int ds_buf_append_be16(struct ds_buf *b, uint16_t v);
DS_MUSTCHECK int ds_buf_append_be32(struct ds_buf *b, uint32_t v);
DS_MUSTCHECK int ds_buf_append_be64(struct ds_buf *b, uint64_t v);

/* And their decoders: big-endian integers (and an IEEE double, as in
 * PostgreSQL's binary float8) read from p (borrowed, at least 2, 4 or 8
 * bytes, no alignment needed). */
static inline uint16_t ds_buf_get_be16(const void *p)
{
  const unsigned char *b = p;
  return (uint16_t)((unsigned)b[0] << 8 | b[1]);
}
static inline uint32_t ds_buf_get_be32(const void *p)
{
  const unsigned char *b = p;
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}
static inline uint64_t ds_buf_get_be64(const void *p)
{
  uint64_t v;
  memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}
static inline double ds_buf_get_be_double(const void *p)
{
  uint64_t u = ds_buf_get_be64(p);
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/* Writes the shortest round-trip form of finite v into out (at least 32
 * bytes); returns its length.  Integral values get a ".0" ("4.0", as in the
 * contract's examples) and -0 prints as "-0.0". */
size_t ds_double_format(double v, char out[32]);

#endif
