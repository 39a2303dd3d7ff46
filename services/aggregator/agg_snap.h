/* Snapshot math: the all-time statistics of a device's (or user's) samples,
 * and their exact text form as SQL parameters.  Pure. */
#ifndef AGG_SNAP_H
#define AGG_SNAP_H

#include "ds/stats.h"
#include "ds/store.h"

#define AGG_SNAP_NPARAMS 16

/* The snapshot tables' statistics columns, in agg_snap_params order, and
 * their ON CONFLICT update (device_snapshots and user_snapshots). */
#define AGG_SNAP_COLS                                                                              \
  "sample_count, x_count, x_min, x_max, x_sum, x_median, y_count, y_min, y_max, y_sum, y_median,"  \
  " z_count, z_min, z_max, z_sum, z_median"
#define AGG_SNAP_SET                                                                               \
  "request_id = EXCLUDED.request_id, computed_at = EXCLUDED.computed_at,"                          \
  " last_ts = EXCLUDED.last_ts, sample_count = EXCLUDED.sample_count,"                             \
  " x_count = EXCLUDED.x_count, x_min = EXCLUDED.x_min, x_max = EXCLUDED.x_max,"                   \
  " x_sum = EXCLUDED.x_sum, x_median = EXCLUDED.x_median,"                                         \
  " y_count = EXCLUDED.y_count, y_min = EXCLUDED.y_min, y_max = EXCLUDED.y_max,"                   \
  " y_sum = EXCLUDED.y_sum, y_median = EXCLUDED.y_median,"                                         \
  " z_count = EXCLUDED.z_count, z_min = EXCLUDED.z_min, z_max = EXCLUDED.z_max,"                   \
  " z_sum = EXCLUDED.z_sum, z_median = EXCLUDED.z_median"

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
