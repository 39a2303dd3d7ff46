/* The spool's record format: a 44-byte little-endian header (magic "DSR1",
 * record length, sequence number, receive time, the payload's size as
 * received, topic length, packet id, flags, QoS, stored payload length,
 * CRC-32 of header and body), then the topic and the payload.  Pure
 * functions; the files are ingest_spool.c's. */
#ifndef INGEST_SPOOL_REC_H
#define INGEST_SPOOL_REC_H

#include <stddef.h>
#include <stdint.h>

#include "ingest_spool.h"

/* Writes the header of m's record numbered seq, keeping keep payload bytes. */
void ingest_spool_rec_encode(unsigned char h[INGEST_SPOOL_HEADER], const struct ingest_spool_msg *m,
                             uint64_t seq, size_t keep);
/* Decodes the record at p[0..avail): DS_OK with rec (pointing into p) and
 * *len; DS_ERANGE when more bytes are needed (*len: how many in all, or 0
 * if unknown); DS_EINVAL when it is not a valid record. */
int ingest_spool_rec_decode(const unsigned char *p, size_t avail, struct ingest_spool_rec *rec,
                            size_t *len);
/* Redelivery key of a topic and payload (never 0). */
uint64_t ingest_spool_rec_hash(const char *topic, size_t tlen, const void *payload, size_t plen);

#endif
