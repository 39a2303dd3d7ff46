/* ds_cfg: typed variables, defaults, ranges, and errors that name the
 * variable and the bad value; a fake environment stands in for getenv. */
#include <stddef.h>
#include <string.h>

#include "ds/cfg.h"
#include "ds_test.h"

struct t_cfg {
  char *url;
  long long n;
  bool flag;
  char *secret;
};

static const struct ds_cfg_var vars[] = {
    {"T_URL", DS_CFG_STR, "tcp://x", 0, 16, false, false, "url", offsetof(struct t_cfg, url)},
    {"T_N", DS_CFG_INT, "5", 1, 100, false, false, "a number", offsetof(struct t_cfg, n)},
    {"T_FLAG", DS_CFG_BOOL, "0", 0, 0, false, false, "a flag", offsetof(struct t_cfg, flag)},
    {"T_SECRET", DS_CFG_STR, NULL, 0, 64, false, true, "secret", offsetof(struct t_cfg, secret)},
};
#define NV (sizeof vars / sizeof vars[0])

static int load(const char *const *env, struct t_cfg *c, char err[DS_ERRLEN])
{
  memset(c, 0, sizeof *c);
  err[0] = '\0';
  return ds_cfg_load(vars, NV, c, ds_test_env_lookup, (void *)env, err);
}

static void test_defaults(void)
{
  const char *env[] = {NULL};
  struct t_cfg c;
  char err[DS_ERRLEN];
  CU_ASSERT_EQUAL(load(env, &c, err), DS_OK);
  CU_ASSERT_STRING_EQUAL(c.url, "tcp://x");
  CU_ASSERT_EQUAL(c.n, 5);
  CU_ASSERT_FALSE(c.flag);
  CU_ASSERT_PTR_NULL(c.secret);
  ds_cfg_cleanup(vars, NV, &c);
}

static void test_values(void)
{
  const char *env[] = {"T_URL", "tcp://y:1", "T_N", "100", "T_FLAG", "yes", "T_SECRET", "s3", NULL};
  struct t_cfg c;
  char err[DS_ERRLEN];
  CU_ASSERT_EQUAL(load(env, &c, err), DS_OK);
  CU_ASSERT_STRING_EQUAL(c.url, "tcp://y:1");
  CU_ASSERT_EQUAL(c.n, 100);
  CU_ASSERT_TRUE(c.flag);
  CU_ASSERT_STRING_EQUAL(c.secret, "s3");
  ds_cfg_cleanup(vars, NV, &c);
}

/* Each bad value fails with an error naming the variable and the value. */
static void test_errors(void)
{
  static const struct {
    const char *name, *value, *expect_in_err;
  } cases[] = {
      {"T_N", "abc", "T_N: 'abc' is not an integer"},
      {"T_N", "12x", "T_N: '12x' is not an integer"},
      {"T_N", "0", "T_N: 0 is out of range [1, 100]"},
      {"T_N", "101", "T_N: 101 is out of range [1, 100]"},
      {"T_N", "99999999999999999999", "T_N: '99999999999999999999' is not an integer"},
      {"T_N", " 5", "T_N: ' 5' is not an integer"},
      {"T_FLAG", "maybe", "T_FLAG: 'maybe' is not a boolean"},
      {"T_URL", "tcp://far-too-long-for-sixteen", "T_URL: value is 30 bytes, at most 16"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *env[] = {cases[i].name, cases[i].value, NULL};
    struct t_cfg c;
    char err[DS_ERRLEN];
    CU_ASSERT_EQUAL(load(env, &c, err), DS_EINVAL);
    if (strstr(err, cases[i].expect_in_err) == NULL)
      fprintf(stderr, "case %zu: error '%s' lacks '%s'\n", i, err, cases[i].expect_in_err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].expect_in_err));
    ds_cfg_cleanup(vars, NV, &c);
  }
}

static void test_required(void)
{
  static const struct ds_cfg_var req[] = {
      {"T_REQ", DS_CFG_STR, NULL, 0, 0, true, false, "must be set", 0},
  };
  char *v = NULL;
  char err[DS_ERRLEN];
  const char *env[] = {NULL};
  CU_ASSERT_EQUAL(ds_cfg_load(req, 1, &v, ds_test_env_lookup, (void *)env, err), DS_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_REQ is required"));
  const char *env2[] = {"T_REQ", "", NULL};
  CU_ASSERT_EQUAL(ds_cfg_load(req, 1, &v, ds_test_env_lookup, (void *)env2, err), DS_EINVAL);
  const char *env3[] = {"T_REQ", "x", NULL};
  CU_ASSERT_EQUAL(ds_cfg_load(req, 1, &v, ds_test_env_lookup, (void *)env3, err), DS_OK);
  CU_ASSERT_STRING_EQUAL(v, "x");
  ds_cfg_cleanup(req, 1, &v);
  CU_ASSERT_PTR_NULL(v);
}

static const struct ds_test_case cases[] = {
    {"defaults", test_defaults},
    {"values", test_values},
    {"errors name variable and value", test_errors},
    {"required", test_required},
    {NULL, NULL},
};

DS_TEST_MAIN("cfg", cases)
