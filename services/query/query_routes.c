/* The routing table of devicestats-query: every HTTP route is one row.  The
 * unit test test_query_openapi checks it against openapi.json both ways. */
#include "query_handlers.h"
#include "query_http.h"
#include "query_tasks.h"

const struct q_route q_routes[] = {
    {"GET", "/devices", q_h_devices, 0},
    {"GET", "/devices/{id}/data", q_h_device_data, 0},
    {"POST", "/devices/{id}/data", q_h_device_post, Q_ROUTE_WRITE},
    {"GET", "/devices/{id}/data/all", q_h_device_all, 0},
    {"GET", "/devices/{id}/series", q_h_device_series, 0},
    {"GET", "/devices/{id}/stats", qt_device_stats, 0},
    {"POST", "/users", q_h_user_create, Q_ROUTE_WRITE},
    {"PUT", "/users/{uid}/devices/{id}", q_h_user_device, Q_ROUTE_WRITE},
    {"GET", "/users/{uid}/data", q_h_user_data, 0},
    {"POST", "/tasks/recalculate", qt_recalculate, Q_ROUTE_WRITE},
    {"GET", "/tasks/{task_id}", qt_task_get, 0},
    {"GET", "/rejected", q_h_rejected, 0},
    {"GET", "/health", q_h_health, 0},
    {"GET", "/metrics", q_h_metrics, 0},
    {"GET", "/openapi.json", q_h_openapi, 0},
    {"GET", "/docs", q_h_docs, 0},
};

const size_t q_routes_n = sizeof q_routes / sizeof q_routes[0];
