/* The spool's appender side: the message callback appends records, waits
 * for room at the bound, rotates segments (see ingest_spool.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ingest_spool_int.h"
#include "ingest_spool_rec.h"

bool ingest_spool_is_redelivery(struct ingest_spool *s, const struct ingest_spool_msg *m)
{
  if (!m->dup || m->qos == 0 || m->msgid <= 0 || m->msgid >= NMSGID)
    return false;
  uint64_t h = ingest_spool_rec_hash(m->topic, m->topic_len, m->payload, m->payload_len);
  pthread_mutex_lock(&s->mu);
  bool same = s->keys[m->msgid].hash == h;
  pthread_mutex_unlock(&s->mu);
  return same;
}

/* Deletes the non-active segments wholly at or below committed_seq.
 * Called with the lock held. */
void spool_delete_committed(struct ingest_spool *s)
{
  size_t drop = 0;
  while (drop + 1 < s->nsegs && s->segs[drop].last_seq <= s->committed_seq) {
    char path[PATH_MAX_LEN];
    if (spool_seg_path(s, s->segs[drop].first_seq, path, sizeof path) == DS_OK)
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
int spool_rotate(struct ingest_spool *s, char err[DS_ERRLEN])
{
  if (s->sync_ms >= 0 && s->synced_seq + 1 < s->next_seq) {
    if (fdatasync(s->active_fd) == 0)
      s->synced_seq = s->next_seq - 1;
    s->syncs++;
  }
  close(s->active_fd);
  s->active_fd = -1;
  int rc = spool_open_active(s, s->next_seq, true, err);
  if (rc != DS_OK) {
    /* Keep appending to the old segment rather than stop. */
    char path[PATH_MAX_LEN];
    if (spool_seg_path(s, s->segs[s->nsegs - 1].first_seq, path, sizeof path) == DS_OK)
      s->active_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    return s->active_fd >= 0 ? DS_OK : rc;
  }
  spool_delete_committed(s);
  return DS_OK;
}

void spool_abs_deadline(struct timespec *ts, int wait_ms)
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
  spool_abs_deadline(&until, wait_ms);
  while (!force && s->bytes + len > s->max_bytes) {
    struct seg *act = &s->segs[s->nsegs - 1];
    /* Everything written is stored: a fresh segment frees the old one. */
    if (s->committed_seq + 1 >= s->next_seq && act->bytes > 0) {
      if (spool_rotate(s, err) != DS_OK)
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
    if (spool_rotate(s, rerr) != DS_OK) {
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
  ingest_spool_rec_encode(h, m, my_seq, keep);
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
  /* The redelivery key, hashed outside the lock. */
  uint64_t key = m->qos > 0 && m->msgid > 0 && m->msgid < NMSGID
                     ? ingest_spool_rec_hash(m->topic, m->topic_len, m->payload, keep)
                     : 0;
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
  if (key != 0)
    s->keys[m->msgid] = (struct redelivery_key){key, my_seq};
  pthread_cond_signal(&s->appended);
  pthread_mutex_unlock(&s->mu);
  *seq = my_seq;
  return DS_OK;
}
