/* ds_buf: a growable byte buffer with a hard maximum size.  Used for every
 * string we build (JSON output, COPY data, log lines). */
#ifndef DS_BUF_H
#define DS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"

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

/* Length of the valid UTF-8 sequence starting at s[0] (len > 0 bytes
 * available): 1 for ASCII, 2-4 for a well-formed multi-byte character, 0 when
 * the bytes are not valid UTF-8 (overlong, surrogate, truncated, > U+10FFFF). */
size_t ds_utf8_seq_len(const unsigned char *s, size_t len);

/* Writes the shortest round-trip form of finite v into out (at least 32
 * bytes); returns its length.  Integral values get a ".0" ("4.0", as in the
 * contract's examples) and -0 prints as "-0.0". */
size_t ds_double_format(double v, char out[32]);

#endif
