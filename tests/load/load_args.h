/* devicestats-loadgen's command line: the options of every scenario, their
 * defaults, presets, and the checks that turn a bad command line into exit
 * code 2 with a one-line reason.  Pure: the environment comes in through a
 * lookup function, nothing is printed.  load_parse_ll is shared with the
 * other load tools (sink, copyload). */
#ifndef LOAD_ARGS_H
#define LOAD_ARGS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Parses s as a whole base-10 integer in [lo, hi]: 0 with *out set, or -1. */
static inline int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

#define LOAD_MAX_CONNS 64
#define LOAD_NAME_MAX 64
#define LOAD_ERRLEN 256

enum load_scenario {
  LOAD_SC_DEVICES, /* D devices over MQTT (the default) */
  LOAD_SC_SEED,    /* the old Locust scenario (--preset seed) */
};

enum load_transport { LOAD_TR_MQTT, LOAD_TR_HTTP };

/* HTTP routes the report keeps apart.  The first LOAD_READ_ROUTES are the
 * readers' mix (--mix). */
enum load_route {
  LOAD_RT_ALL,     /* GET /devices/{id}/data/all */
  LOAD_RT_RANGE,   /* GET /devices/{id}/data?start=&end= */
  LOAD_RT_SERIES,  /* GET /devices/{id}/series?start=&end=&interval=60s */
  LOAD_RT_DEVICES, /* GET /devices?limit=100 */
  LOAD_RT_USERS,   /* GET /users/{uid}/data */
  LOAD_RT_POST,    /* POST /devices/{id}/data (seed over HTTP) */
  LOAD_RT_MARKER,  /* the marker polls: GET /devices/{marker}/data/all */
  LOAD_RT_N
};
#define LOAD_READ_ROUTES 5

/* The route's short name ("all", "range", ...). */
const char *load_route_name(enum load_route r);

struct load_opts {
  enum load_scenario scenario;
  enum load_transport transport;
  const char *mqtt_url;    /* borrowed from argv or the environment */
  const char *username;    /* NULL: none */
  const char *password;    /* NULL: none */
  const char *http_url;    /* NULL: no HTTP (no readers, markers, count check) */
  const char *token;       /* bearer token for POST (seed over HTTP, users) */
  const char *metrics_url; /* ingest's /metrics for stored/s; NULL: none */
  const char *prefix;      /* device names: prefix%04ld */
  const char *report_path; /* JSON report; NULL: none (or plot_dir/report.json) */
  const char *plot_dir;    /* PNGs; NULL: none */
  const char *plot_from;   /* --plot-from FILE: only draw an existing report */
  long devices;
  long long samples; /* devices: in total, spread evenly; seed: POSTs/publishes; 0 = no limit */
  long long first;   /* index of each device's first sample */
  long batch;        /* samples per message (K), 1 = a single object */
  long qos;
  long conns;
  long inflight;
  long long ts_base_ms, ts_step_ms;
  bool no_ts;
  double rate;       /* messages/s per device; 0 = as fast as possible */
  double ramp_s;     /* devices come online evenly over this time */
  double duration_s; /* 0 = until the sample count */
  long readers;
  unsigned mix[LOAD_READ_ROUTES]; /* weights of the readers' routes */
  double reader_think_ms;         /* pause between one reader's requests */
  long users;                     /* seed: virtual users */
  double think_min_s, think_max_s;
  double marker_ms;  /* publish a marker sample this often; 0 = none */
  double settle_s;   /* count check: wait at most this long for the stores */
  int progress;      /* -1 auto (on a terminal: in place), 0 off, 1 plain lines */
  unsigned seed_rng; /* random seed (think times, routes) */
};

enum { LOAD_ARGS_OK = 0, LOAD_ARGS_HELP = 1, LOAD_ARGS_BAD = 2 };

/* Fills *o from argv (argv[0] is the program) and the environment seen
 * through env(name, ctx) (MQTT_URL, MQTT_USERNAME, MQTT_PASSWORD,
 * API_TOKEN).  Returns LOAD_ARGS_OK, LOAD_ARGS_HELP (--help), or
 * LOAD_ARGS_BAD with the reason in err (errlen bytes, NUL-terminated).
 * Strings in *o are borrowed from argv or the environment.  Resets getopt
 * (optind), so it can be called more than once. */
int load_args_parse(int argc, char **argv, const char *(*env)(const char *name, void *ctx),
                    void *ctx, struct load_opts *o, char *err, size_t errlen);

/* The usage text. */
const char *load_args_usage(void);

#endif
