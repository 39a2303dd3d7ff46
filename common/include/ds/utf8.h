/* UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF): the one decoder every module uses, for JSON input, MQTT
 * topics and payloads shown as text. */
#ifndef DS_UTF8_H
#define DS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence starting at s[0] (len > 0 bytes
 * available, borrowed): 1 for ASCII, 2-4 for a well-formed multi-byte
 * character, 0 when the bytes are not valid UTF-8 (overlong, surrogate,
 * truncated, > U+10FFFF, a stray continuation byte). */
size_t ds_utf8_seq_len(const unsigned char *s, size_t len);

/* Offset of the first byte of s[0..len) (borrowed) that does not start a
 * valid sequence, or len when all of it is valid UTF-8.  NUL bytes are
 * valid (U+0000); callers that refuse them check separately. */
size_t ds_utf8_check(const unsigned char *s, size_t len);

/* Whether all of s[0..len) is valid UTF-8. */
static inline bool ds_utf8_valid(const unsigned char *s, size_t len)
{
  return ds_utf8_check(s, len) == len;
}

#endif
