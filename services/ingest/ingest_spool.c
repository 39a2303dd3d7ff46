/* Ingest's durable spool: its files, opening and recovery, the sync thread
 * (see ingest_spool.h and docs/ingest.md; appending in ingest_spool_append.c,
 * reading in ingest_spool_read.c, the record format in ingest_spool_rec.c). */
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

#include "ingest_spool_int.h"
#include "ingest_spool_rec.h"

/* ------------------------------------------------------------------ files */

int spool_seg_path(const struct ingest_spool *s, uint64_t first, char *out, size_t n)
{
  int k = snprintf(out, n, "%s/seg-%016" PRIx64 ".log", s->dir, first);
  return (k < 0 || (size_t)k >= n) ? DS_ERANGE : DS_OK;
}

void spool_sync_dir(const struct ingest_spool *s)
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
  spool_sync_dir(s);
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

/* Checks one segment at open: counts its records, fills in its last
 * sequence number and size, rebuilds the redelivery keys, and cuts off
 * whatever follows the last valid record. */
static int scan_segment(struct ingest_spool *s, struct seg *g, struct ingest_spool_info *info,
                        char err[DS_ERRLEN])
{
  char path[PATH_MAX_LEN];
  if (spool_seg_path(s, g->first_seq, path, sizeof path) != DS_OK) {
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
    int rc = spool_read_record(s, fd, off, end, &rec, &len);
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
          ingest_spool_rec_hash(rec.topic, rec.topic_len, rec.payload, rec.payload_len), rec.seq};
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
int spool_open_active(struct ingest_spool *s, uint64_t first, bool create, char err[DS_ERRLEN])
{
  char path[PATH_MAX_LEN];
  if (spool_seg_path(s, first, path, sizeof path) != DS_OK) {
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
      spool_sync_dir(s);
  }
  s->active_fd = fd;
  return DS_OK;
}

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
    if ((rc = spool_open_active(s, 1, true, err)) != DS_OK)
      goto fail;
  } else if ((rc = spool_open_active(s, s->segs[s->nsegs - 1].first_seq, false, err)) != DS_OK) {
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
