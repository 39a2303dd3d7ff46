/* The spool's record format (see ingest_spool_rec.h). */
#include "ingest_spool_rec.h"

#include <pthread.h>
#include <string.h>

#define MAGIC 0x31525344u /* "DSR1" little-endian */
#define FLAG_DUP 1u

static void put_le16(unsigned char *p, uint16_t v)
{
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}

static void put_le32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_le16(const unsigned char *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const unsigned char *p)
{
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint64_t get_le64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* CRC-32 (IEEE, reflected), table built once. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init_table(void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc_update(uint32_t crc, const void *data, size_t len)
{
  pthread_once(&crc_once, crc_init_table);
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < len; i++)
    crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

/* FNV-1a over topic, a separator and payload: redelivery key. */
uint64_t ingest_spool_rec_hash(const char *topic, size_t tlen, const void *payload, size_t plen)
{
  uint64_t h = 1469598103934665603ull;
  const unsigned char *p = (const unsigned char *)topic;
  for (size_t i = 0; i < tlen; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  h = (h ^ 0xFF) * 1099511628211ull;
  p = payload;
  for (size_t i = 0; i < plen; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h ? h : 1;
}

/* Header layout (offsets): 0 magic, 4 total length, 8 seq, 16 recv_us,
 * 24 payload_size, 28 topic_len, 30 msgid, 32 flags, 33 qos, 34..35 zero,
 * 36 stored payload length, 40 CRC-32 of bytes 0..39 and the body. */
void ingest_spool_rec_encode(unsigned char h[INGEST_SPOOL_HEADER], const struct ingest_spool_msg *m,
                             uint64_t seq, size_t keep)
{
  memset(h, 0, INGEST_SPOOL_HEADER);
  put_le32(h, MAGIC);
  put_le32(h + 4, (uint32_t)(INGEST_SPOOL_HEADER + m->topic_len + keep));
  put_le64(h + 8, seq);
  put_le64(h + 16, (uint64_t)m->recv_us);
  put_le32(h + 24, m->payload_size > UINT32_MAX ? UINT32_MAX : (uint32_t)m->payload_size);
  put_le16(h + 28, (uint16_t)m->topic_len);
  put_le16(h + 30, (uint16_t)m->msgid);
  h[32] = m->dup ? FLAG_DUP : 0;
  h[33] = (unsigned char)m->qos;
  put_le32(h + 36, (uint32_t)keep);
  uint32_t crc = crc_update(0, h, 40);
  crc = crc_update(crc, m->topic, m->topic_len);
  crc = crc_update(crc, m->payload, keep);
  put_le32(h + 40, crc);
}

/* Decodes the record at p[0..avail): DS_OK with rec and *len; DS_ERANGE
 * when more bytes are needed (*len: how many in all, or 0 if unknown);
 * DS_EINVAL when it is not a valid record. */
int ingest_spool_rec_decode(const unsigned char *p, size_t avail, struct ingest_spool_rec *rec,
                            size_t *len)
{
  *len = 0;
  if (avail < INGEST_SPOOL_HEADER)
    return DS_ERANGE;
  if (get_le32(p) != MAGIC)
    return DS_EINVAL;
  size_t total = get_le32(p + 4);
  size_t tlen = get_le16(p + 28), plen = get_le32(p + 36);
  if (total != INGEST_SPOOL_HEADER + tlen + plen)
    return DS_EINVAL;
  *len = total;
  if (avail < total)
    return DS_ERANGE;
  uint32_t crc = crc_update(0, p, 40);
  crc = crc_update(crc, p + INGEST_SPOOL_HEADER, tlen + plen);
  if (crc != get_le32(p + 40))
    return DS_EINVAL;
  rec->seq = get_le64(p + 8);
  rec->recv_us = (int64_t)get_le64(p + 16);
  rec->payload_size = get_le32(p + 24);
  rec->msgid = get_le16(p + 30);
  rec->dup = (p[32] & FLAG_DUP) != 0;
  rec->qos = p[33];
  rec->topic = (const char *)p + INGEST_SPOOL_HEADER;
  rec->topic_len = tlen;
  rec->payload = p + INGEST_SPOOL_HEADER + tlen;
  rec->payload_len = plen;
  return DS_OK;
}
