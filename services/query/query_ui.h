/* The dashboard's routes (query_ui.c): GET / (the page) and GET /ui/{file}
 * (its scripts and styles, uPlot among them), served from files embedded
 * at build time (ui_embed.cmake over web/), each also embedded gzipped.
 * Rows of the routing table in query_routes.c. */
#ifndef QUERY_UI_H
#define QUERY_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "query_http.h"

/* One embedded file (query_ui_data.c, generated). */
struct query_ui_asset {
  const char *name;         /* "/" for the page, else its name under /ui/ */
  const char *content_type; /* with charset for text */
  const unsigned char *data;
  size_t len;
  const unsigned char *gz; /* gzip -9 of data */
  size_t gz_len;
  const char *etag; /* quoted, from the SHA-256 of data: "\"0123abcd...\"" */
};

extern const struct query_ui_asset query_ui_assets[];
extern const size_t query_ui_assets_n;

int query_ui_page(struct query_http_req *req); /* GET / */
int query_ui_file(struct query_http_req *req); /* GET /ui/{file} */

/* Pure helpers, unit-tested. */
/* The asset called name ("/" or a file name), or NULL. */
const struct query_ui_asset *query_ui_find(const char *name);
/* Whether an Accept-Encoding value (NULL: absent) allows gzip: a "gzip" or
 * "*" coding whose q is not 0. */
bool query_ui_accepts_gzip(const char *accept_encoding);
/* Whether an If-None-Match value (NULL: absent) names etag (quoted), weakly
 * compared ("W/" ignored), or is "*". */
bool query_ui_etag_matches(const char *if_none_match, const char *etag);

#endif
