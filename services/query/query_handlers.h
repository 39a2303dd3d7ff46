/* The query service's own route handlers (the aggregator's are in
 * query_tasks.h); each is one row of the routing table in query_routes.c. */
#ifndef Q_HANDLERS_H
#define Q_HANDLERS_H

#include "query_http.h"

/* query_stats.c: statistics over samples */
int q_h_device_data(struct q_req *req);   /* GET /devices/{id}/data */
int q_h_device_all(struct q_req *req);    /* GET /devices/{id}/data/all */
int q_h_device_series(struct q_req *req); /* GET /devices/{id}/series */
int q_h_user_data(struct q_req *req);     /* GET /users/{uid}/data */

/* query_admin.c: devices, users, ingest over HTTP, operations */
int q_h_devices(struct q_req *req);     /* GET /devices */
int q_h_device_post(struct q_req *req); /* POST /devices/{id}/data */
int q_h_user_create(struct q_req *req); /* POST /users */
int q_h_user_device(struct q_req *req); /* PUT /users/{uid}/devices/{id} */
int q_h_rejected(struct q_req *req);    /* GET /rejected */
int q_h_health(struct q_req *req);      /* GET /health */
int q_h_metrics(struct q_req *req);     /* GET /metrics */
int q_h_openapi(struct q_req *req);     /* GET /openapi.json */
int q_h_docs(struct q_req *req);        /* GET /docs */

/* The OpenAPI document, embedded at build time (query_openapi_data.c). */
extern const unsigned char q_openapi_json[];
extern const size_t q_openapi_json_len;
/* The page behind GET /docs (docs.html, embedded like the document). */
extern const unsigned char q_docs_html[];
extern const size_t q_docs_html_len;

#endif
