/* The count check of a load run: every sample published was stored once.
 * Reads each device's sample count through GET /devices (paged from the
 * run's device prefix) before and after the run; per device, stored =
 * after - before.  lost = the sum of (published - stored) where positive,
 * doubled = the sum of (stored - published) where positive.  A device
 * both losing and doubling samples would hide inside one count: the
 * integration test's ingest tests check (device, ts) exactly; this check
 * is what a user can run against any deployment. */
#ifndef LOAD_CHECK_H
#define LOAD_CHECK_H

#include <stdint.h>

#include "load_args.h"
#include "load_report.h"

struct load_counts {
  int64_t *n; /* per device index; owned */
  long ndev;
};

/* Fetches every device's count (0 for a device not stored yet).  0, or -1
 * with the reason in err. */
int load_counts_fetch(const struct load_opts *o, struct load_counts *c, char *err, size_t errlen);
void load_counts_cleanup(struct load_counts *c);

/* Compares published (per device) with the counts now minus before,
 * fetching again every 500 ms until nothing is missing (then once more
 * after 1 s, for late duplicates) or settle_s passes.  Fills the count
 * check of rep (count_checked, cc_*, lost, doubled, stored).  0, or -1
 * with err set when the counts could not be read. */
int load_count_check(const struct load_opts *o, const struct load_counts *before,
                     const int64_t *published, double settle_s, struct load_report *rep, char *err,
                     size_t errlen);

/* The pure part: lost and doubled from the three arrays of n devices. */
void load_count_compare(const int64_t *before, const int64_t *after, const int64_t *published,
                        long n, long long *stored, long long *lost, long long *doubled);

#endif
