/* Ingest's durable spool (see ingest_spool.h and docs/ingest.md). */
#include "ingest_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x31525344u /* "DSR1" little-endian */
#define FLAG_DUP 1u
#define PATH_MAX_LEN 4096
#define READ_CHUNK ((size_t)256 << 10)
#define NMSGID 65536

struct seg {
  uint64_t first_seq, last_seq; /* records [first_seq, last_seq]; last < first: empty */
  uint64_t bytes;
};

struct redelivery_key {
  uint64_t hash; /* of topic and payload; 0: none */
  uint64_t seq;
};

struct ingest_spool {
  char dir[PATH_MAX_LEN];
  char id[INGEST_SPOOL_ID_LEN + 1];
  uint64_t max_bytes, segment_bytes;
  long sync_ms;
  int lock_fd;

  pthread_mutex_t mu;
  pthread_cond_t appended; /* reader waits */
  pthread_cond_t room;     /* appender waits */
  pthread_cond_t sync_cv;  /* sync thread waits */
  struct seg *segs;        /* sorted; the last is the active one */
  size_t nsegs, cap_segs;
  int active_fd;  /* appender's fd of segs[nsegs-1] */
  uint64_t bytes; /* total on disk */
  uint64_t next_seq, committed_seq, synced_seq;
  uint64_t unsynced_max, appended_bytes, syncs, full_waits;
  bool stopping;
  pthread_t sync_thread;
  bool sync_thread_started;

  /* Redelivery detection: per packet id, the last appended message. */
  struct redelivery_key *keys;

  /* Reader state (reader thread only, except where noted). */
  int rd_fd;
  uint64_t rd_seg_first; /* first_seq of the segment rd_fd reads */
  uint64_t rd_off;       /* offset in it */
  uint64_t rd_next_seq;  /* next sequence number expected */
  unsigned char *rd_buf; /* read-ahead window: file bytes [win_off, win_off + win_len) */
  size_t rd_cap;
  uint64_t win_off;
  size_t win_len; /* 0: nothing buffered (set whenever the file read changes) */
};

/* ---------------------------------------------------------------- encoding */

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

static void crc_init(void)
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
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < len; i++)
    crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

/* FNV-1a over topic, a separator and payload: redelivery key. */
static uint64_t msg_hash(const char *topic, size_t tlen, const void *payload, size_t plen)
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
static void encode_header(unsigned char h[INGEST_SPOOL_HEADER], const struct ingest_spool_msg *m,
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
static int decode_record(const unsigned char *p, size_t avail, struct ingest_spool_rec *rec,
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

/* ------------------------------------------------------------------ files */

static int seg_path(const struct ingest_spool *s, uint64_t first, char *out, size_t n)
{
  int k = snprintf(out, n, "%s/seg-%016" PRIx64 ".log", s->dir, first);
  return (k < 0 || (size_t)k >= n) ? DS_ERANGE : DS_OK;
}

static void sync_dir(const struct ingest_spool *s)
{
  int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

static int mkdir_p(const char *dir, char err[DS_ERRLEN])
{
  char tmp[PATH_MAX_LEN];
  int n = snprintf(tmp, sizeof tmp, "%s", dir);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    snprintf(err, DS_ERRLEN, "spool directory name too long");
    return DS_ERANGE;
  }
  for (char *p = tmp + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
      snprintf(err, DS_ERRLEN, "cannot create %.160s: %s", tmp, strerror(errno));
      return DS_EIO;
    }
    *p = '/';
  }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
    snprintf(err, DS_ERRLEN, "cannot create %.160s: %s", tmp, strerror(errno));
    return DS_EIO;
  }
  return DS_OK;
}

static int read_or_make_id(struct ingest_spool *s, bool *created, char err[DS_ERRLEN])
{
  char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
  if (snprintf(path, sizeof path, "%s/id", s->dir) >= (int)sizeof path ||
      snprintf(tmp, sizeof tmp, "%s/id.tmp", s->dir) >= (int)sizeof tmp) {
    snprintf(err, DS_ERRLEN, "spool directory name too long");
    return DS_ERANGE;
  }
  *created = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[INGEST_SPOOL_ID_LEN + 2];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    bool ok = n >= INGEST_SPOOL_ID_LEN;
    for (int i = 0; ok && i < INGEST_SPOOL_ID_LEN; i++)
      ok = (buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f');
    if (!ok) {
      snprintf(err, DS_ERRLEN, "%.160s does not hold a spool id; move the spool aside", path);
      return DS_EINVAL;
    }
    memcpy(s->id, buf, INGEST_SPOOL_ID_LEN);
    s->id[INGEST_SPOOL_ID_LEN] = '\0';
    return DS_OK;
  }
  if (errno != ENOENT) {
    snprintf(err, DS_ERRLEN, "cannot read %.160s: %s", path, strerror(errno));
    return DS_EIO;
  }
  unsigned char rnd[8];
  int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (rfd < 0 || read(rfd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
    if (rfd >= 0)
      close(rfd);
    snprintf(err, DS_ERRLEN, "cannot read /dev/urandom for the spool id");
    return DS_EIO;
  }
  close(rfd);
  for (int i = 0; i < 8; i++)
    snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  char line[INGEST_SPOOL_ID_LEN + 1];
  memcpy(line, s->id, INGEST_SPOOL_ID_LEN);
  line[INGEST_SPOOL_ID_LEN] = '\n';
  if (fd < 0 || write(fd, line, sizeof line) != (ssize_t)sizeof line || fsync(fd) != 0 ||
      close(fd) != 0 || rename(tmp, path) != 0) {
    snprintf(err, DS_ERRLEN, "cannot write %.160s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return DS_EIO;
  }
  sync_dir(s);
  *created = true;
  return DS_OK;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int segs_push(struct ingest_spool *s, uint64_t first)
{
  if (s->nsegs == s->cap_segs) {
    size_t cap = s->cap_segs ? s->cap_segs * 2 : 16;
    struct seg *n = realloc(s->segs, cap * sizeof *n);
    if (n == NULL)
      return DS_ENOMEM;
    s->segs = n;
    s->cap_segs = cap;
  }
  s->segs[s->nsegs++] = (struct seg){first, first - 1, 0};
  return DS_OK;
}

/* Grows the read buffer to hold n bytes. */
static int rd_reserve(struct ingest_spool *s, size_t n)
{
  if (n <= s->rd_cap)
    return DS_OK;
  size_t cap = s->rd_cap ? s->rd_cap : READ_CHUNK;
  while (cap < n)
    cap *= 2;
  unsigned char *b = realloc(s->rd_buf, cap);
  if (b == NULL)
    return DS_ENOMEM;
  s->rd_buf = b;
  s->rd_cap = cap;
  return DS_OK;
}

/* Makes the window hold file bytes [off, off + want), reading ahead up to
 * end (at least READ_CHUNK when there is that much).  DS_ERANGE when the
 * file ends first. */
static int window(struct ingest_spool *s, int fd, uint64_t off, size_t want, uint64_t end)
{
  if (s->win_len > 0 && off >= s->win_off && off + want <= s->win_off + s->win_len)
    return DS_OK;
  if (off + want > end)
    return DS_ERANGE;
  size_t n = want > READ_CHUNK ? want : READ_CHUNK;
  if (n > end - off)
    n = (size_t)(end - off);
  if (rd_reserve(s, n) != DS_OK)
    return DS_ENOMEM;
  s->win_len = 0;
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, s->rd_buf + got, n - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return DS_EIO;
    if (r == 0)
      break;
    got += (size_t)r;
  }
  s->win_off = off;
  s->win_len = got;
  return got >= want ? DS_OK : DS_ERANGE;
}

/* Reads the record at offset off of fd, whose valid data ends at end,
 * through the read-ahead window.  DS_OK with rec (pointing into the
 * window) and *len; DS_ERANGE at the end (no whole header before end);
 * DS_EINVAL for a bad or cut-off record; DS_EIO. */
static int read_record(struct ingest_spool *s, int fd, uint64_t off, uint64_t end,
                       struct ingest_spool_rec *rec, size_t *len)
{
  int rc = window(s, fd, off, INGEST_SPOOL_HEADER, end);
  if (rc != DS_OK)
    return rc == DS_ERANGE && off + INGEST_SPOOL_HEADER > end && off < end ? DS_EINVAL : rc;
  rc = decode_record(s->rd_buf + (off - s->win_off), INGEST_SPOOL_HEADER, rec, len);
  if (rc != DS_ERANGE)
    return rc;
  if (*len == 0 || *len > ((size_t)64 << 20))
    return DS_EINVAL;
  rc = window(s, fd, off, *len, end);
  if (rc != DS_OK)
    return rc == DS_ERANGE ? DS_EINVAL : rc;
  return decode_record(s->rd_buf + (off - s->win_off), *len, rec, len);
}

/* Checks one segment at open: counts its records, fills in its last
 * sequence number and size, rebuilds the redelivery keys, and cuts off
 * whatever follows the last valid record. */
static int scan_segment(struct ingest_spool *s, struct seg *g, struct ingest_spool_info *info,
                        char err[DS_ERRLEN])
{
  char path[PATH_MAX_LEN];
  if (seg_path(s, g->first_seq, path, sizeof path) != DS_OK) {
    snprintf(err, DS_ERRLEN, "spool path too long");
    return DS_ERANGE;
  }
  int fd = open(path, O_RDWR | O_CLOEXEC);
  s->win_len = 0; /* another file */
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    snprintf(err, DS_ERRLEN, "cannot open %.160s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return DS_EIO;
  }
  uint64_t off = 0, end = (uint64_t)st.st_size, expect = g->first_seq;
  for (;;) {
    struct ingest_spool_rec rec;
    size_t len = 0;
    int rc = read_record(s, fd, off, end, &rec, &len);
    if (rc == DS_OK && rec.seq != expect)
      rc = DS_EINVAL;
    if (rc == DS_EIO || rc == DS_ENOMEM) {
      snprintf(err, DS_ERRLEN, "cannot read %.160s: %s", path, strerror(errno));
      close(fd);
      return rc;
    }
    if (rc != DS_OK)
      break;
    if (rec.qos > 0)
      s->keys[rec.msgid] = (struct redelivery_key){
          msg_hash(rec.topic, rec.topic_len, rec.payload, rec.payload_len), rec.seq};
    off += len;
    expect++;
    info->records++;
  }
  if (off < end) {
    info->torn_bytes += end - off;
    if (ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0) {
      snprintf(err, DS_ERRLEN, "cannot cut the torn tail of %.160s: %s", path, strerror(errno));
      close(fd);
      return DS_EIO;
    }
  }
  close(fd);
  g->last_seq = expect - 1;
  g->bytes = off;
  return DS_OK;
}

/* Lists the segments, oldest first. */
static int list_segments(struct ingest_spool *s, char err[DS_ERRLEN])
{
  DIR *d = opendir(s->dir);
  if (d == NULL) {
    snprintf(err, DS_ERRLEN, "cannot list %.160s: %s", s->dir, strerror(errno));
    return DS_EIO;
  }
  uint64_t *firsts = NULL;
  size_t n = 0, cap = 0;
  int rc = DS_OK;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *nm = e->d_name;
    if (strncmp(nm, "seg-", 4) != 0 || strlen(nm) != 4 + 16 + 4 || strcmp(nm + 20, ".log") != 0)
      continue;
    char hex[17];
    memcpy(hex, nm + 4, 16);
    hex[16] = '\0';
    char *endp = NULL;
    errno = 0;
    unsigned long long v = strtoull(hex, &endp, 16);
    if (errno != 0 || *endp != '\0' || v == 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      uint64_t *f = realloc(firsts, cap * sizeof *f);
      if (f == NULL) {
        rc = DS_ENOMEM;
        break;
      }
      firsts = f;
    }
    firsts[n++] = v;
  }
  closedir(d);
  if (rc == DS_OK) {
    if (n > 1)
      qsort(firsts, n, sizeof *firsts, cmp_u64);
    for (size_t i = 0; i < n && rc == DS_OK; i++)
      rc = segs_push(s, firsts[i]);
  }
  free(firsts);
  if (rc != DS_OK)
    snprintf(err, DS_ERRLEN, "out of memory listing the spool");
  return rc;
}

/* Opens a new active segment whose first record will be first. */
static int open_active(struct ingest_spool *s, uint64_t first, bool create, char err[DS_ERRLEN])
{
  char path[PATH_MAX_LEN];
  if (seg_path(s, first, path, sizeof path) != DS_OK) {
    snprintf(err, DS_ERRLEN, "spool path too long");
    return DS_ERANGE;
  }
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
  if (fd < 0) {
    snprintf(err, DS_ERRLEN, "cannot open %.160s: %s", path, strerror(errno));
    return DS_EIO;
  }
  if (create) {
    int rc = segs_push(s, first);
    if (rc != DS_OK) {
      close(fd);
      unlink(path);
      snprintf(err, DS_ERRLEN, "out of memory");
      return rc;
    }
    if (s->sync_ms >= 0)
      sync_dir(s);
  }
  s->active_fd = fd;
  return DS_OK;
}

/* ------------------------------------------------------------- sync thread */

static void *sync_main(void *arg)
{
  struct ingest_spool *s = arg;
  pthread_mutex_lock(&s->mu);
  while (!s->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (s->sync_ms % 1000) * 1000000L;
    until.tv_sec += s->sync_ms / 1000 + ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&s->sync_cv, &s->mu, &until);
    if (s->synced_seq + 1 >= s->next_seq || s->active_fd < 0)
      continue;
    uint64_t upto = s->next_seq - 1;
    int fd = dup(s->active_fd);
    pthread_mutex_unlock(&s->mu);
    bool ok = fd >= 0 && fdatasync(fd) == 0;
    if (fd >= 0)
      close(fd);
    pthread_mutex_lock(&s->mu);
    if (ok && upto > s->synced_seq)
      s->synced_seq = upto;
    s->syncs++;
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ------------------------------------------------------------------ open */

int ingest_spool_open(const struct ingest_spool_opts *o, struct ingest_spool **out,
                      struct ingest_spool_info *info, char err[DS_ERRLEN])
{
  pthread_once(&crc_once, crc_init);
  memset(info, 0, sizeof *info);
  struct ingest_spool *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, DS_ERRLEN, "out of memory");
    return DS_ENOMEM;
  }
  s->lock_fd = s->active_fd = s->rd_fd = -1;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->appended, NULL);
  pthread_cond_init(&s->room, NULL);
  pthread_cond_init(&s->sync_cv, NULL);
  s->max_bytes = o->max_bytes;
  s->segment_bytes = o->segment_bytes;
  s->sync_ms = o->sync_ms;
  int rc = DS_OK;
  int n = snprintf(s->dir, sizeof s->dir, "%s", o->dir);
  if (n <= 0 || (size_t)n >= sizeof s->dir - 64) {
    snprintf(err, DS_ERRLEN, "spool directory name empty or too long");
    rc = DS_EINVAL;
    goto fail;
  }
  s->keys = calloc(NMSGID, sizeof *s->keys);
  if (s->keys == NULL) {
    snprintf(err, DS_ERRLEN, "out of memory");
    rc = DS_ENOMEM;
    goto fail;
  }
  if ((rc = mkdir_p(s->dir, err)) != DS_OK)
    goto fail;
  char path[PATH_MAX_LEN];
  if (snprintf(path, sizeof path, "%s/lock", s->dir) >= (int)sizeof path) {
    snprintf(err, DS_ERRLEN, "spool directory name too long");
    rc = DS_ERANGE;
    goto fail;
  }
  s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd < 0) {
    snprintf(err, DS_ERRLEN, "cannot open %.160s: %s", path, strerror(errno));
    rc = DS_EIO;
    goto fail;
  }
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    snprintf(err, DS_ERRLEN,
             "%.160s is in use by another ingest (each instance needs its own spool)", s->dir);
    rc = DS_ECONFLICT;
    goto fail;
  }
  if ((rc = read_or_make_id(s, &info->created, err)) != DS_OK)
    goto fail;
  if ((rc = list_segments(s, err)) != DS_OK)
    goto fail;
  for (size_t i = 0; i < s->nsegs; i++) {
    if ((rc = scan_segment(s, &s->segs[i], info, err)) != DS_OK)
      goto fail;
    /* Segments hold increasing sequence numbers (a gap is possible where
     * the database was ahead of the spool, see ingest_spool_commit). */
    if (i + 1 < s->nsegs && s->segs[i + 1].first_seq <= s->segs[i].last_seq) {
      snprintf(err, DS_ERRLEN,
               "spool %.100s: segment %016" PRIx64
               " overlaps the one before it (records up to %" PRIu64 "); move the spool aside",
               s->dir, s->segs[i + 1].first_seq, s->segs[i].last_seq);
      rc = DS_EINVAL;
      goto fail;
    }
    s->bytes += s->segs[i].bytes;
  }
  if (s->nsegs == 0) {
    if ((rc = open_active(s, 1, true, err)) != DS_OK)
      goto fail;
  } else if ((rc = open_active(s, s->segs[s->nsegs - 1].first_seq, false, err)) != DS_OK) {
    goto fail;
  }
  s->next_seq = s->segs[s->nsegs - 1].last_seq + 1;
  s->committed_seq = s->segs[0].first_seq - 1;
  s->synced_seq = s->next_seq - 1; /* checked (and synced when torn) above */
  s->rd_seg_first = 0;
  s->rd_next_seq = s->segs[0].first_seq;
  info->segments = s->nsegs;
  info->bytes = s->bytes;
  info->first_seq = s->segs[0].first_seq;
  info->next_seq = s->next_seq;
  if (s->sync_ms > 0) {
    if (pthread_create(&s->sync_thread, NULL, sync_main, s) != 0) {
      snprintf(err, DS_ERRLEN, "cannot start the spool sync thread");
      rc = DS_ENOMEM;
      goto fail;
    }
    s->sync_thread_started = true;
  }
  *out = s;
  return DS_OK;
fail:
  ingest_spool_close(s);
  return rc;
}

void ingest_spool_close(struct ingest_spool *s)
{
  if (s == NULL)
    return;
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  pthread_cond_broadcast(&s->sync_cv);
  pthread_cond_broadcast(&s->room);
  pthread_cond_broadcast(&s->appended);
  pthread_mutex_unlock(&s->mu);
  if (s->sync_thread_started)
    pthread_join(s->sync_thread, NULL);
  if (s->active_fd >= 0) {
    if (s->sync_ms >= 0 && s->synced_seq + 1 < s->next_seq)
      (void)fdatasync(s->active_fd);
    close(s->active_fd);
  }
  if (s->rd_fd >= 0)
    close(s->rd_fd);
  if (s->lock_fd >= 0)
    close(s->lock_fd); /* releases the flock */
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->appended);
  pthread_cond_destroy(&s->room);
  pthread_cond_destroy(&s->sync_cv);
  free(s->segs);
  free(s->keys);
  free(s->rd_buf);
  free(s);
}

const char *ingest_spool_id(const struct ingest_spool *s)
{
  return s->id;
}

/* ---------------------------------------------------------------- append */

bool ingest_spool_is_redelivery(struct ingest_spool *s, const struct ingest_spool_msg *m)
{
  if (!m->dup || m->qos == 0 || m->msgid <= 0 || m->msgid >= NMSGID)
    return false;
  uint64_t h = msg_hash(m->topic, m->topic_len, m->payload, m->payload_len);
  pthread_mutex_lock(&s->mu);
  bool same = s->keys[m->msgid].hash == h;
  pthread_mutex_unlock(&s->mu);
  return same;
}

/* Deletes the non-active segments wholly at or below committed_seq.
 * Called with the lock held. */
static void delete_committed(struct ingest_spool *s)
{
  size_t drop = 0;
  while (drop + 1 < s->nsegs && s->segs[drop].last_seq <= s->committed_seq) {
    char path[PATH_MAX_LEN];
    if (seg_path(s, s->segs[drop].first_seq, path, sizeof path) == DS_OK)
      (void)unlink(path);
    s->bytes -= s->segs[drop].bytes;
    drop++;
  }
  if (drop > 0) {
    memmove(s->segs, s->segs + drop, (s->nsegs - drop) * sizeof *s->segs);
    s->nsegs -= drop;
    pthread_cond_broadcast(&s->room);
  }
}

/* Closes the active segment and starts the next.  Lock held. */
static int rotate(struct ingest_spool *s, char err[DS_ERRLEN])
{
  if (s->sync_ms >= 0 && s->synced_seq + 1 < s->next_seq) {
    if (fdatasync(s->active_fd) == 0)
      s->synced_seq = s->next_seq - 1;
    s->syncs++;
  }
  close(s->active_fd);
  s->active_fd = -1;
  int rc = open_active(s, s->next_seq, true, err);
  if (rc != DS_OK) {
    /* Keep appending to the old segment rather than stop. */
    char path[PATH_MAX_LEN];
    if (seg_path(s, s->segs[s->nsegs - 1].first_seq, path, sizeof path) == DS_OK)
      s->active_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    return s->active_fd >= 0 ? DS_OK : rc;
  }
  delete_committed(s);
  return DS_OK;
}

static void abs_deadline(struct timespec *ts, int wait_ms)
{
  clock_gettime(CLOCK_REALTIME, ts);
  long ns = ts->tv_nsec + (long)(wait_ms % 1000) * 1000000L;
  ts->tv_sec += wait_ms / 1000 + ns / 1000000000L;
  ts->tv_nsec = ns % 1000000000L;
}

int ingest_spool_append(struct ingest_spool *s, const struct ingest_spool_msg *m, int wait_ms,
                        bool force, uint64_t *seq, char err[DS_ERRLEN])
{
  if (m->topic_len > 65535 || m->payload_len > UINT32_MAX / 2) {
    snprintf(err, DS_ERRLEN, "message too large for the spool");
    return DS_EINVAL;
  }
  size_t keep = m->payload_len;
  uint64_t len = INGEST_SPOOL_HEADER + m->topic_len + keep;
  unsigned char h[INGEST_SPOOL_HEADER];
  pthread_mutex_lock(&s->mu);
  bool waited = false;
  struct timespec until;
  abs_deadline(&until, wait_ms);
  while (!force && s->bytes + len > s->max_bytes) {
    struct seg *act = &s->segs[s->nsegs - 1];
    /* Everything written is stored: a fresh segment frees the old one. */
    if (s->committed_seq + 1 >= s->next_seq && act->bytes > 0) {
      if (rotate(s, err) != DS_OK)
        break;
      continue;
    }
    if (s->stopping)
      break;
    if (!waited)
      s->full_waits++;
    waited = true;
    if (pthread_cond_timedwait(&s->room, &s->mu, &until) != 0)
      break;
  }
  if (!force && s->bytes + len > s->max_bytes) {
    pthread_mutex_unlock(&s->mu);
    return DS_ERANGE;
  }
  if (s->segs[s->nsegs - 1].bytes >= s->segment_bytes) {
    char rerr[DS_ERRLEN];
    if (rotate(s, rerr) != DS_OK) {
      snprintf(err, DS_ERRLEN, "%.160s", rerr);
      pthread_mutex_unlock(&s->mu);
      return DS_EIO;
    }
  }
  uint64_t my_seq = s->next_seq;
  int fd = s->active_fd;
  struct seg *act = &s->segs[s->nsegs - 1];
  uint64_t start = act->bytes;
  pthread_mutex_unlock(&s->mu);

  /* The write happens outside the lock (the reader never looks past the
   * segment's published size); only this thread appends. */
  encode_header(h, m, my_seq, keep);
  struct iovec iov[3] = {{h, sizeof h},
                         {(void *)(uintptr_t)m->topic, m->topic_len},
                         {(void *)(uintptr_t)m->payload, keep}};
  uint64_t done = 0;
  int rc = DS_OK;
  while (done < len) {
    /* After a short write, send the rest. */
    struct iovec rest[3];
    int nrest = 0;
    uint64_t skip = done;
    for (int i = 0; i < 3; i++) {
      if (skip >= iov[i].iov_len) {
        skip -= iov[i].iov_len;
        continue;
      }
      rest[nrest].iov_base = (char *)iov[i].iov_base + skip;
      rest[nrest].iov_len = iov[i].iov_len - skip;
      skip = 0;
      nrest++;
    }
    ssize_t n = writev(fd, rest, nrest);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      snprintf(err, DS_ERRLEN, "writing the spool in %.160s: %s", s->dir,
               n < 0 ? strerror(errno) : "no progress");
      rc = DS_EIO;
      break;
    }
    done += (uint64_t)n;
  }
  if (rc == DS_OK && s->sync_ms == 0) {
    if (fdatasync(fd) != 0) {
      snprintf(err, DS_ERRLEN, "fdatasync of the spool in %.160s: %s", s->dir, strerror(errno));
      rc = DS_EIO;
    }
  }
  if (rc != DS_OK) {
    /* Leave no part of this record behind. */
    if (done > 0 && ftruncate(fd, (off_t)start) != 0) {
      snprintf(err, DS_ERRLEN,
               "writing the spool in %.160s failed and it could not be cut back: %s", s->dir,
               strerror(errno));
    }
    return rc;
  }
  pthread_mutex_lock(&s->mu);
  act = &s->segs[s->nsegs - 1];
  act->bytes += len;
  act->last_seq = my_seq;
  s->bytes += len;
  s->appended_bytes += len;
  s->next_seq = my_seq + 1;
  if (s->sync_ms == 0) {
    s->synced_seq = my_seq;
    s->syncs++;
  }
  uint64_t unsynced = s->next_seq - 1 - s->synced_seq;
  if (unsynced > s->unsynced_max)
    s->unsynced_max = unsynced;
  if (m->qos > 0 && m->msgid > 0 && m->msgid < NMSGID)
    s->keys[m->msgid] =
        (struct redelivery_key){msg_hash(m->topic, m->topic_len, m->payload, keep), my_seq};
  pthread_cond_signal(&s->appended);
  pthread_mutex_unlock(&s->mu);
  *seq = my_seq;
  return DS_OK;
}

/* ------------------------------------------------------------------ read */

void ingest_spool_commit(struct ingest_spool *s, uint64_t seq)
{
  pthread_mutex_lock(&s->mu);
  if (seq > s->committed_seq)
    s->committed_seq = seq;
  if (s->committed_seq >= s->next_seq) {
    /* The database has stored more of this spool than the spool holds
     * (records cut off as torn after a power cut, once stored): number new
     * records after what is stored, in a new segment, so that none is
     * taken for stored. */
    s->next_seq = s->committed_seq + 1;
    s->synced_seq = s->committed_seq;
    char err[DS_ERRLEN];
    (void)rotate(s, err);
  }
  if (s->rd_next_seq <= s->committed_seq) {
    /* The reader starts after what is stored (at start-up). */
    s->rd_next_seq = s->committed_seq + 1;
    if (s->rd_fd >= 0)
      close(s->rd_fd);
    s->rd_fd = -1;
    s->rd_seg_first = 0;
    s->win_len = 0;
  }
  delete_committed(s);
  pthread_mutex_unlock(&s->mu);
}

void ingest_spool_rewind(struct ingest_spool *s, uint64_t seq)
{
  pthread_mutex_lock(&s->mu);
  if (seq < s->rd_next_seq && seq > s->committed_seq) {
    s->rd_next_seq = seq;
    if (s->rd_fd >= 0)
      close(s->rd_fd);
    s->rd_fd = -1;
    s->rd_seg_first = 0;
    s->win_len = 0;
  }
  pthread_mutex_unlock(&s->mu);
}

/* Finds the segment holding seq (lock held): index, or nsegs if none. */
static size_t seg_of(const struct ingest_spool *s, uint64_t seq)
{
  for (size_t i = 0; i < s->nsegs; i++)
    if (seq >= s->segs[i].first_seq && (i + 1 == s->nsegs || seq < s->segs[i + 1].first_seq))
      return i;
  return s->nsegs;
}

int ingest_spool_next(struct ingest_spool *s, int wait_ms, struct ingest_spool_rec *rec, bool *got,
                      char err[DS_ERRLEN])
{
  *got = false;
  pthread_mutex_lock(&s->mu);
  if (s->rd_next_seq >= s->next_seq && wait_ms > 0 && !s->stopping) {
    struct timespec until;
    abs_deadline(&until, wait_ms);
    while (s->rd_next_seq >= s->next_seq && !s->stopping)
      if (pthread_cond_timedwait(&s->appended, &s->mu, &until) != 0)
        break;
  }
  if (s->rd_next_seq >= s->next_seq) {
    pthread_mutex_unlock(&s->mu);
    return DS_OK;
  }
  size_t i = seg_of(s, s->rd_next_seq);
  if (i < s->nsegs && s->rd_next_seq > s->segs[i].last_seq && i + 1 < s->nsegs) {
    i++; /* a gap between segments (see ingest_spool_commit) */
    s->rd_next_seq = s->segs[i].first_seq;
  }
  if (i == s->nsegs) {
    pthread_mutex_unlock(&s->mu);
    snprintf(err, DS_ERRLEN, "spool record %" PRIu64 " is in no segment", s->rd_next_seq);
    return DS_EIO;
  }
  uint64_t first = s->segs[i].first_seq, end = s->segs[i].bytes;
  pthread_mutex_unlock(&s->mu);

  if (s->rd_fd < 0 || s->rd_seg_first != first) {
    if (s->rd_fd >= 0)
      close(s->rd_fd);
    char path[PATH_MAX_LEN];
    if (seg_path(s, first, path, sizeof path) != DS_OK ||
        (s->rd_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
      snprintf(err, DS_ERRLEN, "cannot open spool segment %016" PRIx64 ": %s", first,
               strerror(errno));
      return DS_EIO;
    }
    s->rd_seg_first = first;
    s->rd_off = 0;
    s->win_len = 0;
  }
  /* Skip to the record wanted (after a commit at start-up). */
  for (;;) {
    size_t len = 0;
    int rc = read_record(s, s->rd_fd, s->rd_off, end, rec, &len);
    if (rc != DS_OK) {
      snprintf(err, DS_ERRLEN, "spool segment %016" PRIx64 " at %" PRIu64 ": %s", first, s->rd_off,
               rc == DS_EIO ? strerror(errno) : "bad record");
      return rc == DS_ENOMEM ? rc : DS_EIO;
    }
    s->rd_off += len;
    if (rec->seq < s->rd_next_seq)
      continue;
    if (rec->seq != s->rd_next_seq) {
      snprintf(err, DS_ERRLEN, "spool record %" PRIu64 " found where %" PRIu64 " was expected",
               rec->seq, s->rd_next_seq);
      return DS_EIO;
    }
    break;
  }
  pthread_mutex_lock(&s->mu);
  s->rd_next_seq = rec->seq + 1;
  pthread_mutex_unlock(&s->mu);
  *got = true;
  return DS_OK;
}

void ingest_spool_stats(struct ingest_spool *s, struct ingest_spool_stats *out)
{
  pthread_mutex_lock(&s->mu);
  out->bytes = s->bytes;
  out->next_seq = s->next_seq;
  out->committed_seq = s->committed_seq;
  out->unsynced = s->next_seq - 1 - s->synced_seq;
  out->unsynced_max = s->unsynced_max;
  out->appended_bytes = s->appended_bytes;
  out->syncs = s->syncs;
  out->full_waits = s->full_waits;
  pthread_mutex_unlock(&s->mu);
}
