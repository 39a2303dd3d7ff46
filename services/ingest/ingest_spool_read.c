/* The spool's reader side: the writer's decoder thread reads records in
 * order through a read-ahead window; commits delete stored segments (see
 * ingest_spool.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest_spool_int.h"
#include "ingest_spool_rec.h"

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
int spool_read_record(struct ingest_spool *s, int fd, uint64_t off, uint64_t end,
                      struct ingest_spool_rec *rec, size_t *len)
{
  int rc = window(s, fd, off, INGEST_SPOOL_HEADER, end);
  if (rc != DS_OK)
    return rc == DS_ERANGE && off + INGEST_SPOOL_HEADER > end && off < end ? DS_EINVAL : rc;
  rc = ingest_spool_rec_decode(s->rd_buf + (off - s->win_off), INGEST_SPOOL_HEADER, rec, len);
  if (rc != DS_ERANGE)
    return rc;
  if (*len == 0 || *len > ((size_t)64 << 20))
    return DS_EINVAL;
  rc = window(s, fd, off, *len, end);
  if (rc != DS_OK)
    return rc == DS_ERANGE ? DS_EINVAL : rc;
  return ingest_spool_rec_decode(s->rd_buf + (off - s->win_off), *len, rec, len);
}

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
    (void)spool_rotate(s, err);
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
  spool_delete_committed(s);
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
    spool_abs_deadline(&until, wait_ms);
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
    if (spool_seg_path(s, first, path, sizeof path) != DS_OK ||
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
    int rc = spool_read_record(s, s->rd_fd, s->rd_off, end, rec, &len);
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
