/* Checking and locating the binary arrays of a sample chunk row (see
 * store_chunk.h); no libpq, no allocation. */
#include "store_chunk.h"

#include <stdio.h>

#define FLOAT8OID 701
#define TIMESTAMPTZOID 1184

/* Checks a binary one-dimensional array of n non-null 8-byte elements of
 * type oid (header: ndim, has-nulls flag, element oid, then per dimension
 * size and lower bound) and returns a pointer to the first (len, bytes)
 * pair, or NULL with the reason in err. */
static const unsigned char *array_body(const struct ds_store_cell *c, uint32_t oid, size_t n,
                                       char err[DS_ERRLEN])
{
  const unsigned char *p = (const unsigned char *)c->data;
  if (c->isnull || c->len < 12 || p == NULL)
    goto bad;
  size_t l = (size_t)c->len;
  uint32_t ndim = ds_buf_get_be32(p);
  if (ds_buf_get_be32(p + 8) != oid)
    goto bad;
  if (ndim == 0) {
    /* An empty array: only for an empty chunk, and nothing after it. */
    if (n != 0 || l != 12)
      goto bad;
    return p + 12;
  }
  if (ndim != 1 || l < 20 || ds_buf_get_be32(p + 12) != n || (l - 20) / 12 != n ||
      (l - 20) % 12 != 0)
    goto bad;
  return p + 20;
bad:
  snprintf(err, DS_ERRLEN, "unexpected binary array (type %u, %zu elements)", (unsigned)oid, n);
  return NULL;
}

/* Element lengths must all be 8 (no NULLs). */
static bool lens_ok(const unsigned char *body, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (ds_buf_get_be32(body + i * 12) != 8)
      return false;
  return true;
}

int ds_store_chunk_arrays(const struct ds_store_cell cells[5], size_t *n, const unsigned char *b[4],
                          char err[DS_ERRLEN])
{
  if (cells[0].isnull || cells[0].len != 4 || cells[0].data == NULL) {
    snprintf(err, DS_ERRLEN, "unexpected chunk row shape");
    return DS_EDB;
  }
  size_t count = ds_buf_get_be32((const unsigned char *)cells[0].data);
  const unsigned char *a[4] = {NULL, NULL, NULL, NULL};
  for (int i = 0; i < 3; i++)
    if ((a[i] = array_body(&cells[1 + i], FLOAT8OID, count, err)) == NULL)
      return DS_EDB;
  if (!cells[4].isnull && (a[3] = array_body(&cells[4], TIMESTAMPTZOID, count, err)) == NULL)
    return DS_EDB;
  for (int i = 0; i < 4; i++)
    if (a[i] != NULL && !lens_ok(a[i], count)) {
      snprintf(err, DS_ERRLEN, "NULL element in a sample chunk");
      return DS_EDB;
    }
  *n = count;
  for (int i = 0; i < 4; i++)
    b[i] = a[i];
  return DS_OK;
}
