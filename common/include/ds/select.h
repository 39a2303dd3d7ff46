/* One axis's statistics (count, min, max, sum, exact median) over more
 * values than fit in memory, in a fixed working set, by reading the values
 * several times (each pass must see the same values in the same order).
 *
 * Pass 1 takes the count, min, max and the compensated sum, a histogram of
 * the values' order keys (the top 16 bits of a key that sorts as the
 * doubles do) and, while they fit, the values themselves: when all fit,
 * the statistics are those of ds_axis_compute, done in one pass.  Else the
 * median's one or two middle ranks lie in one bucket (or two adjacent
 * ones); each further pass either histograms that key interval again,
 * 65,536 times finer, or, once its values fit, collects them and selects
 * the middle ones exactly.  Typical data takes 2 or 3 passes; no data takes
 * more than 6 (64 bits of key, at least 15 more per pass).
 *
 * The results are bit for bit those of ds_axis_compute over the values in
 * the order they were read (the sum is accumulated in read order; an
 * overflowing sum is redone, scaled, in the next pass). */
#ifndef DS_SELECT_H
#define DS_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds/err.h"
#include "ds/stats.h"

#define DS_SEL_BUCKETS 65536

struct ds_sel {
  /* in the caller's memory (ds_sel_init) */
  uint64_t *hist; /* DS_SEL_BUCKETS */
  double *cand;
  size_t cap, ncand;
  int pass; /* 1 for the first */
  enum { DS_SEL_FIRST, DS_SEL_HIST, DS_SEL_COLLECT, DS_SEL_EDGES, DS_SEL_DONE } mode;
  bool overflow;   /* pass 1: not every value fit in cand */
  uint64_t seen;   /* values added in this pass */
  uint64_t lo, hi; /* the key interval holding the middle ranks */
  uint64_t below;  /* values with a key below lo */
  uint64_t in;     /* values with a key in [lo, hi] */
  /* DS_SEL_EDGES: the upper middle's bucket ([lo, hi] holds the lower's),
   * and the largest key in [lo, hi], the smallest in [lo2, hi2] */
  uint64_t lo2, hi2, edge_lo, edge_hi;
  unsigned shift;    /* histogram bucket: (key - lo) >> shift */
  uint64_t klo, khi; /* the middle ranks (0-based) */
  struct ds_sum sum, scaled;
  int scale_exp; /* != 0: the sum overflowed; scaled is being taken */
  struct ds_axis_stats st;
};

/* Bytes of working memory for cap collected values (cap >= 1). */
size_t ds_sel_bytes(size_t cap);
/* Starts s in mem (ds_sel_bytes(cap) bytes, aligned for uint64_t, the
 * caller's until done). */
void ds_sel_init(struct ds_sel *s, void *mem, size_t cap);
/* Before each pass. */
void ds_sel_pass_begin(struct ds_sel *s);
/* The next n values of the pass, in the same order every pass. */
void ds_sel_add(struct ds_sel *s, const double *v, size_t n);
/* After each pass: DS_OK, then ds_sel_done says whether the statistics
 * are in s->st; DS_EINVAL when a pass saw other values than the first
 * (the source changed between passes). */
DS_MUSTCHECK int ds_sel_pass_end(struct ds_sel *s);
bool ds_sel_done(const struct ds_sel *s);

/* The order key of a double: keys compare as the values do (-0 as +0). */
uint64_t ds_sel_key(double v);
double ds_sel_value(uint64_t key);

#endif
