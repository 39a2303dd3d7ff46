/* The routing table of devicestats-query (query_routes.c): every HTTP
 * route is one row, method + pattern -> handler, the handler in the file of
 * its resource.  The server dispatches through it, the metrics count by its
 * rows, and test_query_openapi checks it against openapi.json. */
#ifndef QUERY_ROUTES_H
#define QUERY_ROUTES_H

#include <stddef.h>

#include "query_http.h"

extern const struct query_http_route query_routes[];
extern const size_t query_routes_n;

#endif
