/* ingest_spool: records read back exactly as appended, across reopen; a
 * torn tail is cut off; commits delete whole segments; the bound holds
 * (and force passes it); redeliveries are recognised; one process per
 * spool; a database ahead of the spool never makes new records look
 * stored.  Real files in a temporary directory. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ds_test.h"
#include "ingest_spool.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
  snprintf(tmpdir, sizeof tmpdir, "%s/ds-spool-test.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
  DIR *d = opendir(tmpdir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(tmpdir);
}

static int count_segments(void)
{
  DIR *d = opendir(tmpdir);
  int n = 0;
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL)
    n += strncmp(e->d_name, "seg-", 4) == 0;
  if (d != NULL)
    closedir(d);
  return n;
}

static struct ingest_spool *open_spool(uint64_t max, uint64_t seg, struct ingest_spool_info *info)
{
  struct ingest_spool_opts o = {
      .dir = tmpdir, .max_bytes = max, .segment_bytes = seg, .sync_ms = -1};
  struct ingest_spool *s = NULL;
  char err[DS_ERRLEN];
  int rc = ingest_spool_open(&o, &s, info, err);
  if (rc != DS_OK)
    fprintf(stderr, "open: %s\n", err);
  CU_ASSERT_EQUAL(rc, DS_OK);
  return s;
}

static int append(struct ingest_spool *s, int i, bool force, uint64_t *seq)
{
  char topic[64], payload[64];
  snprintf(topic, sizeof topic, "devices/d%d/data", i % 7);
  snprintf(payload, sizeof payload, "{\"x\": %d, \"y\": 0, \"z\": 0}", i);
  struct ingest_spool_msg m = {.topic = topic,
                               .topic_len = strlen(topic),
                               .payload = payload,
                               .payload_len = strlen(payload),
                               .payload_size = strlen(payload),
                               .recv_us = 1000 + i,
                               .msgid = 1 + i % 65535,
                               .qos = 1,
                               .dup = false};
  char err[DS_ERRLEN];
  return ingest_spool_append(s, &m, 0, force, seq, err);
}

/* Reads every available record, checking each against what append(i)
 * wrote for i = seq - 1; returns how many. */
static int read_all(struct ingest_spool *s, uint64_t first_seq)
{
  int n = 0;
  for (;;) {
    struct ingest_spool_rec r;
    bool got = false;
    char err[DS_ERRLEN];
    CU_ASSERT_EQUAL_FATAL(ingest_spool_next(s, 0, &r, &got, err), DS_OK);
    if (!got)
      return n;
    CU_ASSERT_EQUAL(r.seq, first_seq + (uint64_t)n);
    int i = (int)r.seq - 1;
    char payload[64];
    snprintf(payload, sizeof payload, "{\"x\": %d, \"y\": 0, \"z\": 0}", i);
    CU_ASSERT_EQUAL(r.payload_len, strlen(payload));
    CU_ASSERT_EQUAL(memcmp(r.payload, payload, r.payload_len), 0);
    CU_ASSERT_EQUAL(r.recv_us, 1000 + i);
    CU_ASSERT_EQUAL(r.msgid, 1 + i % 65535);
    n++;
  }
}

static void test_roundtrip_and_reopen(void)
{
  make_tmpdir();
  struct ingest_spool_info info;
  struct ingest_spool *s = open_spool(1 << 20, 4096, &info);
  CU_ASSERT_TRUE(info.created);
  char id[INGEST_SPOOL_ID_LEN + 1];
  snprintf(id, sizeof id, "%s", ingest_spool_id(s));
  uint64_t seq = 0;
  for (int i = 0; i < 300; i++) {
    CU_ASSERT_EQUAL(append(s, i, false, &seq), DS_OK);
    CU_ASSERT_EQUAL(seq, (uint64_t)i + 1);
  }
  CU_ASSERT_EQUAL(read_all(s, 1), 300);
  CU_ASSERT_TRUE(count_segments() > 2); /* 4 KiB segments rotate */
  ingest_spool_close(s);

  /* Reopened: same id, every record still there, numbering goes on. */
  s = open_spool(1 << 20, 4096, &info);
  CU_ASSERT_FALSE(info.created);
  CU_ASSERT_STRING_EQUAL(ingest_spool_id(s), id);
  CU_ASSERT_EQUAL(info.records, 300);
  CU_ASSERT_EQUAL(info.next_seq, 301);
  CU_ASSERT_EQUAL(info.torn_bytes, 0);
  ingest_spool_commit(s, 120); /* the database holds 1..120 */
  CU_ASSERT_EQUAL(read_all(s, 121), 180);
  CU_ASSERT_EQUAL(append(s, 300, false, &seq), DS_OK);
  CU_ASSERT_EQUAL(seq, 301);
  CU_ASSERT_EQUAL(read_all(s, 301), 1);
  ingest_spool_close(s);
  remove_tmpdir();
}

/* The last record half-written (a power cut): cut off at open, and the
 * numbering goes on from the last whole record. */
static void test_torn_tail(void)
{
  make_tmpdir();
  struct ingest_spool_info info;
  struct ingest_spool *s = open_spool(1 << 20, 1 << 20, &info);
  uint64_t seq;
  for (int i = 0; i < 10; i++)
    CU_ASSERT_EQUAL(append(s, i, false, &seq), DS_OK);
  ingest_spool_close(s);
  char path[512];
  snprintf(path, sizeof path, "%s/seg-%016x.log", tmpdir, 1);
  struct stat st;
  CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
  CU_ASSERT_EQUAL(truncate(path, st.st_size - 5), 0);
  s = open_spool(1 << 20, 1 << 20, &info);
  CU_ASSERT_EQUAL(info.records, 9);
  CU_ASSERT_TRUE(info.torn_bytes > 0);
  CU_ASSERT_EQUAL(info.next_seq, 10);
  CU_ASSERT_EQUAL(read_all(s, 1), 9);
  CU_ASSERT_EQUAL(append(s, 9, false, &seq), DS_OK);
  CU_ASSERT_EQUAL(seq, 10);
  CU_ASSERT_EQUAL(read_all(s, 10), 1);
  ingest_spool_close(s);

  /* A flipped byte in the middle fails the CRC: the rest is cut too. */
  int fd = open(path, O_RDWR);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(pwrite(fd, "#", 1, 60), 1);
  close(fd);
  s = open_spool(1 << 20, 1 << 20, &info);
  CU_ASSERT_EQUAL(info.records, 0);
  CU_ASSERT_EQUAL(info.next_seq, 1);
  ingest_spool_close(s);
  remove_tmpdir();
}

/* At the bound an append waits and fails (the caller keeps the message
 * unacknowledged); a commit frees whole segments; force passes. */
static void test_bound_and_commit(void)
{
  make_tmpdir();
  struct ingest_spool_info info;
  struct ingest_spool *s = open_spool(8192, 2048, &info);
  uint64_t seq = 0;
  int n = 0;
  while (append(s, n, false, &seq) == DS_OK)
    n++;
  CU_ASSERT_TRUE(n > 50 && n < 200);
  struct ingest_spool_stats st;
  ingest_spool_stats(s, &st);
  CU_ASSERT_TRUE(st.bytes <= 8192);
  CU_ASSERT_EQUAL(append(s, n, true, &seq), DS_OK); /* force: past the bound */
  n++;
  int segs = count_segments();
  CU_ASSERT_EQUAL(read_all(s, 1), n);
  ingest_spool_commit(s, (uint64_t)n - 1);
  CU_ASSERT_TRUE(count_segments() < segs);
  CU_ASSERT_EQUAL(append(s, n, false, &seq), DS_OK);
  /* Everything stored: the active segment is replaced, not kept. */
  ingest_spool_commit(s, seq);
  for (int i = 0; i < 200; i++) {
    CU_ASSERT_EQUAL_FATAL(append(s, n + 1 + i, false, &seq), DS_OK);
    ingest_spool_commit(s, seq);
  }
  ingest_spool_stats(s, &st);
  CU_ASSERT_TRUE(st.bytes <= 8192);
  ingest_spool_close(s);
  remove_tmpdir();
}

static void test_redelivery(void)
{
  make_tmpdir();
  struct ingest_spool_info info;
  struct ingest_spool *s = open_spool(1 << 20, 1 << 20, &info);
  uint64_t seq;
  struct ingest_spool_msg m = {.topic = "devices/a/data",
                               .topic_len = 14,
                               .payload = "{\"x\":1,\"y\":2,\"z\":3}",
                               .payload_len = 19,
                               .payload_size = 19,
                               .msgid = 77,
                               .qos = 1};
  char err[DS_ERRLEN];
  CU_ASSERT_FALSE(ingest_spool_is_redelivery(s, &m));
  CU_ASSERT_EQUAL(ingest_spool_append(s, &m, 0, false, &seq, err), DS_OK);
  CU_ASSERT_FALSE(ingest_spool_is_redelivery(s, &m)); /* DUP not set */
  m.dup = true;
  CU_ASSERT_TRUE(ingest_spool_is_redelivery(s, &m));
  struct ingest_spool_msg other = m;
  other.msgid = 78;
  CU_ASSERT_FALSE(ingest_spool_is_redelivery(s, &other));
  other = m;
  other.payload = "{\"x\":1,\"y\":2,\"z\":4}";
  CU_ASSERT_FALSE(ingest_spool_is_redelivery(s, &other));
  ingest_spool_close(s);
  /* Known again after a restart (rebuilt from the records). */
  s = open_spool(1 << 20, 1 << 20, &info);
  CU_ASSERT_TRUE(ingest_spool_is_redelivery(s, &m));
  ingest_spool_close(s);
  remove_tmpdir();
}

static void test_lock(void)
{
  make_tmpdir();
  struct ingest_spool_info info;
  struct ingest_spool *s = open_spool(1 << 20, 1 << 20, &info);
  struct ingest_spool_opts o = {
      .dir = tmpdir, .max_bytes = 1 << 20, .segment_bytes = 1 << 20, .sync_ms = -1};
  struct ingest_spool *t = NULL;
  char err[DS_ERRLEN];
  CU_ASSERT_EQUAL(ingest_spool_open(&o, &t, &info, err), DS_ECONFLICT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use"));
  ingest_spool_close(s);
  remove_tmpdir();
}

/* The database says 500 are stored but the spool holds only 3 (its tail
 * was lost): new records are numbered after 500. */
static void test_database_ahead(void)
{
  make_tmpdir();
  struct ingest_spool_info info;
  struct ingest_spool *s = open_spool(1 << 20, 1 << 20, &info);
  uint64_t seq;
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(append(s, i, false, &seq), DS_OK);
  ingest_spool_commit(s, 500);
  CU_ASSERT_EQUAL(append(s, 500, false, &seq), DS_OK);
  CU_ASSERT_EQUAL(seq, 501);
  CU_ASSERT_EQUAL(read_all(s, 501), 1);
  ingest_spool_close(s);
  s = open_spool(1 << 20, 1 << 20, &info);
  CU_ASSERT_EQUAL(info.next_seq, 502);
  ingest_spool_close(s);
  remove_tmpdir();
}

/* A write that fails (here: the file-size limit, as a full disk would)
 * returns DS_EIO and leaves no part of the record behind: everything
 * appended before it reads back whole after a reopen. */
static void test_write_failure(void)
{
  make_tmpdir();
  struct ingest_spool_info info;
  struct ingest_spool *s = open_spool(1 << 20, 1 << 20, &info);
  struct rlimit old;
  CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = {4000, old.rlim_max};
  CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
  uint64_t seq = 0;
  int n = 0, rc;
  while ((rc = append(s, n, false, &seq)) == DS_OK)
    n++;
  CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  CU_ASSERT_EQUAL(rc, DS_EIO);
  CU_ASSERT_TRUE(n > 10 && n < 100);
  /* The limit gone, appending goes on where it stopped. */
  CU_ASSERT_EQUAL(append(s, n, false, &seq), DS_OK);
  CU_ASSERT_EQUAL(seq, (uint64_t)n + 1);
  ingest_spool_close(s);
  s = open_spool(1 << 20, 1 << 20, &info);
  CU_ASSERT_EQUAL(info.records, (uint64_t)n + 1);
  CU_ASSERT_EQUAL(info.torn_bytes, 0);
  CU_ASSERT_EQUAL(read_all(s, 1), n + 1);
  ingest_spool_close(s);
  remove_tmpdir();
}

static const struct ds_test_case cases[] = {
    {"a failed write leaves nothing behind", test_write_failure},
    {"round trip and reopen", test_roundtrip_and_reopen},
    {"torn tail", test_torn_tail},
    {"bound and commit", test_bound_and_commit},
    {"redelivery", test_redelivery},
    {"one process per spool", test_lock},
    {"database ahead of the spool", test_database_ahead},
    {NULL, NULL},
};

DS_TEST_MAIN("ingest_spool", cases)
