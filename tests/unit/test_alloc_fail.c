/* Allocation failure in the codec paths (STYLE.md 4): ds_json_parse and
 * ds_sample_decode are run with the Nth allocation failing, N = 1, 2, ...
 * until the call succeeds; every failing run must return DS_ENOMEM (never a
 * wrong answer such as a rejection or a success with garbage) and leave
 * nothing allocated (LeakSanitizer checks at exit under scripts/test.sh).
 *
 * The allocator hook: this program links json-c statically and is linked
 * with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
 * (tests/unit/CMakeLists.txt), so every allocation made by json-c or by our
 * own code goes through the __wrap_ functions below, which count them and
 * fail the armed one; the real allocator (ASan's, in sanitized builds)
 * does the rest, and free is untouched.  strdup is not failed: json-c 0.16
 * uses a failed strdup of an object key without checking (a crash in
 * lh_char_hash), a bug of the dependency that no caller can handle. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ds/json.h"
#include "ds/sample.h"
#include "ds_test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);

static bool armed;
static long fail_at; /* 1-based index of the allocation that fails */
static long seen;    /* allocations since arming */

static bool fail_now(void)
{
  if (!armed)
    return false;
  if (++seen != fail_at)
    return false;
  errno = ENOMEM;
  return true;
}

void *__wrap_malloc(size_t n)
{
  return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
  return fail_now() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
  return fail_now() ? NULL : __real_realloc(p, n);
}

static void arm(long n)
{
  seen = 0;
  fail_at = n;
  armed = true;
}

/* Disarms; true when the armed allocation was reached (and failed). */
static bool disarm(void)
{
  armed = false;
  return seen >= fail_at;
}

/* The codec inputs: objects, arrays, strings with escapes, timestamps in
 * both forms, nested ignored keys, and a rejected payload. */
static const char *const payloads[] = {
    "{\"x\": 1.5, \"y\": -2.0, \"z\": 0.25}",
    "{\"x\": 1.5, \"y\": -2.0, \"z\": 0.25, \"ts\": \"2026-11-28T10:15:00.123Z\"}",
    "[{\"x\": 1, \"y\": 2, \"z\": 3, \"ts\": 1764324900123}, {\"x\": 4, \"y\": 5, \"z\": 6},"
    " {\"x\": 7e3, \"y\": -0.0, \"z\": 1e-300, \"note\": \"caf\\u00e9 \\\"q\\\"\","
    " \"meta\": {\"a\": [1, 2, {\"b\": null}], \"c\": true}}]",
    "{\"x\": 1, \"y\": 2}",
    "[1, 2, 3]",
    NULL,
};

static void test_json_parse(void)
{
  for (const char *const *p = payloads; *p != NULL; p++) {
    size_t len = strlen(*p);
    /* The value without failures, as text, to compare with. */
    struct json_object *w = NULL;
    char werr[DS_ERRLEN] = "";
    CU_ASSERT_EQUAL_FATAL(ds_json_parse(*p, len, 65536, &w, werr), DS_OK);
    char want[4096];
    snprintf(want, sizeof want, "%s", json_object_to_json_string(w));
    json_object_put(w);
    long n = 1;
    for (;; n++) {
      CU_ASSERT_FATAL(n < 100000);
      struct json_object *o = NULL;
      char err[DS_ERRLEN] = "";
      arm(n);
      int rc = ds_json_parse(*p, len, 65536, &o, err);
      bool failed = disarm();
      if (!failed) {
        CU_ASSERT_EQUAL(rc, DS_OK);
        CU_ASSERT_PTR_NOT_NULL(o);
        json_object_put(o);
        break;
      }
      if (rc == DS_OK && o != NULL && strcmp(json_object_to_json_string(o), want) == 0) {
        json_object_put(o); /* json-c got by without that allocation */
        continue;
      }
      if (rc != DS_ENOMEM)
        fprintf(stderr, "\n  parse, allocation %ld failing: rc %d (%s) %s\n", n, rc,
                ds_strerror(rc), err);
      CU_ASSERT_EQUAL(rc, DS_ENOMEM);
      json_object_put(o); /* NULL unless a failure slipped through */
    }
    CU_ASSERT(n > 1); /* parsing allocates: at least one failure was tried */
  }
}

static void test_sample_decode(void)
{
  for (const char *const *p = payloads; *p != NULL; p++) {
    size_t len = strlen(*p);
    /* The answer without failures, to compare with. */
    struct ds_sample want[DS_SAMPLES_MAX];
    size_t want_n = 0;
    enum ds_reject want_reject = DS_REJECT_NONE;
    int want_rc = ds_sample_decode(*p, len, 42, want, &want_n, &want_reject, NULL);
    long n = 1;
    for (;; n++) {
      CU_ASSERT_FATAL(n < 100000);
      struct ds_sample got[DS_SAMPLES_MAX];
      size_t got_n = 0;
      enum ds_reject reject = DS_REJECT_NONE;
      char err[DS_ERRLEN] = "";
      arm(n);
      int rc = ds_sample_decode(*p, len, 42, got, &got_n, &reject, err);
      bool failed = disarm();
      if (!failed) {
        CU_ASSERT_EQUAL(rc, want_rc);
        CU_ASSERT_EQUAL(reject, want_reject);
        CU_ASSERT_EQUAL(got_n, want_n);
        if (rc == DS_OK && got_n == want_n)
          CU_ASSERT(memcmp(got, want, got_n * sizeof got[0]) == 0);
        break;
      }
      if (rc == want_rc && reject == want_reject &&
          (rc != DS_OK || (got_n == want_n && memcmp(got, want, got_n * sizeof got[0]) == 0)))
        continue; /* json-c got by without that allocation: the same answer */
      if (rc != DS_ENOMEM)
        fprintf(stderr, "\n  decode, allocation %ld failing: rc %d, %s\n", n, rc, err);
      CU_ASSERT_EQUAL(rc, DS_ENOMEM);
      CU_ASSERT_EQUAL(got_n, 0); /* *n untouched */
    }
  }
}

static const struct ds_test_case tests[] = {
    {"json parse", test_json_parse},
    {"sample decode", test_sample_decode},
    {NULL, NULL},
};

DS_TEST_MAIN("alloc_fail", tests)
