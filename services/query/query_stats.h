/* The statistics routes (query_stats.c); rows of the routing table in
 * query_routes.c.  Each answers the statistics object of DESIGN.md. */
#ifndef QUERY_STATS_H
#define QUERY_STATS_H

#include "query_http.h"

/* GET /devices/{id}/data?start=&end= */
int query_stats_device_data(struct query_req *req);
/* GET /devices/{id}/data/all */
int query_stats_device_all(struct query_req *req);
/* GET /devices/{id}/series?start=&end=&interval= */
int query_stats_device_series(struct query_req *req);
/* GET /devices/{id}/stats: the latest recalculation snapshot */
int query_stats_device_snapshot(struct query_req *req);
/* GET /users/{uid}/data?start=&end=: the user's devices together and each */
int query_stats_user_data(struct query_req *req);

#endif
