/* devicestats-loadgen's command line (see load_args.h): getopt_long over a
 * table of options, numbers checked for range and full consumption, then
 * the checks across options (a preset's defaults, what needs --http). */
#include "load_args.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "load_gen.h"

static const char *const route_names[LOAD_RT_N] = {"all",   "range", "series", "devices",
                                                   "users", "post",  "marker"};

const char *load_route_name(enum load_route r)
{
  return (unsigned)r < LOAD_RT_N ? route_names[r] : "?";
}

const char *load_args_usage(void)
{
  return "usage: devicestats-loadgen [options]\n"
         "Scenarios:\n"
         "  (default)          D devices publish over MQTT (--devices, --rate, --batch, --qos)\n"
         "  --preset seed      the old Locust scenario: --users N (10) virtual users on\n"
         "                     device-1..device-10, each POSTs a sample then GETs\n"
         "                     /devices/{id}/data/all, think time uniform 1-5 s;\n"
         "                     --transport mqtt publishes instead of POSTing\n"
         "Where:\n"
         "  --url URL          broker (default $MQTT_URL or tcp://127.0.0.1:1883);\n"
         "                     credentials $MQTT_USERNAME, $MQTT_PASSWORD\n"
         "  --http URL         query service (readers, markers, seed, count check)\n"
         "  --token T          bearer token for POST routes (default $API_TOKEN)\n"
         "  --metrics URL      ingest's /metrics: stored/s in the progress line\n"
         "Devices:\n"
         "  --devices N        devices (1000)\n"
         "  --samples N        samples in total, spread evenly over the devices\n"
         "                     (1000000 unless --duration; seed: requests in total)\n"
         "  --duration S       stop after S seconds (whichever of the two comes first)\n"
         "  --rate R           messages per second per device (0 = as fast as possible)\n"
         "  --ramp S           devices come online evenly over S seconds (0)\n"
         "  --batch K          samples per message, 1 = a single object (1)\n"
         "  --qos N            0 or 1 (1)\n"
         "  --connections N    MQTT connections, devices split among them (1)\n"
         "  --inflight N       messages in flight per connection (20)\n"
         "  --prefix P         device names are P%04u (ld-)\n"
         "  --first N          index of each device's first sample (0)\n"
         "  --ts-base MS       first timestamp, Unix ms (2026-11-28T00:00:00Z)\n"
         "  --ts-step MS       time between a device's samples (1000)\n"
         "  --no-ts            omit ts (ingest stamps the receive time)\n"
         "Readers (HTTP, libcurl multi):\n"
         "  --readers R        dashboard clients (0)\n"
         "  --mix all=4,range=3,series=2,devices=1,users=0   weights of their routes\n"
         "  --reader-think MS  pause between one reader's requests (0)\n"
         "Seed: --users N (10)  --think MIN-MAX seconds (1-5)  --transport http|mqtt\n"
         "Measurement and output:\n"
         "  --marker-ms MS     a marker sample this often for publish->visible latency\n"
         "                     (1000 when --http is given; 0 = none)\n"
         "  --settle S         count check: wait up to S s for the last samples (30)\n"
         "  --report FILE      JSON report\n"
         "  --plot DIR         PNG charts (gnuplot) and DIR/report.json\n"
         "  --plot-from FILE   only draw the charts of an existing report (with --plot)\n"
         "  --progress auto|on|off   the per-second line on stderr (auto)\n"
         "  --seed N           random seed (think times, routes)\n"
         "Exit: 0 when every sample was published and stored once and no request\n"
         "failed, 1 otherwise, 2 for a bad command line.\n";
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* A whole finite decimal number in [lo, hi]. */
static int parse_dbl(const char *s, double lo, double hi, double *out)
{
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

/* "all=4,range=3,...": every named route gets its weight, the others 0. */
static int parse_mix(const char *s, unsigned mix[LOAD_READ_ROUTES], char *err, size_t errlen)
{
  unsigned m[LOAD_READ_ROUTES] = {0};
  char buf[256];
  if (strlen(s) >= sizeof buf) {
    set_err(err, errlen, "--mix: too long");
    return -1;
  }
  memcpy(buf, s, strlen(s) + 1);
  unsigned total = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq) {
      set_err(err, errlen, "--mix: expected route=weight, got '%s'", tok);
      return -1;
    }
    *eq = '\0';
    int r = -1;
    for (int i = 0; i < LOAD_READ_ROUTES; i++)
      if (strcmp(tok, route_names[i]) == 0)
        r = i;
    long long w;
    if (r < 0) {
      set_err(err, errlen, "--mix: unknown route '%s' (known: all, range, series, devices, users)",
              tok);
      return -1;
    }
    if (parse_ll(eq + 1, 0, 1000, &w) != 0) {
      set_err(err, errlen, "--mix: weight of %s: '%s' is not a number in [0, 1000]", tok, eq + 1);
      return -1;
    }
    m[r] = (unsigned)w;
    total += (unsigned)w;
  }
  if (total == 0) {
    set_err(err, errlen, "--mix: every weight is 0");
    return -1;
  }
  memcpy(mix, m, sizeof m);
  return 0;
}

enum {
  O_URL = 256,
  O_HTTP,
  O_TOKEN,
  O_METRICS,
  O_DEVICES,
  O_SAMPLES,
  O_DURATION,
  O_RATE,
  O_RAMP,
  O_BATCH,
  O_QOS,
  O_CONNS,
  O_INFLIGHT,
  O_PREFIX,
  O_FIRST,
  O_TSBASE,
  O_TSSTEP,
  O_NOTS,
  O_READERS,
  O_MIX,
  O_RTHINK,
  O_PRESET,
  O_USERS,
  O_THINK,
  O_TRANSPORT,
  O_MARKER,
  O_SETTLE,
  O_REPORT,
  O_PLOT,
  O_PLOTFROM,
  O_PROGRESS,
  O_SEED,
  O_HELP
};

static const struct option longopts[] = {{"url", required_argument, NULL, O_URL},
                                         {"http", required_argument, NULL, O_HTTP},
                                         {"token", required_argument, NULL, O_TOKEN},
                                         {"metrics", required_argument, NULL, O_METRICS},
                                         {"devices", required_argument, NULL, O_DEVICES},
                                         {"samples", required_argument, NULL, O_SAMPLES},
                                         {"duration", required_argument, NULL, O_DURATION},
                                         {"rate", required_argument, NULL, O_RATE},
                                         {"ramp", required_argument, NULL, O_RAMP},
                                         {"batch", required_argument, NULL, O_BATCH},
                                         {"qos", required_argument, NULL, O_QOS},
                                         {"connections", required_argument, NULL, O_CONNS},
                                         {"inflight", required_argument, NULL, O_INFLIGHT},
                                         {"prefix", required_argument, NULL, O_PREFIX},
                                         {"first", required_argument, NULL, O_FIRST},
                                         {"ts-base", required_argument, NULL, O_TSBASE},
                                         {"ts-step", required_argument, NULL, O_TSSTEP},
                                         {"no-ts", no_argument, NULL, O_NOTS},
                                         {"readers", required_argument, NULL, O_READERS},
                                         {"mix", required_argument, NULL, O_MIX},
                                         {"reader-think", required_argument, NULL, O_RTHINK},
                                         {"preset", required_argument, NULL, O_PRESET},
                                         {"users", required_argument, NULL, O_USERS},
                                         {"think", required_argument, NULL, O_THINK},
                                         {"transport", required_argument, NULL, O_TRANSPORT},
                                         {"marker-ms", required_argument, NULL, O_MARKER},
                                         {"settle", required_argument, NULL, O_SETTLE},
                                         {"report", required_argument, NULL, O_REPORT},
                                         {"plot", required_argument, NULL, O_PLOT},
                                         {"plot-from", required_argument, NULL, O_PLOTFROM},
                                         {"progress", required_argument, NULL, O_PROGRESS},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"help", no_argument, NULL, O_HELP},
                                         {NULL, 0, NULL, 0}};

static const char *nonempty(const char *s)
{
  return s && *s ? s : NULL;
}

int load_args_parse(int argc, char **argv, const char *(*env)(const char *name, void *ctx),
                    void *ctx, struct load_opts *o, char *err, size_t errlen)
{
  const char *env_url = nonempty(env("MQTT_URL", ctx));
  *o = (struct load_opts){
      .mqtt_url = env_url ? env_url : "tcp://127.0.0.1:1883",
      .username = nonempty(env("MQTT_USERNAME", ctx)),
      .password = nonempty(env("MQTT_PASSWORD", ctx)),
      .token = nonempty(env("API_TOKEN", ctx)),
      .prefix = "ld-",
      .devices = 1000,
      .samples = -1, /* unset */
      .batch = 1,
      .qos = 1,
      /* Measured best on 2 cores (libmosquitto, as mosquitto_pub's 20):
       * a window of 100 took twice the time for 50,000 samples, the
       * in-flight list being searched linearly on every PUBACK. */
      .conns = 1,
      .inflight = 20,
      .ts_base_ms = LOAD_TS_BASE_MS,
      .ts_step_ms = 1000,
      .mix = {4, 3, 2, 1, 0},
      .users = 10,
      .think_min_s = 1,
      .think_max_s = 5,
      .marker_ms = -1, /* unset */
      .settle_s = 30,
      .progress = -1,
      .seed_rng = 1,
  };
  bool devices_set = false, transport_set = false;
  long long v = 0;
  double d = 0;
  int ch;
  optind = 0; /* glibc: a full re-initialisation of getopt */
  opterr = 0;
  err[0] = '\0';
  while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    const char *name = NULL; /* set for a bad number */
    switch (ch) {
    case O_URL:
      o->mqtt_url = optarg;
      break;
    case O_HTTP:
      o->http_url = optarg;
      break;
    case O_TOKEN:
      o->token = optarg;
      break;
    case O_METRICS:
      o->metrics_url = optarg;
      break;
    case O_PREFIX:
      o->prefix = optarg;
      break;
    case O_REPORT:
      o->report_path = optarg;
      break;
    case O_PLOT:
      o->plot_dir = optarg;
      break;
    case O_PLOTFROM:
      o->plot_from = optarg;
      break;
    case O_NOTS:
      o->no_ts = true;
      break;
    case O_DEVICES:
      if (parse_ll(optarg, 1, 10000000, &v) != 0)
        name = "--devices: a number in [1, 10000000]";
      o->devices = (long)v;
      devices_set = true;
      break;
    case O_SAMPLES:
      if (parse_ll(optarg, 1, INT64_C(1) << 40, &v) != 0)
        name = "--samples: a number in [1, 2^40]";
      o->samples = v;
      break;
    case O_FIRST:
      if (parse_ll(optarg, 0, INT64_C(1) << 40, &v) != 0)
        name = "--first: a number in [0, 2^40]";
      o->first = v;
      break;
    case O_BATCH:
      if (parse_ll(optarg, 1, 1000, &v) != 0)
        name = "--batch: a number in [1, 1000]";
      o->batch = (long)v;
      break;
    case O_QOS:
      if (parse_ll(optarg, 0, 1, &v) != 0)
        name = "--qos: 0 or 1";
      o->qos = (long)v;
      break;
    case O_CONNS:
      if (parse_ll(optarg, 1, LOAD_MAX_CONNS, &v) != 0)
        name = "--connections: a number in [1, 64]";
      o->conns = (long)v;
      break;
    case O_INFLIGHT:
      if (parse_ll(optarg, 1, 65000, &v) != 0)
        name = "--inflight: a number in [1, 65000]";
      o->inflight = (long)v;
      break;
    case O_TSBASE:
      if (parse_ll(optarg, 0, INT64_C(1) << 50, &v) != 0)
        name = "--ts-base: Unix milliseconds";
      o->ts_base_ms = v;
      break;
    case O_TSSTEP:
      if (parse_ll(optarg, 0, INT64_C(1) << 32, &v) != 0)
        name = "--ts-step: milliseconds in [0, 2^32]";
      o->ts_step_ms = v;
      break;
    case O_READERS:
      if (parse_ll(optarg, 0, 10000, &v) != 0)
        name = "--readers: a number in [0, 10000]";
      o->readers = (long)v;
      break;
    case O_USERS:
      if (parse_ll(optarg, 1, 10000, &v) != 0)
        name = "--users: a number in [1, 10000]";
      o->users = (long)v;
      break;
    case O_SEED:
      if (parse_ll(optarg, 0, UINT32_MAX, &v) != 0)
        name = "--seed: a number in [0, 2^32)";
      o->seed_rng = (unsigned)v;
      break;
    case O_DURATION:
      if (parse_dbl(optarg, 0.001, 1e7, &d) != 0)
        name = "--duration: seconds, more than 0";
      o->duration_s = d;
      break;
    case O_RATE:
      if (parse_dbl(optarg, 0, 1e7, &d) != 0)
        name = "--rate: messages per second per device, 0 or more";
      o->rate = d;
      break;
    case O_RAMP:
      if (parse_dbl(optarg, 0, 1e6, &d) != 0)
        name = "--ramp: seconds, 0 or more";
      o->ramp_s = d;
      break;
    case O_RTHINK:
      if (parse_dbl(optarg, 0, 1e7, &d) != 0)
        name = "--reader-think: milliseconds, 0 or more";
      o->reader_think_ms = d;
      break;
    case O_MARKER:
      if (parse_dbl(optarg, 0, 1e7, &d) != 0)
        name = "--marker-ms: milliseconds, 0 or more";
      o->marker_ms = d;
      break;
    case O_SETTLE:
      if (parse_dbl(optarg, 0, 1e5, &d) != 0)
        name = "--settle: seconds, 0 or more";
      o->settle_s = d;
      break;
    case O_THINK: {
      char lo[64], *dash = strchr(optarg, '-');
      size_t n = dash ? (size_t)(dash - optarg) : 0;
      if (!dash || n == 0 || n >= sizeof lo) {
        name = "--think: MIN-MAX in seconds, e.g. 1-5";
        break;
      }
      memcpy(lo, optarg, n);
      lo[n] = '\0';
      if (parse_dbl(lo, 0, 3600, &o->think_min_s) != 0 ||
          parse_dbl(dash + 1, 0, 3600, &o->think_max_s) != 0 || o->think_max_s < o->think_min_s)
        name = "--think: MIN-MAX in seconds, 0 <= MIN <= MAX <= 3600";
      break;
    }
    case O_MIX:
      if (parse_mix(optarg, o->mix, err, errlen) != 0)
        return LOAD_ARGS_BAD;
      break;
    case O_PRESET:
      if (strcmp(optarg, "seed") != 0) {
        set_err(err, errlen, "unknown preset '%s' (known: seed)", optarg);
        return LOAD_ARGS_BAD;
      }
      o->scenario = LOAD_SC_SEED;
      break;
    case O_TRANSPORT:
      if (strcmp(optarg, "mqtt") == 0)
        o->transport = LOAD_TR_MQTT;
      else if (strcmp(optarg, "http") == 0)
        o->transport = LOAD_TR_HTTP;
      else {
        set_err(err, errlen, "--transport: '%s' is neither http nor mqtt", optarg);
        return LOAD_ARGS_BAD;
      }
      transport_set = true;
      break;
    case O_PROGRESS:
      if (strcmp(optarg, "auto") == 0)
        o->progress = -1;
      else if (strcmp(optarg, "on") == 0)
        o->progress = 1;
      else if (strcmp(optarg, "off") == 0)
        o->progress = 0;
      else {
        set_err(err, errlen, "--progress: '%s' is not auto, on or off", optarg);
        return LOAD_ARGS_BAD;
      }
      break;
    case O_HELP:
    case 'h':
      return LOAD_ARGS_HELP;
    case ':':
      set_err(err, errlen, "%s needs a value", argv[optind - 1]);
      return LOAD_ARGS_BAD;
    default:
      set_err(err, errlen, "unknown option '%s'", argv[optind - 1]);
      return LOAD_ARGS_BAD;
    }
    if (name) {
      set_err(err, errlen, "bad value '%s' for %s", optarg, name);
      return LOAD_ARGS_BAD;
    }
  }
  if (optind != argc) {
    set_err(err, errlen, "unexpected argument '%s'", argv[optind]);
    return LOAD_ARGS_BAD;
  }
  if (strlen(o->prefix) > LOAD_NAME_MAX - 16) {
    set_err(err, errlen, "--prefix: longer than %d characters", LOAD_NAME_MAX - 16);
    return LOAD_ARGS_BAD;
  }
  if (o->plot_from && !o->plot_dir) {
    set_err(err, errlen, "--plot-from needs --plot DIR");
    return LOAD_ARGS_BAD;
  }
  if (o->scenario == LOAD_SC_SEED) {
    if (!transport_set)
      o->transport = LOAD_TR_HTTP;
    if (devices_set && o->devices != 10) {
      set_err(err, errlen, "--preset seed: its devices are device-1..device-10 (no --devices)");
      return LOAD_ARGS_BAD;
    }
    o->devices = 10;
    if (!o->http_url) {
      set_err(err, errlen, "--preset seed needs --http URL (it reads /devices/{id}/data/all)");
      return LOAD_ARGS_BAD;
    }
    if (o->transport == LOAD_TR_HTTP && !o->token) {
      set_err(err, errlen, "--preset seed over HTTP needs --token or $API_TOKEN (POST route)");
      return LOAD_ARGS_BAD;
    }
    if (o->samples < 0 && o->duration_s == 0)
      o->duration_s = 60;
  } else {
    if (transport_set && o->transport != LOAD_TR_MQTT) {
      set_err(err, errlen, "--transport http: only with --preset seed (devices publish over MQTT)");
      return LOAD_ARGS_BAD;
    }
    if (o->samples < 0 && o->duration_s == 0)
      o->samples = 1000000;
    if (o->samples > 0 && o->samples / o->devices < 1) {
      set_err(err, errlen, "--samples %lld: fewer samples than devices (%ld)", o->samples,
              o->devices);
      return LOAD_ARGS_BAD;
    }
  }
  if (o->samples < 0)
    o->samples = 0;
  if (o->readers > 0 && !o->http_url) {
    set_err(err, errlen, "--readers needs --http URL");
    return LOAD_ARGS_BAD;
  }
  if (o->readers > 0 && o->mix[LOAD_RT_USERS] > 0 && !o->token) {
    set_err(err, errlen, "--mix users=N needs --token or $API_TOKEN (it creates a user)");
    return LOAD_ARGS_BAD;
  }
  if (o->marker_ms < 0)
    o->marker_ms = o->http_url ? 1000 : 0;
  if (o->marker_ms > 0 && !o->http_url) {
    set_err(err, errlen, "--marker-ms needs --http URL (markers are read back over HTTP)");
    return LOAD_ARGS_BAD;
  }
  if (o->marker_ms > 0 && o->marker_ms < 10)
    o->marker_ms = 10;
  if (o->conns > o->devices)
    o->conns = o->devices;
  return LOAD_ARGS_OK;
}
