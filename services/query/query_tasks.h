/* The recalculation task routes (query_tasks.c); rows of the routing table
 * in query_routes.c.  The latest recalculation snapshot of a device, GET
 * /devices/{id}/stats, is a statistics route: query_stats.h. */
#ifndef QUERY_TASKS_H
#define QUERY_TASKS_H

#include "query_http.h"

/* POST /tasks/recalculate (write route: the token was checked already) */
int query_tasks_recalculate(struct query_http_req *req);
/* GET /tasks/{task_id} */
int query_tasks_get(struct query_http_req *req);
/* GET /tasks?limit=N (1-100, default 20): {"tasks": [...]}, the latest
 * recorded first, each as GET /tasks/{task_id} answers it.  Not in
 * DESIGN.md's table: added for the dashboard's recent tasks. */
int query_tasks_list(struct query_http_req *req);

#endif
