/* The device routes (query_devices.c); rows of the routing table in
 * query_routes.c.  A device's statistics are in query_stats.h. */
#ifndef QUERY_DEVICES_H
#define QUERY_DEVICES_H

#include "query_http.h"

/* GET /devices[?limit=&after=]: {"devices": [...]} (and "next" when paged) */
int query_devices_list(struct query_http_req *req);
/* POST /devices/{id}/data (write route: the token was checked already):
 * the MQTT sample payload, validated and published to devices/{id}/data;
 * 202 {"accepted": N} */
int query_devices_post(struct query_http_req *req);

#endif
