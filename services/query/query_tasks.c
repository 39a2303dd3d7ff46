/* Placeholder for the aggregator issue's routes (snapshots and tasks): every
 * one answers 501 until the aggregator engineer replaces this file. */
#include "query_tasks.h"

int qt_device_stats(struct q_req *req)
{
  return q_error(req, 501, "not_implemented", "GET /devices/{id}/stats is not implemented yet");
}

int qt_recalculate(struct q_req *req)
{
  return q_error(req, 501, "not_implemented", "POST /tasks/recalculate is not implemented yet");
}

int qt_task_get(struct q_req *req)
{
  return q_error(req, 501, "not_implemented", "GET /tasks/{task_id} is not implemented yet");
}
