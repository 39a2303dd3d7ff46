/* Shared scaffolding for the CUnit programs: each test file lists its
 * cases in a table and ends with DS_TEST_MAIN(suite_name, table). */
#ifndef DS_TEST_H
#define DS_TEST_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ds_test_case {
  const char *name;
  void (*fn)(void);
};

static inline int ds_test_run(const char *suite_name, const struct ds_test_case *cases)
{
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 1;
  CU_pSuite s = CU_add_suite(suite_name, NULL, NULL);
  if (s == NULL)
    return 1;
  for (const struct ds_test_case *c = cases; c->name != NULL; c++)
    if (CU_add_test(s, c->name, c->fn) == NULL)
      return 1;
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  unsigned run = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (run == 0) {
    fprintf(stderr, "no tests ran\n");
    return 1;
  }
  return failed == 0 ? 0 : 1;
}

/* A fake environment for ds_cfg_load: ctx is a NULL-terminated array of
 * name, value pairs. */
static inline const char *ds_test_env_lookup(const char *name, void *ctx)
{
  const char *const *kv = ctx;
  for (; kv[0] != NULL; kv += 2)
    if (strcmp(kv[0], name) == 0)
      return kv[1];
  return NULL;
}

#define DS_TEST_MAIN(suite_name, cases)                                                            \
  int main(void)                                                                                   \
  {                                                                                                \
    return ds_test_run(suite_name, cases);                                                         \
  }

#endif
