/* Tests for load_args.c: devicestats-loadgen's command line.  Bad command
 * lines (bad numbers, unknown preset or route, negative rates, options
 * that need another) give LOAD_ARGS_BAD -- exit code 2 -- and a reason
 * naming the option; good ones give the documented defaults. */
#include <stdarg.h>
#include <string.h>

#include "ds_test.h"
#include "load_args.h"

static const char *const no_env[] = {NULL, NULL};
static const char *const env_token[] = {"API_TOKEN", "tok", "MQTT_URL", "tcp://h:1", NULL, NULL};

static const char *env_fn(const char *name, void *ctx)
{
  return ds_test_env_lookup(name, ctx);
}

/* Parses a NULL-terminated list of arguments (after the program name). */
static int parse(const char *const *env, struct load_opts *o, char *err, const char *a0, ...)
{
  char *argv[32] = {"devicestats-loadgen"};
  int argc = 1;
  va_list ap;
  va_start(ap, a0);
  for (const char *a = a0; a && argc < 31; a = va_arg(ap, const char *))
    argv[argc++] = (char *)a;
  va_end(ap);
  argv[argc] = NULL;
  return load_args_parse(argc, argv, env_fn, (void *)env, o, err, LOAD_ERRLEN);
}

static void test_defaults(void)
{
  struct load_opts o;
  char err[LOAD_ERRLEN];
  CU_ASSERT_EQUAL(parse(no_env, &o, err, NULL), LOAD_ARGS_OK);
  CU_ASSERT_EQUAL(o.scenario, LOAD_SC_DEVICES);
  CU_ASSERT_EQUAL(o.devices, 1000);
  CU_ASSERT_EQUAL(o.samples, 1000000);
  CU_ASSERT_EQUAL(o.qos, 1);
  CU_ASSERT_EQUAL(o.batch, 1);
  CU_ASSERT_STRING_EQUAL(o.mqtt_url, "tcp://127.0.0.1:1883");
  CU_ASSERT_EQUAL(o.marker_ms, 0); /* no --http: no markers */
  CU_ASSERT_EQUAL(parse(env_token, &o, err, "--duration", "5", "--http", "http://q", NULL),
                  LOAD_ARGS_OK);
  CU_ASSERT_EQUAL(o.samples, 0); /* duration alone: no sample limit */
  CU_ASSERT_EQUAL(o.marker_ms, 1000);
  CU_ASSERT_STRING_EQUAL(o.mqtt_url, "tcp://h:1");
  CU_ASSERT_EQUAL(parse(no_env, &o, err, "--help", NULL), LOAD_ARGS_HELP);
}

static void test_seed_preset(void)
{
  struct load_opts o;
  char err[LOAD_ERRLEN];
  CU_ASSERT_EQUAL(parse(env_token, &o, err, "--preset", "seed", "--http", "http://q", NULL),
                  LOAD_ARGS_OK);
  CU_ASSERT_EQUAL(o.scenario, LOAD_SC_SEED);
  CU_ASSERT_EQUAL(o.transport, LOAD_TR_HTTP);
  CU_ASSERT_EQUAL(o.users, 10);
  CU_ASSERT_EQUAL(o.devices, 10);
  CU_ASSERT_DOUBLE_EQUAL(o.think_min_s, 1, 0);
  CU_ASSERT_DOUBLE_EQUAL(o.think_max_s, 5, 0);
  CU_ASSERT_DOUBLE_EQUAL(o.duration_s, 60, 0);
  CU_ASSERT_STRING_EQUAL(o.token, "tok");
  CU_ASSERT_EQUAL(parse(no_env, &o, err, "--preset", "seed", "--http", "http://q", "--transport",
                        "mqtt", "--users", "50", "--think", "0.5-2", "--samples", "100", NULL),
                  LOAD_ARGS_OK);
  CU_ASSERT_EQUAL(o.transport, LOAD_TR_MQTT);
  CU_ASSERT_EQUAL(o.users, 50);
  CU_ASSERT_DOUBLE_EQUAL(o.think_min_s, 0.5, 0);
  CU_ASSERT_EQUAL(o.samples, 100);
  CU_ASSERT_DOUBLE_EQUAL(o.duration_s, 0, 0);
}

static void test_mix(void)
{
  struct load_opts o;
  char err[LOAD_ERRLEN];
  CU_ASSERT_EQUAL(parse(env_token, &o, err, "--http", "http://q", "--readers", "3", "--mix",
                        "series=2,users=1", NULL),
                  LOAD_ARGS_OK);
  CU_ASSERT_EQUAL(o.mix[LOAD_RT_ALL], 0);
  CU_ASSERT_EQUAL(o.mix[LOAD_RT_SERIES], 2);
  CU_ASSERT_EQUAL(o.mix[LOAD_RT_USERS], 1);
  CU_ASSERT_EQUAL(o.readers, 3);
}

/* Bad command lines: exit 2 and a reason containing the given words. */
static void test_errors(void)
{
  static const struct {
    const char *args[8];
    const char *reason;
  } t[] = {
      {{"--rate", "-5"}, "--rate"},
      {{"--rate", "abc"}, "bad value 'abc' for --rate"},
      {{"--rate", "1e999"}, "--rate"},
      {{"--rate", "nan"}, "--rate"},
      {{"--devices", "0"}, "--devices"},
      {{"--devices", "12x"}, "bad value '12x' for --devices"},
      {{"--devices", "99999999999999999999"}, "--devices"},
      {{"--samples", "-1"}, "--samples"},
      {{"--qos", "2"}, "--qos"},
      {{"--batch", "1001"}, "--batch"},
      {{"--duration", "0"}, "--duration"},
      {{"--duration", "-3"}, "--duration"},
      {{"--ramp", "-1"}, "--ramp"},
      {{"--readers", "-2"}, "--readers"},
      {{"--reader-think", "-1"}, "--reader-think"},
      {{"--connections", "65"}, "--connections"},
      {{"--preset", "locust"}, "unknown preset 'locust'"},
      {{"--preset", "seed"}, "needs --http"},
      {{"--preset", "seed", "--http", "http://q", "--devices", "20"}, "device-1..device-10"},
      {{"--transport", "http"}, "only with --preset seed"},
      {{"--transport", "coap"}, "neither http nor mqtt"},
      {{"--think", "5-1", "--preset", "seed"}, "--think"},
      {{"--think", "3"}, "--think"},
      {{"--mix", "all=1,foo=2"}, "unknown route 'foo'"},
      {{"--mix", "all=0"}, "every weight is 0"},
      {{"--mix", "all=-1"}, "weight of all"},
      {{"--readers", "2"}, "--readers needs --http"},
      {{"--http", "http://q", "--readers", "2", "--mix", "users=1"}, "--token"},
      {{"--marker-ms", "100"}, "--marker-ms needs --http"},
      {{"--samples", "5", "--devices", "10"}, "fewer samples than devices"},
      {{"--progress", "sometimes"}, "--progress"},
      {{"--plot-from", "r.json"}, "--plot-from needs --plot"},
      {{"--bogus"}, "unknown option '--bogus'"},
      {{"--rate"}, "needs a value"},
      {{"extra"}, "unexpected argument 'extra'"},
      {{"--prefix", "a-very-long-prefix-that-does-not-fit-a-device-name-xx"}, "--prefix"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char *argv[16] = {"devicestats-loadgen"};
    int argc = 1;
    for (int k = 0; k < 8 && t[i].args[k]; k++)
      argv[argc++] = (char *)t[i].args[k];
    argv[argc] = NULL;
    struct load_opts o;
    char err[LOAD_ERRLEN];
    int rc = load_args_parse(argc, argv, env_fn, (void *)no_env, &o, err, sizeof err);
    if (rc != LOAD_ARGS_BAD || strstr(err, t[i].reason) == NULL)
      fprintf(stderr, "case %zu (%s %s): rc %d, reason '%s', expected '%s'\n", i, t[i].args[0],
              t[i].args[1] ? t[i].args[1] : "", rc, err, t[i].reason);
    CU_ASSERT_EQUAL(rc, LOAD_ARGS_BAD);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, t[i].reason));
  }
}

static const struct ds_test_case cases[] = {
    {"defaults", test_defaults},
    {"seed_preset", test_seed_preset},
    {"mix", test_mix},
    {"errors", test_errors},
    {NULL, NULL},
};

DS_TEST_MAIN("load_args", cases)
