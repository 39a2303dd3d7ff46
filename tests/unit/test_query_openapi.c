/* The OpenAPI document (services/query/openapi.json, embedded in the
 * binary) and the routing table must agree: every route appears in the
 * document with its method, and every documented operation is routed.
 * The /docs page that renders it is embedded and self-contained. */
#include <ctype.h>
#include <json-c/json.h>
#include <string.h>

#include "ds_test.h"
#include "query_ops.h"
#include "query_http.h"
#include "query_routes.h"

static struct json_object *load(void)
{
  struct json_object *doc = json_tokener_parse((const char *)query_ops_openapi_json);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  CU_ASSERT_EQUAL(strlen((const char *)query_ops_openapi_json), query_ops_openapi_json_len);
  return doc;
}

static void lower(const char *in, char *out, size_t n)
{
  size_t i = 0;
  for (; in[i] != '\0' && i + 1 < n; i++)
    out[i] = (char)tolower((unsigned char)in[i]);
  out[i] = '\0';
}

static void test_header(void)
{
  struct json_object *doc = load(), *v = NULL;
  CU_ASSERT_FATAL(json_object_object_get_ex(doc, "openapi", &v));
  CU_ASSERT(strncmp(json_object_get_string(v), "3.", 2) == 0);
  CU_ASSERT(json_object_object_get_ex(doc, "info", NULL));
  json_object_put(doc);
}

static void test_routes_documented(void)
{
  struct json_object *doc = load(), *paths = NULL;
  CU_ASSERT_FATAL(json_object_object_get_ex(doc, "paths", &paths));
  for (size_t i = 0; i < query_routes_n; i++) {
    struct json_object *item = NULL, *op = NULL;
    char m[16];
    lower(query_routes[i].method, m, sizeof m);
    bool ok = json_object_object_get_ex(paths, query_routes[i].pattern, &item) &&
              json_object_object_get_ex(item, m, &op) &&
              json_object_object_get_ex(op, "responses", NULL);
    CU_ASSERT(ok);
    if (!ok)
      fprintf(stderr, "not documented: %s %s\n", query_routes[i].method, query_routes[i].pattern);
    /* Write routes declare the bearer token; read routes the optional
     * read token (API_READ_TOKEN) and its 401. */
    struct json_object *sec = NULL, *resp = NULL;
    if (ok && (query_routes[i].flags & QUERY_HTTP_ROUTE_WRITE))
      CU_ASSERT(json_object_object_get_ex(op, "security", NULL));
    if (ok && (query_routes[i].flags & QUERY_HTTP_ROUTE_READ)) {
      bool read_ok = json_object_object_get_ex(op, "security", &sec) &&
                     strstr(json_object_to_json_string(sec), "readBearer") != NULL &&
                     json_object_object_get_ex(op, "responses", &resp) &&
                     json_object_object_get_ex(resp, "401", NULL);
      CU_ASSERT(read_ok);
      if (!read_ok)
        fprintf(stderr, "read token not documented: %s %s\n", query_routes[i].method,
                query_routes[i].pattern);
    }
  }
  json_object_put(doc);
}

static void test_documented_routed(void)
{
  struct json_object *doc = load(), *paths = NULL;
  CU_ASSERT_FATAL(json_object_object_get_ex(doc, "paths", &paths));
  static const char *const methods[] = {"get", "put", "post", "delete", "patch", "head", "options"};
  json_object_object_foreach(paths, path, item)
  {
    for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++) {
      if (!json_object_object_get_ex(item, methods[k], NULL))
        continue;
      bool found = false;
      for (size_t i = 0; i < query_routes_n && !found; i++) {
        char m[16];
        lower(query_routes[i].method, m, sizeof m);
        found = strcmp(m, methods[k]) == 0 && strcmp(query_routes[i].pattern, path) == 0;
      }
      CU_ASSERT(found);
      if (!found)
        fprintf(stderr, "documented but not routed: %s %s\n", methods[k], path);
    }
  }
  json_object_put(doc);
}

/* The /docs page is embedded, reads /openapi.json and loads nothing from
 * elsewhere (users are often offline): no external scripts, styles or URLs. */
static void test_docs_page(void)
{
  const char *html = (const char *)query_ops_docs_html;
  CU_ASSERT_EQUAL(strlen(html), query_ops_docs_html_len);
  CU_ASSERT(strncmp(html, "<!DOCTYPE html>", 15) == 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(html, "devicestats-docs"));
  CU_ASSERT_PTR_NOT_NULL(strstr(html, "fetch(\"/openapi.json\")"));
  CU_ASSERT_PTR_NOT_NULL(strstr(html, "<a href=\"/\"")); /* the dashboard */
  CU_ASSERT_PTR_NULL(strstr(html, "http://"));
  CU_ASSERT_PTR_NULL(strstr(html, "https://"));
  CU_ASSERT_PTR_NULL(strstr(html, "src="));
  CU_ASSERT_PTR_NULL(strstr(html, "<link"));
  CU_ASSERT_PTR_NULL(strstr(html, "@import"));
}

static const struct ds_test_case tests[] = {
    {"document header", test_header},
    {"every route documented", test_routes_documented},
    {"every operation routed", test_documented_routed},
    {"docs page self-contained", test_docs_page},
    {NULL, NULL},
};

DS_TEST_MAIN("query_openapi", tests)
