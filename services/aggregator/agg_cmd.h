/* The command receiver: the message callback of the aggregator's MQTT
 * subscriber (ds/mqtt_async.h).  It runs on Paho's thread before Paho sends
 * the PUBACK, and returns only once the command is recorded in recalc_runs,
 * on a database connection of its own, retrying with backoff while the
 * database is away (the broker meanwhile holds the further commands).  So a
 * command the broker counts as delivered is recorded; one not yet recorded
 * when the process dies is redelivered and recorded then, and its
 * request_id keeps it from running twice.  The record then goes to the
 * main thread through the inbox, which starts runs and publishes status
 * events. */
#ifndef AGG_CMD_H
#define AGG_CMD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg_cfg.h"
#include "agg_inbox.h"
#include "ds/backoff.h"
#include "ds/mqtt_async.h"
#include "ds/recalc.h"

#define AGG_CMD_RECENT 16

/* A command this process recorded, to know it again when the broker
 * redelivers it (DUP set: the PUBACK was lost with the connection). */
struct agg_cmd_seen {
  int msgid; /* 0: unused */
  size_t len;
  uint64_t hash; /* FNV-1a of the payload */
  char request_id[DS_RECALC_REQUEST_ID_MAX + 1];
};

struct agg_cmd {
  const struct agg_cfg *cfg; /* borrowed */
  const char *me;            /* borrowed: the client id, recorded as the source */
  struct agg_inbox *inbox;   /* borrowed */
  PGconn *conn;              /* owned; used by the callback's thread only */
  struct ds_backoff backoff; /* reconnects of conn, retries of a record */
  /* The last commands recorded, so that a redelivered command without
   * request_id gets the id it was recorded under instead of a new one. */
  struct agg_cmd_seen seen[AGG_CMD_RECENT];
  unsigned seen_next;
};

/* Prepares c; nothing connects until the first command. */
void agg_cmd_init(struct agg_cmd *c, const struct agg_cfg *cfg, const char *me,
                  struct agg_inbox *inbox);
/* Closes the connection.  Call once no callback can run any more (after
 * ds_mqtta_free or ds_mqtta_disconnect). */
void agg_cmd_cleanup(struct agg_cmd *c);

/* The ds_mqtta_on_message callback; ctx is a struct agg_cmd.  Returns once
 * the command is recorded and handed to the inbox.  When a stop is
 * requested while the command is not recorded it logs
 * command_unacknowledged and ends the process with _exit(1): returning
 * would acknowledge a command recorded nowhere. */
void agg_cmd_on_message(void *ctx, const struct ds_mqtta_msg *msg);

/* Records command payload[0..len) (borrowed, not NUL-terminated) under
 * request_id (borrowed) on conn: queued when it parses, failed with the
 * parser's reason when it does not (why[], a copy of the reason, printable
 * ASCII).  One attempt: DS_OK and *out, or DS_EDB / DS_ENOMEM with err. */
DS_MUSTCHECK int agg_cmd_record(PGconn *conn, const char *source, const char *payload, size_t len,
                                const char *request_id, struct agg_recorded *out,
                                char err[DS_ERRLEN]);

/* The request id a payload asks for into out: DS_OK, DS_ENOTFOUND when it
 * names none that can be read (the caller generates one), DS_ENOMEM. */
DS_MUSTCHECK int agg_cmd_request_id(const char *payload, size_t len,
                                    char out[DS_RECALC_REQUEST_ID_MAX + 1]);

#endif
