/* Snapshot math and its SQL parameter form (see agg_snap.h).  The
 * statistics are the common library's, so a snapshot equals what the query
 * service answers for the same samples. */
#include "agg_snap.h"

#include <inttypes.h>
#include <stdio.h>

void agg_snap_compute(struct ds_values *v, struct ds_stats *out)
{
  ds_values_stats(v, out);
}

/* Writes one axis into sp->text[base .. base + 4].  (Indexing the struct,
 * not a pointer to one of its rows, keeps GCC's -O3 bounds analysis quiet.) */
static void axis_params(const struct ds_axis_stats *a, struct agg_snap_params *sp, int base)
{
  snprintf(sp->text[base], sizeof sp->text[base], "%" PRIu64, a->count);
  ds_double_format(a->min, sp->text[base + 1]);
  ds_double_format(a->max, sp->text[base + 2]);
  ds_double_format(a->sum, sp->text[base + 3]);
  ds_double_format(a->median, sp->text[base + 4]);
}

void agg_snap_params(const struct ds_stats *s, struct agg_snap_params *sp)
{
  snprintf(sp->text[0], 32, "%" PRIu64, s->count);
  axis_params(&s->x, sp, 1);
  axis_params(&s->y, sp, 6);
  axis_params(&s->z, sp, 11);
  for (int i = 0; i < AGG_SNAP_NPARAMS; i++)
    sp->p[i] = sp->text[i];
  if (s->count == 0) /* no samples: no min, max or median; the sum of nothing is 0 */
    for (int a = 0; a < 3; a++) {
      sp->p[a * 5 + 2] = NULL;
      sp->p[a * 5 + 3] = NULL;
      sp->p[a * 5 + 5] = NULL;
    }
}
