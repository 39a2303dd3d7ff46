/* Ingest's durable spool: every message the broker hands to ingest is
 * appended here before it is acknowledged, and the writer thread stores
 * what it reads back.  A sample the broker handed over is therefore either
 * in the database, or in the spool and stored after the next start,
 * whatever kills ingest.  Layout, record format and recovery: docs/ingest.md.
 *
 * One appender thread (Paho's, in the messageArrived callback) and one
 * reader thread (the writer) share a spool; everything else is internal.
 *
 * Files under the spool's directory:
 *   lock                     flock()ed while an ingest uses the spool
 *   id                       16 hex characters naming this spool; the
 *                            database's progress row names it too, so a new
 *                            (empty) spool is never mistaken for an old one
 *   seg-<first seq, hex>.log append-only segments of records
 * Each record: a 44-byte little-endian header (magic, length, sequence
 * number, receive time, original payload size, topic length, packet id,
 * flags, stored payload length, CRC-32 of header and body), the topic, the
 * payload.  A torn record at a segment's end (power cut mid-write) fails its
 * CRC and is cut off at open. */
#ifndef INGEST_SPOOL_H
#define INGEST_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"

#define INGEST_SPOOL_HEADER 44
#define INGEST_SPOOL_ID_LEN 16

/* A message to append (all borrowed for the call). */
struct ingest_spool_msg {
  const char *topic;
  size_t topic_len; /* <= 65535 (MQTT's own limit) */
  const void *payload;
  size_t payload_len;  /* bytes to keep (may be less than payload_size) */
  size_t payload_size; /* size as received */
  int64_t recv_us;     /* receive time, Unix microseconds */
  int msgid;           /* MQTT packet id (0 for QoS 0) */
  int qos;
  bool dup; /* the broker's DUP flag */
};

/* A record read back; topic and payload are borrowed from the spool's read
 * buffer until the next ingest_spool_next call. */
struct ingest_spool_rec {
  uint64_t seq;
  int64_t recv_us;
  size_t payload_size;
  int msgid, qos;
  bool dup;
  const char *topic;
  size_t topic_len;
  const void *payload;
  size_t payload_len;
};

struct ingest_spool_opts {
  const char *dir;        /* created (0700) when missing */
  uint64_t max_bytes;     /* bound on the segments' total size */
  uint64_t segment_bytes; /* a segment is closed past this size */
  long sync_ms;           /* fdatasync: 0 every append, >0 at most this long after, <0 never */
};

/* What ingest_spool_open found (for its log line). */
struct ingest_spool_info {
  uint64_t segments, records, bytes; /* on disk at open */
  uint64_t first_seq, next_seq;      /* records [first_seq, next_seq) */
  uint64_t torn_bytes;               /* cut off torn or corrupt tails */
  bool created;                      /* a new spool (new id) */
};

struct ingest_spool;

/* Opens (or creates) the spool in o->dir, takes its lock (DS_ECONFLICT when
 * another process holds it), checks every record and cuts off a torn tail.
 * *out is freed by ingest_spool_close. */
DS_MUSTCHECK int ingest_spool_open(const struct ingest_spool_opts *o, struct ingest_spool **out,
                                   struct ingest_spool_info *info, char err[DS_ERRLEN]);
/* Syncs what is unsynced, stops the sync thread, closes; NULL ok. */
void ingest_spool_close(struct ingest_spool *s);
/* The spool's id: INGEST_SPOOL_ID_LEN hex characters, NUL-terminated. */
const char *ingest_spool_id(const struct ingest_spool *s);

/* --- appender side (one thread) */

/* True when m (DUP set, QoS > 0) is a redelivery of the message last
 * appended with the same packet id: same topic and payload. */
bool ingest_spool_is_redelivery(struct ingest_spool *s, const struct ingest_spool_msg *m);
/* Appends m, waiting up to wait_ms for room under the bound (force: no
 * bound).  DS_OK with *seq; DS_ERANGE when still no room; DS_EIO with err
 * when the write failed (nothing of the record is left in the spool).
 * When it returns DS_OK the record is in the page cache, and on disk within
 * sync_ms. */
DS_MUSTCHECK int ingest_spool_append(struct ingest_spool *s, const struct ingest_spool_msg *m,
                                     int wait_ms, bool force, uint64_t *seq, char err[DS_ERRLEN]);

/* --- reader side (one thread) */

/* Everything up to seq is stored: the reader starts after it, and
 * segments wholly at or below it are deleted. */
void ingest_spool_commit(struct ingest_spool *s, uint64_t seq);
/* The next record past the reader's position, waiting up to wait_ms for one
 * to be appended.  DS_OK with *got; DS_EIO with err on a read error. */
DS_MUSTCHECK int ingest_spool_next(struct ingest_spool *s, int wait_ms,
                                   struct ingest_spool_rec *rec, bool *got, char err[DS_ERRLEN]);

/* The next ingest_spool_next returns record seq again (it was read but
 * could not be used, e.g. out of memory). */
void ingest_spool_rewind(struct ingest_spool *s, uint64_t seq);

/* --- figures (any thread) */
struct ingest_spool_stats {
  uint64_t bytes;          /* on disk now */
  uint64_t next_seq;       /* sequence number of the next append */
  uint64_t committed_seq;  /* stored in the database */
  uint64_t unsynced;       /* appended (acknowledged) but not yet fdatasynced */
  uint64_t unsynced_max;   /* the most ever unsynced at once */
  uint64_t appended_bytes; /* written since open */
  uint64_t syncs;          /* fdatasync calls */
  uint64_t full_waits;     /* appends that had to wait for room */
};
void ingest_spool_stats(struct ingest_spool *s, struct ingest_spool_stats *out);

#endif
