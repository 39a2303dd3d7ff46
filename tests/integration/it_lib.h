/* Helpers for integration scenarios (tests/integration/scenario_*.c), which
 * run under tests/integration/run.sh against a throwaway stack described by
 * the DS_TEST_* environment variables.  A scenario is a plain program: it
 * checks with IT_ASSERT (prints what failed, exits 1) or IT_EXPECT (prints,
 * counts, carries on; return it_finish() from main).  Problems of the test
 * environment itself (missing variable, broker unreachable) abort through
 * it_fatal with a clear message. */
#ifndef IT_LIB_H
#define IT_LIB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* ------------------------------------------------------------ reporting */

/* Prints "FATAL: <msg>" on stderr and exits 1. */
_Noreturn void it_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "scenario: <msg>" on stderr (progress notes). */
void it_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records a failed check (file:line, expression, message) and, when fatal,
 * exits 1.  Used by the macros below. */
void it_check_failed(const char *file, int line, const char *expr, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Number of failed IT_EXPECT checks so far. */
int it_failures(void);
/* 0 when every check passed, else 1 (and a summary line): return it from main. */
int it_finish(void);

#define IT_ASSERT(cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      it_check_failed(__FILE__, __LINE__, #cond, true, __VA_ARGS__);                               \
  } while (0)
#define IT_EXPECT(cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      it_check_failed(__FILE__, __LINE__, #cond, false, __VA_ARGS__);                              \
  } while (0)

/* ------------------------------------------------------------ environment */

/* The value of a required variable (borrowed from the environment); fatal
 * when unset or empty. */
const char *it_env_str(const char *name);
/* The value of an optional variable, or def. */
const char *it_env_or(const char *name, const char *def);
/* A variable as an integer in [min, max], or def when unset; fatal when bad. */
long long it_env_int(const char *name, long long def, long long min, long long max);

/* Monotonic milliseconds (for timeouts only, never for assertions). */
long long it_mono_ms(void);
/* Wall-clock milliseconds since the epoch. */
long long it_wall_ms(void);
/* Sleeps ms milliseconds. */
void it_sleep_ms(long ms);

/* Calls pred(ctx) until it returns true (then true) or timeout_ms passes
 * (then false, after one last call).  Polls every 20 ms, backing off to
 * 250 ms. */
bool it_wait_until(bool (*pred)(void *ctx), void *ctx, long timeout_ms);

/* Runs "$DS_TEST_STACKCTL <formatted args>" through sh and returns its exit
 * status (0 = success, -1 when it could not run).  Arguments are formatted
 * by the scenario itself, never from untrusted text. */
int it_stackctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Unique-enough suffix for names of this run (pid and time): lets a scenario
 * name its devices so nothing collides with another scenario's. */
const char *it_run_tag(void);

/* ------------------------------------------------------------ MQTT */

/* A connected MQTT 3.1.1 client with the test credentials.  Clients may be
 * used from different threads (calls into Paho are serialised), each client
 * by one thread at a time
 * (DS_TEST_MQTT_URL, DS_TEST_MQTT_USERNAME, DS_TEST_MQTT_PASSWORD). */
struct it_mqtt;

/* Connects (clean session) as client_id; fatal on failure.  Freed by
 * it_mqtt_close. */
struct it_mqtt *it_mqtt_open(const char *client_id);
/* Like it_mqtt_open with explicit credentials (NULL for none); returns NULL
 * and the Paho return code in *rc when the broker refuses. */
struct it_mqtt *it_mqtt_open_as(const char *client_id, const char *username, const char *password,
                                int *rc);
/* Like it_mqtt_open_as on another broker URL; for ssl:// and mqtts:// the
 * server certificate is checked against ca_file (NULL: the system's CAs). */
struct it_mqtt *it_mqtt_open_url(const char *url, const char *ca_file, const char *client_id,
                                 const char *username, const char *password, int *rc);
/* Disconnects and frees; NULL ok. */
void it_mqtt_close(struct it_mqtt *m);

/* Publishes len bytes and, for qos 1 or 2, waits for the broker's
 * acknowledgement.  Returns 0, or -1 (with a note) on failure. */
int it_mqtt_publish(struct it_mqtt *m, const char *topic, const void *payload, size_t len, int qos);
/* The same with a NUL-terminated payload; fatal on failure. */
void it_mqtt_publish_str(struct it_mqtt *m, const char *topic, const char *payload, int qos);

/* Subscribes to filter at qos; fatal on failure. */
void it_mqtt_subscribe(struct it_mqtt *m, const char *filter, int qos);

/* A received message; payload is NUL-terminated (len excludes the NUL). */
struct it_msg {
  char *topic;
  char *payload;
  size_t len;
};

/* Waits up to timeout_ms for the next message on a subscribed client.
 * Returns 1 with *out filled (free with it_msg_cleanup), 0 on timeout. */
int it_mqtt_next(struct it_mqtt *m, long timeout_ms, struct it_msg *out);
void it_msg_cleanup(struct it_msg *msg);

/* Collected messages. */
struct it_msgs {
  struct it_msg *v;
  size_t n, cap;
};

/* Collects messages into out until done(out, ctx) returns true (then true)
 * or timeout_ms passes (then false).  done may be NULL: collect for the
 * whole timeout. */
bool it_mqtt_collect(struct it_mqtt *m, long timeout_ms,
                     bool (*done)(const struct it_msgs *msgs, void *ctx), void *ctx,
                     struct it_msgs *out);
void it_msgs_cleanup(struct it_msgs *msgs);

/* ------------------------------------------------------------ PostgreSQL */

/* Connects to DS_TEST_DATABASE_URL; fatal on failure.  PQfinish frees. */
PGconn *it_db_connect(void);
/* Runs sql with n text parameters (the variadic arguments, const char *,
 * NULL for SQL NULL).  Reconnects once when the connection was lost (e.g.
 * after restart-db).  Returns the result (PQclear frees) or NULL on error,
 * with the error noted on stderr. */
PGresult *it_db_try(PGconn *c, const char *sql, int n, ...);
/* The same; fatal on error. */
PGresult *it_db_exec(PGconn *c, const char *sql, int n, ...);
/* The first column of the first row as a number; fatal on error, NULL or no
 * row. */
long long it_db_scalar_ll(PGconn *c, const char *sql, int n, ...);
/* The same, but returns def on any error (for polling while the database
 * may be down). */
long long it_db_scalar_ll_or(PGconn *c, long long def, const char *sql, int n, ...);

/* ------------------------------------------------------------ HTTP */

#define IT_HTTP_BODY_MAX (8u * 1024u * 1024u)

struct it_http_resp {
  long status; /* 0 when the request failed at the transport level */
  char *body;  /* NUL-terminated, at most IT_HTTP_BODY_MAX bytes */
  size_t len;
  bool truncated; /* the body was longer than IT_HTTP_BODY_MAX */
};

/* Sends method to DS_TEST_HTTP_URL + path (or to path itself when it is a
 * full http:// or https:// URL, e.g. $DS_TEST_INGEST_ADMIN_URL/health), with body (NULL for none,
 * as application/json) and, when auth, "Authorization: Bearer $DS_TEST_API_TOKEN".  Fills *out
 * (free with it_http_resp_cleanup) and returns 0, or -1 when the request could not be made
 * (out->status 0). */
int it_http(const char *method, const char *path, const char *body, bool auth,
            struct it_http_resp *out);
void it_http_resp_cleanup(struct it_http_resp *r);

#endif
