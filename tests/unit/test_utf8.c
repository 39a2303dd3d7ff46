/* Tests for ds/utf8.h: a table of byte strings, whether each is valid
 * UTF-8 and where the first bad sequence starts; every prefix and a copy in
 * an exactly sized heap block, so ASan catches reads past the end. */
#include <stdlib.h>
#include <string.h>

#include "ds/utf8.h"
#include "ds_test.h"

struct ucase {
  const char *s;
  size_t len;
  size_t bad; /* offset of the first invalid byte; len when valid */
};

#define V(lit)                                                                                     \
  {                                                                                                \
    lit, sizeof(lit) - 1, sizeof(lit) - 1                                                          \
  }
#define BAD(lit, off)                                                                              \
  {                                                                                                \
    lit, sizeof(lit) - 1, off                                                                      \
  }

static const struct ucase cases[] = {
    V(""),
    V("plain ascii, longer than one word of eight bytes"),
    V("a\0b"),                      /* NUL is U+0000, valid */
    V("\xc3\xa9"),                  /* 2 bytes */
    V("\xe2\x82\xac"),              /* 3 bytes */
    V("\xf0\x9f\x98\x80"),          /* 4 bytes */
    V("\xf4\x8f\xbf\xbf"),          /* U+10FFFF */
    V("\xef\xbb\xbf"),              /* BOM is a valid character */
    V("\xed\x9f\xbf"),              /* U+D7FF, just below the surrogates */
    V("0123456789abcdef\xc3\xa9x"), /* after a word-at-a-time run */
    BAD("\xff", 0),
    BAD("\x80", 0),                      /* lone continuation */
    BAD("a\xc3", 1),                     /* truncated at the end */
    BAD("\xc3(", 0),                     /* bad continuation */
    BAD("\xc0\xaf", 0),                  /* overlong '/' */
    BAD("\xc1\xbf", 0),                  /* overlong */
    BAD("\xe0\x80\xaf", 0),              /* overlong 3 bytes */
    BAD("\xf0\x80\x80\xaf", 0),          /* overlong 4 bytes */
    BAD("\xed\xa0\x80", 0),              /* surrogate */
    BAD("\xf4\x90\x80\x80", 0),          /* above U+10FFFF */
    BAD("\xf5\x80\x80\x80", 0),          /* never a lead byte */
    BAD("ok\xf0\x9f\x98", 2),            /* truncated 4-byte */
    BAD("01234567\xe2\x82\xac\xfe", 11), /* bad after good */
    {NULL, 0, 0},
};

static void test_table(void)
{
  for (const struct ucase *c = cases; c->s != NULL; c++) {
    unsigned char *p = malloc(c->len ? c->len : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memcpy(p, c->s, c->len);
    size_t got = ds_utf8_check(p, c->len);
    if (got != c->bad)
      fprintf(stderr, "\n  case %zu bytes: got %zu want %zu\n", c->len, got, c->bad);
    CU_ASSERT_EQUAL(got, c->bad);
    CU_ASSERT_EQUAL(ds_utf8_valid(p, c->len), c->bad == c->len);
    /* every prefix: valid up to the bad offset, never reading past len */
    for (size_t cut = 0; cut < c->len; cut++)
      CU_ASSERT(ds_utf8_check(p, cut) <= cut);
    free(p);
  }
}

static void test_seq_len(void)
{
  CU_ASSERT_EQUAL(ds_utf8_seq_len((const unsigned char *)"a", 1), 1);
  CU_ASSERT_EQUAL(ds_utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
  CU_ASSERT_EQUAL(ds_utf8_seq_len((const unsigned char *)"\xc3\xa9", 1), 0);
  CU_ASSERT_EQUAL(ds_utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
  CU_ASSERT_EQUAL(ds_utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
  CU_ASSERT_EQUAL(ds_utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0);
  CU_ASSERT_EQUAL(ds_utf8_seq_len((const unsigned char *)"\x80", 1), 0);
}

static const struct ds_test_case tests[] = {
    {"table", test_table},
    {"seq_len", test_seq_len},
    {NULL, NULL},
};

DS_TEST_MAIN("utf8", tests)
