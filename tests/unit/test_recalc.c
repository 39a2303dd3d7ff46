/* Tests for ds_recalc: recalculation command parsing (every field, every
 * malformed form), request ids, the canonical command and status events. */
#include <string.h>

#include "ds/recalc.h"
#include "ds_test.h"

struct cmd_case {
  const char *name;
  const char *payload; /* NULL: use raw/raw_len */
  int rc;
  enum ds_recalc_scope scope;
  const char *device;
  int32_t user;
  int full;
  const char *request_id; /* NULL: none expected */
  const char *err_has;    /* substring of the error */
};

static const struct cmd_case cases[] = {
    {"empty payload", "", DS_OK, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, NULL},
    {"whitespace payload", " \n\t", DS_OK, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, NULL},
    {"empty object", "{}", DS_OK, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, NULL},
    {"object with spaces", " { } \n", DS_OK, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, NULL},
    {"device", "{\"device_id\": \"dev-7\"}", DS_OK, DS_RECALC_SCOPE_DEVICE, "dev-7", 0, 0, NULL,
     NULL},
    {"device 64 chars",
     "{\"device_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", DS_OK,
     DS_RECALC_SCOPE_DEVICE, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0,
     0, NULL, NULL},
    {"user", "{\"user_id\": 3, \"request_id\": \"nightly-2026-11-28\"}", DS_OK,
     DS_RECALC_SCOPE_USER, "", 3, 0, "nightly-2026-11-28", NULL},
    {"user max", "{\"user_id\": 2147483647}", DS_OK, DS_RECALC_SCOPE_USER, "", 2147483647, 0, NULL,
     NULL},
    {"full true", "{\"full\": true}", DS_OK, DS_RECALC_SCOPE_ALL, "", 0, 1, NULL, NULL},
    {"full false", "{\"full\": false}", DS_OK, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, NULL},
    {"all fields", "{\"device_id\":\"a.b_c-1\",\"full\":true,\"request_id\":\"r-1\"}", DS_OK,
     DS_RECALC_SCOPE_DEVICE, "a.b_c-1", 0, 1, "r-1", NULL},
    {"request id only", "{\"request_id\":\"x\"}", DS_OK, DS_RECALC_SCOPE_ALL, "", 0, 0, "x", NULL},
    /* malformed */
    {"not json", "hello", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "not valid JSON"},
    {"truncated", "{\"device_id\":", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "not valid JSON"},
    {"trailing data", "{} {}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "JSON"},
    {"trailing garbage", "{}x", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "JSON"},
    {"trailing comma", "{\"full\":true,}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "JSON"},
    {"bare word", "{full:true}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "JSON"},
    {"array", "[]", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "must be a JSON object"},
    {"string", "\"all\"", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "must be a JSON object"},
    {"null", "null", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "JSON object"},
    {"number", "42", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "JSON object"},
    {"device number", "{\"device_id\": 7}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "device_id must be a string"},
    {"device null", "{\"device_id\": null}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "device_id must be a string"},
    {"device empty", "{\"device_id\": \"\"}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "device_id must be 1-64"},
    {"device bad char", "{\"device_id\": \"dev/7\"}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0,
     NULL, "device_id must be 1-64"},
    {"device 65 chars",
     "{\"device_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
     DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "device_id must be 1-64"},
    {"user string", "{\"user_id\": \"3\"}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "user_id must be an integer"},
    {"user float", "{\"user_id\": 3.5}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "user_id must be an integer"},
    {"user float integral", "{\"user_id\": 3.0}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "user_id must be an integer"},
    {"user zero", "{\"user_id\": 0}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "between"},
    {"user negative", "{\"user_id\": -1}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "between"},
    {"user too big", "{\"user_id\": 2147483648}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "between"},
    {"user huge", "{\"user_id\": 99999999999999999999999}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0,
     0, NULL, "user_id"},
    {"user bool", "{\"user_id\": true}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL, "integer"},
    {"both", "{\"device_id\":\"d\",\"user_id\":1,\"request_id\":\"both-1\"}", DS_EINVAL,
     DS_RECALC_SCOPE_ALL, "", 0, 0, "both-1", "exclusive"},
    {"full string", "{\"full\": \"yes\"}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "full must be"},
    {"full number", "{\"full\": 1}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "full must be"},
    {"unknown key", "{\"devices\": [\"a\"], \"request_id\":\"u-1\"}", DS_EINVAL,
     DS_RECALC_SCOPE_ALL, "", 0, 0, "u-1", "unknown field \"devices\""},
    {"request id number", "{\"request_id\": 5}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "request_id must be a string"},
    {"request id empty", "{\"request_id\": \"\"}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "request_id must be 1-128"},
    {"request id space", "{\"request_id\": \"a b\"}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0,
     NULL, "printable"},
    {"request id unicode", "{\"request_id\": \"\xc3\xa9\"}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0,
     0, NULL, "printable"},
    {"bad utf8", "{\"request_id\": \"\xff\"}", DS_EINVAL, DS_RECALC_SCOPE_ALL, "", 0, 0, NULL,
     "JSON"},
    {"bad field keeps request id", "{\"request_id\":\"keep-me\",\"full\":3}", DS_EINVAL,
     DS_RECALC_SCOPE_ALL, "", 0, 0, "keep-me", "full must be"},
    {NULL, NULL, 0, 0, NULL, 0, 0, NULL, NULL},
};

static void check_case(const struct cmd_case *c, const char *payload, size_t len)
{
  struct ds_recalc_cmd cmd;
  char err[DS_ERRLEN] = "";
  int rc = ds_recalc_cmd_parse(payload, len, &cmd, err);
  if (rc != c->rc)
    fprintf(stderr, "\n  %s: rc %d want %d (%s)\n", c->name, rc, c->rc, err);
  CU_ASSERT_EQUAL(rc, c->rc);
  CU_ASSERT_EQUAL(cmd.scope, c->scope);
  CU_ASSERT_STRING_EQUAL(cmd.device_id, c->device);
  CU_ASSERT_EQUAL(cmd.user_id, c->user);
  CU_ASSERT_EQUAL(cmd.full, c->full != 0);
  CU_ASSERT_EQUAL(cmd.has_request_id, c->request_id != NULL);
  if (c->request_id != NULL)
    CU_ASSERT_STRING_EQUAL(cmd.request_id, c->request_id);
  if (c->err_has != NULL) {
    if (strstr(err, c->err_has) == NULL)
      fprintf(stderr, "\n  %s: error \"%s\" lacks \"%s\"\n", c->name, err, c->err_has);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, c->err_has));
  }
}

static void test_parse_table(void)
{
  for (const struct cmd_case *c = cases; c->name != NULL; c++)
    check_case(c, c->payload, strlen(c->payload));
}

static void test_parse_not_terminated(void)
{
  /* The payload is bytes plus a length: what follows must not be read. */
  const char buf[] = "{\"device_id\":\"dev-1\"}GARBAGE";
  struct ds_recalc_cmd cmd;
  char err[DS_ERRLEN] = "";
  CU_ASSERT_EQUAL(ds_recalc_cmd_parse(buf, 21, &cmd, err), DS_OK);
  CU_ASSERT_EQUAL(cmd.scope, DS_RECALC_SCOPE_DEVICE);
  CU_ASSERT_STRING_EQUAL(cmd.device_id, "dev-1");
  CU_ASSERT_EQUAL(ds_recalc_cmd_parse(buf, 10, &cmd, err), DS_EINVAL);
  CU_ASSERT_EQUAL(ds_recalc_cmd_parse(NULL, 0, &cmd, err), DS_OK);
  CU_ASSERT_EQUAL(cmd.scope, DS_RECALC_SCOPE_ALL);
}

static void test_parse_nul_and_huge(void)
{
  struct ds_recalc_cmd cmd;
  char err[DS_ERRLEN] = "";
  const char nul[] = {'{', '}', '\0', ' '};
  CU_ASSERT_EQUAL(ds_recalc_cmd_parse(nul, sizeof nul, &cmd, err), DS_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "NUL"));
  size_t n = DS_RECALC_CMD_PAYLOAD_MAX + 10;
  char *big = malloc(n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  CU_ASSERT_EQUAL(ds_recalc_cmd_parse(big, n, &cmd, err), DS_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger"));
  free(big);
  /* Deep nesting is rejected, not a crash. */
  char deep[2001];
  memset(deep, '[', 1000);
  memset(deep + 1000, ']', 1000);
  deep[2000] = '\0';
  CU_ASSERT_EQUAL(ds_recalc_cmd_parse(deep, 2000, &cmd, err), DS_EINVAL);
}

static void test_request_id(void)
{
  CU_ASSERT(ds_recalc_request_id_valid("a", 1));
  CU_ASSERT(!ds_recalc_request_id_valid("", 0));
  CU_ASSERT(!ds_recalc_request_id_valid(NULL, 0));
  char long_id[130];
  memset(long_id, 'x', sizeof long_id);
  CU_ASSERT(ds_recalc_request_id_valid(long_id, 128));
  CU_ASSERT(!ds_recalc_request_id_valid(long_id, 129));
  CU_ASSERT(!ds_recalc_request_id_valid("a\nb", 3));
  unsigned char zero[16] = {0}, ones[16];
  memset(ones, 0xff, sizeof ones);
  char out[DS_RECALC_REQUEST_ID_MAX + 1];
  ds_recalc_request_id_format(zero, out);
  CU_ASSERT_STRING_EQUAL(out, "00000000-0000-4000-8000-000000000000");
  ds_recalc_request_id_format(ones, out);
  CU_ASSERT_STRING_EQUAL(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
  CU_ASSERT(ds_recalc_request_id_valid(out, strlen(out)));
  /* Generated ids: UUID v4 form, and two in a row differ. */
  char a[DS_RECALC_REQUEST_ID_MAX + 1], b[DS_RECALC_REQUEST_ID_MAX + 1];
  CU_ASSERT_EQUAL_FATAL(ds_recalc_request_id_new(a), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_recalc_request_id_new(b), DS_OK);
  CU_ASSERT_EQUAL(strlen(a), 36);
  CU_ASSERT_EQUAL(a[8], '-');
  CU_ASSERT_EQUAL(a[14], '4');
  CU_ASSERT_PTR_NOT_NULL(strchr("89ab", a[19]));
  CU_ASSERT(ds_recalc_request_id_valid(a, strlen(a)));
  CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

static void round_trip(const char *payload, const char *want)
{
  struct ds_recalc_cmd cmd;
  char err[DS_ERRLEN] = "";
  CU_ASSERT_EQUAL_FATAL(ds_recalc_cmd_parse(payload, strlen(payload), &cmd, err), DS_OK);
  struct ds_buf b;
  ds_buf_init(&b, 1024);
  CU_ASSERT_EQUAL(ds_recalc_cmd_to_json(&b, &cmd), DS_OK);
  CU_ASSERT_STRING_EQUAL(b.data, want);
  /* The canonical form parses to the same command. */
  struct ds_recalc_cmd again;
  CU_ASSERT_EQUAL(ds_recalc_cmd_parse(b.data, b.len, &again, err), DS_OK);
  CU_ASSERT_EQUAL(again.scope, cmd.scope);
  CU_ASSERT_STRING_EQUAL(again.device_id, cmd.device_id);
  CU_ASSERT_EQUAL(again.user_id, cmd.user_id);
  CU_ASSERT_EQUAL(again.full, cmd.full);
  ds_buf_cleanup(&b);
}

static void test_canonical(void)
{
  round_trip("", "{}");
  round_trip("{\"request_id\":\"r\"}", "{}");
  round_trip("{\"full\":true}", "{\"full\": true}");
  round_trip("{\"device_id\":\"d-1\",\"full\":true}", "{\"device_id\": \"d-1\", \"full\": true}");
  round_trip("{\"user_id\":42}", "{\"user_id\": 42}");
}

/* The MQTT payload: the canonical command with the request id last. */
static void test_payload(void)
{
  static const struct {
    const char *in, *rid, *want;
  } payloads[] = {
      {"", "r-1", "{\"request_id\": \"r-1\"}"},
      {"{}", NULL, "{}"},
      {"{\"full\": true, \"device_id\": \"d\"}", "x\"y",
       "{\"device_id\": \"d\", \"full\": true, \"request_id\": \"x\\\"y\"}"},
      {"{\"user_id\": 7}", "n", "{\"user_id\": 7, \"request_id\": \"n\"}"},
  };
  for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
    struct ds_recalc_cmd cmd;
    char err[DS_ERRLEN] = "";
    CU_ASSERT_EQUAL_FATAL(ds_recalc_cmd_parse(payloads[i].in, strlen(payloads[i].in), &cmd, err),
                          DS_OK);
    struct ds_buf b;
    ds_buf_init(&b, 1024);
    CU_ASSERT_EQUAL(ds_recalc_cmd_payload(&b, &cmd, payloads[i].rid), DS_OK);
    CU_ASSERT_STRING_EQUAL(b.data, payloads[i].want);
    ds_buf_cleanup(&b);
  }
}

static const struct ds_test_case tests[] = {
    {"parse table", test_parse_table},
    {"parse reads only len bytes", test_parse_not_terminated},
    {"parse NUL, huge and deep payloads", test_parse_nul_and_huge},
    {"request ids", test_request_id},
    {"canonical command", test_canonical},
    {"command payload", test_payload},
    {NULL, NULL},
};

DS_TEST_MAIN("recalc", tests)
