/* The checks on a sample chunk row as the database returns it
 * (common/src/store_chunk.c): well-formed arrays are located, anything
 * else is refused with a reason and never read past.  The table mirrors
 * tests/fuzz/corpus/fuzz_chunk. */
#include <stdint.h>

#include "ds/buf.h"
#include "ds_test.h"
#include "store_chunk.h"

#define FLOAT8OID 701
#define TIMESTAMPTZOID 1184

/* A binary one-dimensional array of n 8-byte values (raw big-endian). */
static void array(struct ds_buf *b, uint32_t oid, uint32_t n, const uint64_t *v)
{
  ds_buf_reset(b);
  CU_ASSERT_EQUAL_FATAL(ds_buf_append_be32(b, 1), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_buf_append_be32(b, 0), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_buf_append_be32(b, oid), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_buf_append_be32(b, n), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_buf_append_be32(b, 1), DS_OK);
  for (uint32_t i = 0; i < n; i++) {
    CU_ASSERT_EQUAL_FATAL(ds_buf_append_be32(b, 8), DS_OK);
    CU_ASSERT_EQUAL_FATAL(ds_buf_append_be64(b, v[i]), DS_OK);
  }
}

struct row {
  struct ds_buf n, a[4];
  struct ds_store_cell cells[5];
};

static void row_init(struct row *r, uint32_t count, uint32_t n_in_arrays, bool with_ts)
{
  static const uint64_t vals[3] = {UINT64_C(0x3ff0000000000000), UINT64_C(0x4000000000000000),
                                   UINT64_C(0x4008000000000000)}; /* 1.0, 2.0, 3.0 */
  static const uint64_t ts[3] = {1, 2, UINT64_C(0x7fffffffffffffff)};
  ds_buf_init(&r->n, 64);
  CU_ASSERT_EQUAL_FATAL(ds_buf_append_be32(&r->n, count), DS_OK);
  for (int i = 0; i < 4; i++) {
    ds_buf_init(&r->a[i], 1024);
    array(&r->a[i], i < 3 ? FLOAT8OID : TIMESTAMPTZOID, n_in_arrays, i < 3 ? vals : ts);
  }
  r->cells[0] = (struct ds_store_cell){r->n.data, (int)r->n.len, false};
  for (int i = 0; i < 4; i++)
    r->cells[1 + i] = (struct ds_store_cell){r->a[i].data, (int)r->a[i].len, false};
  if (!with_ts)
    r->cells[4] = (struct ds_store_cell){"", 0, true};
}

static void row_cleanup(struct row *r)
{
  ds_buf_cleanup(&r->n);
  for (int i = 0; i < 4; i++)
    ds_buf_cleanup(&r->a[i]);
}

static int decode(struct row *r, size_t *n, const unsigned char *b[4])
{
  char err[DS_ERRLEN] = "";
  int rc = ds_store_chunk_arrays(r->cells, n, b, err);
  if (rc != DS_OK)
    CU_ASSERT(err[0] != '\0');
  return rc;
}

static void test_valid(void)
{
  struct row r;
  size_t n = 0;
  const unsigned char *b[4];
  row_init(&r, 3, 3, true);
  CU_ASSERT_EQUAL_FATAL(decode(&r, &n, b), DS_OK);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_EQUAL(ds_store_chunk_f8(b[0], 0), 1.0);
  CU_ASSERT_EQUAL(ds_store_chunk_f8(b[2], 2), 3.0);
  CU_ASSERT_EQUAL(ds_store_chunk_ts(b[3], 1), 2);
  CU_ASSERT_EQUAL(ds_store_chunk_ts(b[3], 2), INT64_MAX);
  row_cleanup(&r);
  row_init(&r, 3, 3, false);
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_OK);
  CU_ASSERT_PTR_NULL(b[3]);
  row_cleanup(&r);
}

static void test_refused(void)
{
  struct row r;
  size_t n = 77;
  const unsigned char *b[4];
  /* Count and arrays disagree, both ways. */
  row_init(&r, 4, 3, true);
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  row_cleanup(&r);
  row_init(&r, 2, 3, true);
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  row_cleanup(&r);
  /* Truncated array, trailing bytes, a NULL x, a short count. */
  row_init(&r, 3, 3, true);
  r.cells[2].len -= 1;
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  r.cells[2].len = 11;
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  r.cells[2].len = (int)r.a[1].len;
  CU_ASSERT_EQUAL(ds_buf_append_be32(&r.a[3], 0), DS_OK);
  r.cells[4] = (struct ds_store_cell){r.a[3].data, (int)r.a[3].len, false};
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  r.cells[4].len -= 4;
  r.cells[1].isnull = true;
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  r.cells[1].isnull = false;
  r.cells[0].len = 3;
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  r.cells[0].len = 4;
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_OK);
  /* A NULL element (length -1) and a wrong element type. */
  r.a[2].data[20] = (char)0xff;
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  r.a[2].data[20] = 0;
  r.a[0].data[11] = (char)(FLOAT8OID + 1);
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  CU_ASSERT_EQUAL(n, 3); /* from the successful decode only */
  row_cleanup(&r);
  /* An empty array is only for a count of 0, and exactly 12 bytes. */
  row_init(&r, 0, 0, true);
  for (int i = 0; i < 4; i++)
    r.a[i].data[3] = 0; /* ndim 0 */
  for (int i = 1; i < 5; i++)
    r.cells[i].len = 12;
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_OK);
  CU_ASSERT_EQUAL(n, 0);
  r.cells[3].len = 20;
  CU_ASSERT_EQUAL(decode(&r, &n, b), DS_EDB);
  row_cleanup(&r);
}

static const struct ds_test_case tests[] = {
    {"valid", test_valid},
    {"refused", test_refused},
    {NULL, NULL},
};

DS_TEST_MAIN("store_chunk", tests)
