/* The command receiver (see agg_cmd.h): records each command before Paho
 * acknowledges it. */
#include "agg_cmd.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ds/buf.h"
#include "ds/db.h"
#include "ds/log.h"
#include "ds/recalc.h"
#include "ds/signal.h"
#include "ds/time.h"

#define INBOX_WAIT_MS 250

void agg_cmd_init(struct agg_cmd *c, const struct agg_cfg *cfg, const char *me,
                  struct agg_inbox *inbox)
{
  memset(c, 0, sizeof *c);
  c->cfg = cfg;
  c->me = me;
  c->inbox = inbox;
  ds_backoff_init(&c->backoff, (long)cfg->retry_min_ms, (long)cfg->retry_max_ms);
}

void agg_cmd_cleanup(struct agg_cmd *c)
{
  if (c->conn != NULL)
    PQfinish(c->conn);
  c->conn = NULL;
}

static void gen_request_id(char out[DS_RECALC_REQUEST_ID_MAX + 1])
{
  if (ds_recalc_request_id_new(out) == DS_OK)
    return;
  /* Unlikely; fall back to time and pid, still unique enough here. */
  unsigned char rnd[16] = {0};
  int64_t t = ds_time_now_us();
  pid_t p = getpid();
  memcpy(rnd, &t, sizeof t);
  memcpy(rnd + 8, &p, sizeof p < 8 ? sizeof p : 8);
  ds_recalc_request_id_format(rnd, out);
}

int agg_cmd_request_id(const char *payload, size_t len, char out[DS_RECALC_REQUEST_ID_MAX + 1])
{
  struct ds_recalc_cmd cmd;
  char why[DS_ERRLEN];
  /* A malformed command may still name its request id (the parser fills it
   * in when it could read it): the failure is recorded under it. */
  if (ds_recalc_cmd_parse(payload, len, &cmd, why) == DS_ENOMEM)
    return DS_ENOMEM;
  if (!cmd.has_request_id)
    return DS_ENOTFOUND;
  snprintf(out, DS_RECALC_REQUEST_ID_MAX + 1, "%s", cmd.request_id);
  return DS_OK;
}

/* The parser may quote a field name from the payload, which need not be
 * valid UTF-8 (nor stay valid once cut): a text column would refuse it, and
 * the command could then never be recorded.  Keeps printable ASCII only. */
static void printable(char *s)
{
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      *s = '?';
}

int agg_cmd_record(PGconn *conn, const char *source, const char *payload, size_t len,
                   const char *request_id, struct agg_recorded *out, char err[DS_ERRLEN])
{
  struct ds_recalc_cmd cmd;
  char why[DS_ERRLEN] = "";
  int prc = ds_recalc_cmd_parse(payload, len, &cmd, why);
  if (prc == DS_ENOMEM) {
    snprintf(err, DS_ERRLEN, "out of memory parsing the command");
    return prc;
  }
  printable(why);
  struct ds_buf what;
  ds_buf_init(&what, 2 * DS_RECALC_CMD_PAYLOAD_MAX + 64);
  int rc;
  if (prc == DS_OK) {
    rc = ds_recalc_cmd_to_json(&what, &cmd);
  } else {
    /* A malformed command is recorded as a JSON string of (the start of)
     * its bytes, escaped, so that any payload fits a text column. */
    rc = ds_buf_append_json_str(&what, payload ? payload : "", len > 1024 ? 1024 : len);
  }
  if (rc != DS_OK) {
    snprintf(err, DS_ERRLEN, "cannot build the command record: %s", ds_strerror(rc));
  } else {
    struct agg_recorded r = {.malformed = prc != DS_OK};
    rc = ds_recalc_status_record(conn, request_id, what.data, prc == DS_OK ? NULL : why, source,
                                 &r.inserted, &r.st, err);
    if (rc == DS_OK)
      *out = r;
  }
  ds_buf_cleanup(&what);
  return rc;
}

static uint64_t fnv1a(const void *p, size_t len)
{
  const unsigned char *b = p;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* The request id under which this process recorded msg before, when msg is
 * a redelivery (DUP, same packet id and payload) of it. */
static bool seen_before(const struct agg_cmd *c, const struct ds_mqtta_msg *msg, uint64_t hash,
                        char rid[DS_RECALC_REQUEST_ID_MAX + 1])
{
  if (!msg->dup || msg->msgid == 0)
    return false;
  for (size_t i = 0; i < AGG_CMD_RECENT; i++) {
    const struct agg_cmd_seen *s = &c->seen[i];
    if (s->msgid == msg->msgid && s->len == msg->payload_len && s->hash == hash) {
      snprintf(rid, DS_RECALC_REQUEST_ID_MAX + 1, "%s", s->request_id);
      return true;
    }
  }
  return false;
}

static void remember(struct agg_cmd *c, const struct ds_mqtta_msg *msg, uint64_t hash,
                     const char *rid)
{
  struct agg_cmd_seen *s = &c->seen[c->seen_next++ % AGG_CMD_RECENT];
  s->msgid = msg->msgid;
  s->len = msg->payload_len;
  s->hash = hash;
  snprintf(s->request_id, sizeof s->request_id, "%s", rid);
}

/* One attempt with a working connection: connects first when need be.  A
 * connection idle since before a database restart fails on first use;
 * that is no outage: a new one is tried at once. */
static int attempt(struct agg_cmd *c, const char *payload, size_t len, const char *rid,
                   struct agg_recorded *out, char err[DS_ERRLEN])
{
  int rc = DS_EDB;
  for (int i = 0; i < 2; i++) {
    bool fresh = false;
    if (ds_db_broken(c->conn)) {
      if (c->conn != NULL)
        PQfinish(c->conn);
      c->conn = NULL;
      rc = ds_db_connect(c->cfg->database_url, "devicestats-aggregator-commands", &c->conn, err);
      if (rc != DS_OK)
        return rc;
      fresh = true;
    }
    rc = agg_cmd_record(c->conn, c->me, payload, len, rid, out, err);
    if (rc == DS_OK || fresh || !ds_db_broken(c->conn))
      break;
  }
  return rc;
}

void agg_cmd_on_message(void *ctx, const struct ds_mqtta_msg *msg)
{
  struct agg_cmd *c = ctx;
  char rid[DS_RECALC_REQUEST_ID_MAX + 1];
  /* Generated once: every attempt records the same run.  A redelivery of a
   * command recorded by this process gets the id it was recorded under (a
   * long wait for the database outlasts the keep-alive: the broker drops
   * the connection, the PUBACK is lost, and the command comes again), so
   * it does not run twice. */
  uint64_t hash = fnv1a(msg->payload, msg->payload_len);
  int idrc;
  while ((idrc = agg_cmd_request_id(msg->payload, msg->payload_len, rid)) == DS_ENOMEM)
    if (!ds_signal_sleep_ms(100))
      break; /* stopping: the record below ends the process if need be */
  if (idrc != DS_OK && !seen_before(c, msg, hash, rid))
    gen_request_id(rid);
  struct agg_recorded rec;
  bool reported = false;
  for (;;) {
    char err[DS_ERRLEN] = "";
    int rc = DS_EDB;
    if (ds_backoff_due(&c->backoff, ds_time_mono_ms()))
      rc = attempt(c, msg->payload, msg->payload_len, rid, &rec, err);
    if (rc == DS_OK)
      break;
    if (err[0] != '\0') {
      (void)ds_backoff_failed(&c->backoff, ds_time_mono_ms());
      if (!reported)
        ds_log_msg(DS_LOG_WARN, "command_waiting",
                   "request_id=%s: %s; not acknowledged to the broker until it is recorded "
                   "(retrying with backoff up to %ld ms; the broker holds further commands)",
                   rid, err, c->backoff.max_ms);
      reported = true;
    }
    if (ds_signal_stop_requested() || !ds_backoff_wait(&c->backoff)) {
      /* Returning would acknowledge a command recorded nowhere: leave as a
       * crash would; the broker redelivers it to the next start. */
      ds_log_msg(DS_LOG_ERROR, "command_unacknowledged",
                 "request_id=%s: stopping before it could be recorded; the broker keeps it", rid);
      _exit(1);
    }
  }
  remember(c, msg, hash, rid);
  if (ds_backoff_succeeded(&c->backoff) || reported)
    ds_log_msg(DS_LOG_INFO, "command_recorded", "request_id=%s: recorded after waiting", rid);
  /* Recorded: from here on the command is safe whatever happens.  The main
   * thread starts runs and publishes; if it cannot take this one before a
   * stop, the queued run is still started by whichever aggregator polls
   * the queue next. */
  while (!agg_inbox_push(c->inbox, &rec, INBOX_WAIT_MS))
    if (ds_signal_stop_requested())
      return;
}
