/* UTF-8 validation (see ds/utf8.h). */
#include "ds/utf8.h"

#include <stdint.h>
#include <string.h>

size_t ds_utf8_seq_len(const unsigned char *s, size_t len)
{
  unsigned char c = s[0];
  size_t n;
  unsigned cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

size_t ds_utf8_check(const unsigned char *s, size_t len)
{
  size_t i = 0;
  while (i < len) {
    /* ASCII runs, a word at a time: most payloads are all ASCII. */
    while (i + 8 <= len) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & UINT64_C(0x8080808080808080))
        break;
      i += 8;
    }
    if (i >= len)
      break;
    size_t n = ds_utf8_seq_len(s + i, len - i);
    if (n == 0)
      return i;
    i += n;
  }
  return len;
}
