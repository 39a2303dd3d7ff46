/* The user routes (query_users.c); rows of the routing table in
 * query_routes.c.  A user's statistics (GET /users/{uid}/data) are in
 * query_stats.h. */
#ifndef QUERY_USERS_H
#define QUERY_USERS_H

#include "query_http.h"

/* POST /users {"name": "..."}: 201 {"id": N, "name": "..."} */
int query_users_create(struct query_http_req *req);
/* PUT /users/{uid}/devices/{id}: the device now belongs to the user */
int query_users_assign_device(struct query_http_req *req);

#endif
