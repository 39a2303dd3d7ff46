/* Handlers of the routes the aggregator issue owns: the latest
 * recalculation snapshot and the recalculation tasks.  They are rows of the
 * routing table in query_routes.c; see query_http.h for struct q_req. */
#ifndef Q_TASKS_H
#define Q_TASKS_H

#include "query_http.h"

/* GET /devices/{id}/stats */
int qt_device_stats(struct q_req *req);
/* POST /tasks/recalculate (write route: the token was checked already) */
int qt_recalculate(struct q_req *req);
/* GET /tasks/{task_id} */
int qt_task_get(struct q_req *req);

#endif
