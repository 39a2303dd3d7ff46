/* The statistics routes (query_stats.c); rows of the routing table in
 * query_routes.c.  Each answers the statistics object of DESIGN.md. */
#ifndef QUERY_STATS_H
#define QUERY_STATS_H

#include <stdint.h>

#include "ds/jsonw.h"
#include "ds/stats.h"
#include "query_http.h"

/* The statistics object of DESIGN.md as one value of w: key_name (NULL:
 * none) with key_value, then start, end (RFC 3339 or null for
 * DS_TIME_NONE), count, x, y, z; each axis {"count", "min", "max", "sum",
 * "median"}, min, max and median null without values, non-finite numbers
 * null.  _members writes the same members into an object the caller has
 * opened (so it can add its own). */
void query_stats_write(struct ds_jsonw *w, const char *key_name, const char *key_value,
                       int64_t start_us, int64_t end_us, const struct ds_stats *s);
void query_stats_write_members(struct ds_jsonw *w, const char *key_name, const char *key_value,
                               int64_t start_us, int64_t end_us, const struct ds_stats *s);

/* GET /devices/{id}/data?start=&end= */
int query_stats_device_data(struct query_http_req *req);
/* GET /devices/{id}/data/all */
int query_stats_device_all(struct query_http_req *req);
/* GET /devices/{id}/series?start=&end=&interval= */
int query_stats_device_series(struct query_http_req *req);
/* GET /devices/{id}/stats: the latest recalculation snapshot */
int query_stats_device_snapshot(struct query_http_req *req);
/* GET /users/{uid}/data?start=&end=: the user's devices together and each */
int query_stats_user_data(struct query_http_req *req);

#endif
