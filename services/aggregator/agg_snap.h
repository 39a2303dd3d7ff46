/* Snapshot math: the all-time statistics of a device's (or user's) samples,
 * and their exact text form as SQL parameters.  Pure. */
#ifndef AGG_SNAP_H
#define AGG_SNAP_H

#include "ds/stats.h"
#include "ds/store.h"

#define AGG_SNAP_NPARAMS 16

/* The 16 values of a snapshot row in column order: sample_count, then per
 * axis count, min, max, sum, median.  Doubles are in their shortest
 * round-trip form, so the database holds exactly what was computed.  With
 * no samples, min, max and median are SQL NULL (p[i] == NULL). */
struct agg_snap_params {
  char text[AGG_SNAP_NPARAMS][32];
  const char *p[AGG_SNAP_NPARAMS];
};

/* Statistics of every sample in v (reorders its arrays). */
void agg_snap_compute(struct ds_values *v, struct ds_stats *out);
/* Fills *sp from s. */
void agg_snap_params(const struct ds_stats *s, struct agg_snap_params *sp);

#endif
