/* The operations routes (query_ops.c); rows of the routing table in
 * query_routes.c. */
#ifndef QUERY_OPS_H
#define QUERY_OPS_H

#include <stddef.h>

#include "query_http.h"

int query_ops_rejected(struct query_http_req *req); /* GET /rejected?limit= */
int query_ops_health(struct query_http_req *req);   /* GET /health */
int query_ops_metrics(struct query_http_req *req);  /* GET /metrics */
int query_ops_openapi(struct query_http_req *req);  /* GET /openapi.json */
int query_ops_docs(struct query_http_req *req);     /* GET /docs */

/* The OpenAPI document, embedded at build time (query_openapi_data.c). */
extern const unsigned char query_ops_openapi_json[];
extern const size_t query_ops_openapi_json_len;
/* The page behind GET /docs (docs.html, embedded like the document). */
extern const unsigned char query_ops_docs_html[];
extern const size_t query_ops_docs_html_len;

#endif
