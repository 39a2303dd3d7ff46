/* libFuzzer target for the decoding of sample chunks as the database
 * returns them (binary int4 count, float8[] x/y/z, timestamptz[] ts or
 * NULL): a corrupt or hostile row must be refused, never read past.
 * Input: one byte of NULL flags (bit i: cell i is NULL), then per cell a
 * 2-byte big-endian length and that many bytes (cut short at the end).
 * Each cell gets its own allocation of exactly its length, so AddressSanitizer
 * sees any read past it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds/db.h"
#include "store_chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  unsigned flags = data[0];
  size_t pos = 1;
  struct ds_store_cell cells[5];
  char *copies[5] = {NULL, NULL, NULL, NULL, NULL};
  for (int i = 0; i < 5; i++) {
    size_t len = 0;
    if (pos + 2 <= size) {
      len = (size_t)data[pos] << 8 | data[pos + 1];
      pos += 2;
    }
    if (len > size - pos)
      len = size - pos;
    copies[i] = malloc(len > 0 ? len : 1);
    if (copies[i] == NULL)
      goto out;
    memcpy(copies[i], data + pos, len);
    pos += len;
    cells[i].data = copies[i];
    cells[i].len = (int)len;
    cells[i].isnull = (flags >> i) & 1;
  }
  size_t n = 0;
  const unsigned char *b[4];
  char err[DS_ERRLEN];
  if (ds_store_chunk_arrays(cells, &n, b, err) == DS_OK) {
    /* Every value read (unsigned sums wrap without undefined behaviour);
     * times converted as the store converts them. */
    volatile double sum = 0;
    volatile uint64_t tsum = 0;
    for (size_t i = 0; i < n; i++) {
      sum += ds_store_chunk_f8(b[0], i) + ds_store_chunk_f8(b[1], i) + ds_store_chunk_f8(b[2], i);
      if (b[3] != NULL)
        tsum += (uint64_t)ds_pg_ts_to_unix(ds_store_chunk_ts(b[3], i));
    }
    (void)sum;
    (void)tsum;
  } else if (err[0] == '\0') {
    abort();
  }
out:
  for (int i = 0; i < 5; i++)
    free(copies[i]);
  return 0;
}
