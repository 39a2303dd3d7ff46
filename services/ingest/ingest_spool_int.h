/* Inside the spool: its state and the helpers its three files share
 * (ingest_spool.c: files, open, recovery, sync thread; ingest_spool_append.c;
 * ingest_spool_read.c).  Nothing outside the spool includes this. */
#ifndef INGEST_SPOOL_INT_H
#define INGEST_SPOOL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ingest_spool.h"

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

/* Path of the segment whose first record is first. */
int spool_seg_path(const struct ingest_spool *s, uint64_t first, char *out, size_t n);
/* fsync of the spool's directory (after creating a file). */
void spool_sync_dir(const struct ingest_spool *s);
/* Opens a new active segment whose first record will be first. */
int spool_open_active(struct ingest_spool *s, uint64_t first, bool create, char err[DS_ERRLEN]);
/* Reads the record at offset off of fd (valid data ends at end) through the
 * read-ahead window: DS_OK, DS_ERANGE at the end, DS_EINVAL, DS_EIO. */
int spool_read_record(struct ingest_spool *s, int fd, uint64_t off, uint64_t end,
                      struct ingest_spool_rec *rec, size_t *len);
/* Deletes the non-active segments wholly at or below committed_seq (lock held). */
void spool_delete_committed(struct ingest_spool *s);
/* Closes the active segment and starts the next (lock held). */
int spool_rotate(struct ingest_spool *s, char err[DS_ERRLEN]);
/* CLOCK_REALTIME deadline wait_ms from now. */
void spool_abs_deadline(struct timespec *ts, int wait_ms);

#endif
