/* The routing table of devicestats-query: every HTTP route is one row.  The
 * unit test test_query_openapi checks it against openapi.json both ways. */
#include "query_routes.h"

#include "query_devices.h"
#include "query_http.h"
#include "query_ops.h"
#include "query_stats.h"
#include "query_tasks.h"
#include "query_ui.h"
#include "query_users.h"

const struct query_http_route query_routes[] = {
    {"GET", "/devices", query_devices_list, QUERY_HTTP_ROUTE_READ},
    {"GET", "/devices/{id}/data", query_stats_device_data, QUERY_HTTP_ROUTE_READ},
    {"POST", "/devices/{id}/data", query_devices_post, QUERY_HTTP_ROUTE_WRITE},
    {"GET", "/devices/{id}/data/all", query_stats_device_all, QUERY_HTTP_ROUTE_READ},
    {"GET", "/devices/{id}/series", query_stats_device_series, QUERY_HTTP_ROUTE_READ},
    {"GET", "/devices/{id}/stats", query_stats_device_snapshot, QUERY_HTTP_ROUTE_READ},
    {"POST", "/users", query_users_create, QUERY_HTTP_ROUTE_WRITE},
    {"PUT", "/users/{uid}/devices/{id}", query_users_assign_device, QUERY_HTTP_ROUTE_WRITE},
    {"GET", "/users/{uid}/data", query_stats_user_data, QUERY_HTTP_ROUTE_READ},
    {"POST", "/tasks/recalculate", query_tasks_recalculate, QUERY_HTTP_ROUTE_WRITE},
    {"GET", "/tasks", query_tasks_list, QUERY_HTTP_ROUTE_READ},
    {"GET", "/tasks/{task_id}", query_tasks_get, QUERY_HTTP_ROUTE_READ},
    {"GET", "/rejected", query_ops_rejected, QUERY_HTTP_ROUTE_READ},
    {"GET", "/health", query_ops_health, 0},
    {"GET", "/metrics", query_ops_metrics, 0},
    {"GET", "/openapi.json", query_ops_openapi, 0},
    {"GET", "/docs", query_ops_docs, 0},
    {"GET", "/", query_ui_page, 0},
    {"GET", "/ui/{file}", query_ui_file, 0},
};

const size_t query_routes_n = sizeof query_routes / sizeof query_routes[0];
