/* The pure part of reading a sample chunk row (store_chunk.c): the binary
 * arrays PostgreSQL sends for a chunk's n, x, y, z and ts columns, checked
 * and located without libpq, so the decoding of what the database returns
 * can be fuzzed on its own (tests/fuzz/fuzz_chunk.c).  Shared by store.c
 * only. */
#ifndef DS_STORE_CHUNK_H
#define DS_STORE_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/buf.h"
#include "ds/err.h"

/* One column value of a result row, as libpq returns it (borrowed). */
struct ds_store_cell {
  const char *data;
  int len;
  bool isnull;
};

/* Checks the cells n (int4), x, y, z (float8[]) and ts (timestamptz[] or
 * NULL) of a chunk row: every array one-dimensional with exactly n
 * non-NULL 8-byte elements of its type, nothing before or after.  On
 * DS_OK, *n is the count and b[0..4) point at each array's first
 * (length, value) pair inside the cells (b[3] NULL when ts is NULL): value
 * i of array k is at b[k] + i * 12 + 4.  DS_EDB with the reason in err
 * otherwise. */
DS_MUSTCHECK int ds_store_chunk_arrays(const struct ds_store_cell cells[5], size_t *n,
                                       const unsigned char *b[4], char err[DS_ERRLEN]);

/* Value i of a checked float8 array body. */
static inline double ds_store_chunk_f8(const unsigned char *body, size_t i)
{
  return ds_buf_get_be_double(body + i * 12 + 4);
}

/* Value i of a checked timestamptz array body (PostgreSQL microseconds). */
static inline int64_t ds_store_chunk_ts(const unsigned char *body, size_t i)
{
  return (int64_t)ds_buf_get_be64(body + i * 12 + 4);
}

#endif
