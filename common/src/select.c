/* Exact statistics of one axis over several passes in a fixed working set
 * (see ds/select.h). */
#include "ds/select.h"

#include <math.h>
#include <string.h>

#define SIGN ((uint64_t)1 << 63)

uint64_t ds_sel_key(double v)
{
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  if (u == SIGN) /* -0 sorts as +0 */
    u = 0;
  return (u & SIGN) ? ~u : u | SIGN;
}

double ds_sel_value(uint64_t key)
{
  uint64_t u = (key & SIGN) ? key & ~SIGN : ~key;
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

size_t ds_sel_bytes(size_t cap)
{
  return DS_SEL_BUCKETS * sizeof(uint64_t) + cap * sizeof(double);
}

void ds_sel_init(struct ds_sel *s, void *mem, size_t cap)
{
  *s = (struct ds_sel){
      .hist = mem,
      .cand = (double *)((uint64_t *)mem + DS_SEL_BUCKETS),
      .cap = cap,
      .mode = DS_SEL_FIRST,
      .hi = UINT64_MAX,
      .shift = 48,
  };
  ds_sum_init(&s->sum, 1.0);
}

void ds_sel_pass_begin(struct ds_sel *s)
{
  s->pass++;
  s->seen = 0;
  s->ncand = 0;
  if (s->mode == DS_SEL_FIRST || s->mode == DS_SEL_HIST)
    memset(s->hist, 0, DS_SEL_BUCKETS * sizeof *s->hist);
  if (s->scale_exp != 0)
    ds_sum_init(&s->scaled, ldexp(1.0, -s->scale_exp));
  s->edge_lo = 0;
  s->edge_hi = UINT64_MAX;
}

static void add_first(struct ds_sel *s, const double *v, size_t n)
{
  if (n == 0)
    return;
  double lo = s->seen == 0 ? v[0] : s->st.min, hi = s->seen == 0 ? v[0] : s->st.max;
  for (size_t i = 0; i < n; i++) {
    lo = v[i] < lo ? v[i] : lo;
    hi = v[i] > hi ? v[i] : hi;
    s->hist[ds_sel_key(v[i]) >> 48]++;
  }
  s->st.min = lo;
  s->st.max = hi;
  ds_sum_add(&s->sum, v, n);
  if (!s->overflow && n <= s->cap - s->ncand) {
    memcpy(s->cand + s->ncand, v, n * sizeof *v);
    s->ncand += n;
  } else {
    s->overflow = true;
  }
}

void ds_sel_add(struct ds_sel *s, const double *v, size_t n)
{
  if (s->scale_exp != 0 && s->pass > 1)
    ds_sum_add(&s->scaled, v, n);
  switch (s->mode) {
  case DS_SEL_FIRST:
    add_first(s, v, n);
    break;
  case DS_SEL_HIST:
    for (size_t i = 0; i < n; i++) {
      uint64_t k = ds_sel_key(v[i]);
      if (k >= s->lo && k <= s->hi)
        s->hist[(k - s->lo) >> s->shift]++;
    }
    break;
  case DS_SEL_COLLECT:
    for (size_t i = 0; i < n; i++) {
      uint64_t k = ds_sel_key(v[i]);
      if (k >= s->lo && k <= s->hi && s->ncand < s->cap)
        s->cand[s->ncand++] = v[i];
    }
    break;
  case DS_SEL_EDGES:
    for (size_t i = 0; i < n; i++) {
      uint64_t k = ds_sel_key(v[i]);
      if (k >= s->lo && k <= s->hi && k >= s->edge_lo)
        s->edge_lo = k;
      if (k >= s->lo2 && k <= s->hi2 && k <= s->edge_hi)
        s->edge_hi = k;
    }
    break;
  case DS_SEL_DONE:
    break;
  }
  s->seen += n;
}

/* The bucket of the histogram holding rank r (0-based, among the values
 * in [lo, hi]), and how many values lie in the buckets before it. */
static size_t bucket_of(const struct ds_sel *s, uint64_t r, uint64_t *before)
{
  uint64_t cum = 0;
  size_t b = 0;
  for (; b < DS_SEL_BUCKETS - 1; b++) {
    if (r < cum + s->hist[b])
      break;
    cum += s->hist[b];
  }
  *before = cum;
  return b;
}

/* Narrows [lo, hi] to the bucket holding the middle ranks and chooses the
 * next pass: done (the bucket is one key), collect (its values fit) or a
 * finer histogram.  When the two middle ranks of an even count fall in two
 * buckets, the lower middle is the largest value of the first and the
 * upper the smallest of the second: one more pass finds both. */
static void narrow(struct ds_sel *s)
{
  uint64_t blo_before, bhi_before;
  size_t blo = bucket_of(s, s->klo - s->below, &blo_before);
  size_t bhi = bucket_of(s, s->khi - s->below, &bhi_before);
  uint64_t width = (uint64_t)1 << s->shift; /* shift < 64 */
  /* Each bucket's keys; a bucket holding a value starts at or below s->hi,
   * and the last one may be cut by it. */
  uint64_t l1 = s->lo + (uint64_t)blo * width, l2 = s->lo + (uint64_t)bhi * width;
  uint64_t h1 = s->hi - l1 < width - 1 ? s->hi : l1 + (width - 1);
  uint64_t h2 = s->hi - l2 < width - 1 ? s->hi : l2 + (width - 1);
  s->below += blo_before;
  s->in = s->hist[blo];
  s->lo = l1;
  s->hi = h1;
  if (blo != bhi) {
    if (l1 == h1 && l2 == h2) {
      s->st.median = ds_mean2(ds_sel_value(l1), ds_sel_value(l2));
      s->mode = DS_SEL_DONE;
      return;
    }
    s->lo2 = l2;
    s->hi2 = h2;
    s->mode = DS_SEL_EDGES;
    return;
  }
  if (l1 == h1) {
    /* One key: every value there is the median. */
    s->st.median = ds_sel_value(l1);
    s->mode = DS_SEL_DONE;
    return;
  }
  if (s->in <= s->cap) {
    s->mode = DS_SEL_COLLECT;
    return;
  }
  /* The smallest shift that maps [lo, hi] into the buckets. */
  uint64_t span = h1 - l1;
  unsigned sh = 0;
  while ((span >> sh) >= DS_SEL_BUCKETS)
    sh++;
  s->shift = sh;
  s->mode = DS_SEL_HIST;
}

static void first_end(struct ds_sel *s)
{
  uint64_t n = s->seen;
  s->st.count = n;
  double sum = ds_sum_value(&s->sum);
  if (!s->overflow) {
    /* Every value is in cand, in read order: as ds_axis_compute. */
    ds_axis_compute(s->cand, s->ncand, &s->st);
    s->mode = DS_SEL_DONE;
    return;
  }
  s->st.sum = sum;
  if (!isfinite(sum))
    s->scale_exp = ds_sum_scale_exp(n);
  s->klo = (n - 1) / 2;
  s->khi = n / 2;
  narrow(s);
}

int ds_sel_pass_end(struct ds_sel *s)
{
  if (s->pass > 1 && s->seen != s->st.count)
    return DS_EINVAL;
  if (s->scale_exp != 0 && s->pass > 1) {
    s->st.sum = ldexp(ds_sum_value(&s->scaled), s->scale_exp);
    s->scale_exp = 0;
  }
  switch (s->mode) {
  case DS_SEL_FIRST:
    first_end(s);
    break;
  case DS_SEL_HIST:
    narrow(s);
    break;
  case DS_SEL_COLLECT: {
    if (s->ncand != s->in)
      return DS_EINVAL;
    uint64_t r = s->klo - s->below;
    double a = ds_select_kth(s->cand, s->ncand, (size_t)r);
    if (s->khi == s->klo) {
      s->st.median = a;
    } else {
      /* After the selection, cand[r+1..] >= a: the upper middle is their
       * minimum. */
      double b = s->cand[r + 1];
      for (size_t i = (size_t)r + 2; i < s->ncand; i++)
        b = s->cand[i] < b ? s->cand[i] : b;
      s->st.median = ds_mean2(a, b);
    }
    s->mode = DS_SEL_DONE;
    break;
  }
  case DS_SEL_EDGES:
    if (s->edge_lo < s->lo || s->edge_hi > s->hi2)
      return DS_EINVAL;
    s->st.median = ds_mean2(ds_sel_value(s->edge_lo), ds_sel_value(s->edge_hi));
    s->mode = DS_SEL_DONE;
    break;
  case DS_SEL_DONE:
    break;
  }
  return DS_OK;
}

bool ds_sel_done(const struct ds_sel *s)
{
  return s->mode == DS_SEL_DONE && s->scale_exp == 0;
}
