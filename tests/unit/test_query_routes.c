/* Tests for the query service's routing (query_http.c) over the real
 * routing table: every route matches itself, path parameters, 404 and 405
 * with the Allow list, and error bodies. */
#include <string.h>

#include "ds/buf.h"
#include "ds_test.h"
#include "query_http.h"
#include "query_routes.h"

struct route_case {
  const char *method, *path;
  int expect;          /* > 0: a route with this pattern must match; -404/-405 */
  const char *pattern; /* expected pattern when matched */
  const char *p1, *v1; /* one expected path parameter */
  const char *p2, *v2;
};

static const struct route_case cases[] = {
    {"GET", "/devices", 1, "/devices", NULL, NULL, NULL, NULL},
    {"GET", "/devices/dev-7/data", 1, "/devices/{id}/data", "id", "dev-7", NULL, NULL},
    {"POST", "/devices/dev-7/data", 1, "/devices/{id}/data", "id", "dev-7", NULL, NULL},
    {"GET", "/devices/a.b_c/data/all", 1, "/devices/{id}/data/all", "id", "a.b_c", NULL, NULL},
    {"GET", "/devices/x/series", 1, "/devices/{id}/series", "id", "x", NULL, NULL},
    {"GET", "/devices/x/stats", 1, "/devices/{id}/stats", "id", "x", NULL, NULL},
    {"POST", "/users", 1, "/users", NULL, NULL, NULL, NULL},
    {"PUT", "/users/3/devices/dev-7", 1, "/users/{uid}/devices/{id}", "uid", "3", "id", "dev-7"},
    {"GET", "/users/3/data", 1, "/users/{uid}/data", "uid", "3", NULL, NULL},
    {"POST", "/tasks/recalculate", 1, "/tasks/recalculate", NULL, NULL, NULL, NULL},
    {"GET", "/tasks/abc", 1, "/tasks/{task_id}", "task_id", "abc", NULL, NULL},
    {"GET", "/rejected", 1, "/rejected", NULL, NULL, NULL, NULL},
    {"GET", "/health", 1, "/health", NULL, NULL, NULL, NULL},
    {"GET", "/metrics", 1, "/metrics", NULL, NULL, NULL, NULL},
    {"GET", "/openapi.json", 1, "/openapi.json", NULL, NULL, NULL, NULL},
    {"GET", "/", 1, "/", NULL, NULL, NULL, NULL},
    {"GET", "/ui/app.js", 1, "/ui/{file}", "file", "app.js", NULL, NULL},
    /* not found */
    {"GET", "/ui/", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/ui/a/b", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/devices/", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/devices//data", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/devices/x/data/", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/devices/x/data/all/more", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/devicesx", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/DEVICES", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "//devices", -404, NULL, NULL, NULL, NULL, NULL},
    {"GET", "devices", -404, NULL, NULL, NULL, NULL, NULL},
    /* wrong method */
    {"DELETE", "/devices", -405, NULL, NULL, NULL, NULL, NULL},
    {"PUT", "/devices/x/data", -405, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/users", -405, NULL, NULL, NULL, NULL, NULL},
    {"POST", "/health", -405, NULL, NULL, NULL, NULL, NULL},
    {"HEAD", "/metrics", -405, NULL, NULL, NULL, NULL, NULL},
    {"POST", "/", -405, NULL, NULL, NULL, NULL, NULL},
    {"GET", "/users/1/devices/x", -405, NULL, NULL, NULL, NULL, NULL},
};

static void test_table(void)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct route_case *c = &cases[i];
    struct query_http_req req;
    memset(&req, 0, sizeof req);
    char allow[64];
    int r = query_http_route_match(query_routes, query_routes_n, c->method, c->path, &req, allow,
                                   sizeof allow);
    if (c->expect < 0) {
      CU_ASSERT_EQUAL(r, c->expect);
      if (r != c->expect)
        fprintf(stderr, "case %zu %s %s: got %d\n", i, c->method, c->path, r);
      continue;
    }
    CU_ASSERT_FATAL(r >= 0);
    CU_ASSERT_STRING_EQUAL(query_routes[r].pattern, c->pattern);
    CU_ASSERT_STRING_EQUAL(query_routes[r].method, c->method);
    CU_ASSERT_STRING_EQUAL(req.route, c->pattern);
    if (c->p1 != NULL) {
      CU_ASSERT_PTR_NOT_NULL_FATAL(query_http_path_param(&req, c->p1));
      CU_ASSERT_STRING_EQUAL(query_http_path_param(&req, c->p1), c->v1);
    }
    if (c->p2 != NULL) {
      CU_ASSERT_PTR_NOT_NULL_FATAL(query_http_path_param(&req, c->p2));
      CU_ASSERT_STRING_EQUAL(query_http_path_param(&req, c->p2), c->v2);
    }
    CU_ASSERT_PTR_NULL(query_http_path_param(&req, "nope"));
  }
}

static void test_allow(void)
{
  struct query_http_req req;
  memset(&req, 0, sizeof req);
  char allow[64];
  CU_ASSERT_EQUAL(query_http_route_match(query_routes, query_routes_n, "DELETE", "/devices/x/data",
                                         &req, allow, sizeof allow),
                  -405);
  CU_ASSERT_STRING_EQUAL(allow, "GET, POST");
  CU_ASSERT_EQUAL(query_http_route_match(query_routes, query_routes_n, "GET", "/users", &req, allow,
                                         sizeof allow),
                  -405);
  CU_ASSERT_STRING_EQUAL(allow, "POST");
}

static void test_every_route_matches_itself(void)
{
  for (size_t i = 0; i < query_routes_n; i++) {
    char path[256];
    size_t len = 0;
    /* Replace each {param} by "p1". */
    for (const char *p = query_routes[i].pattern; *p != '\0' && len + 4 < sizeof path; p++) {
      if (*p == '{') {
        memcpy(path + len, "p1", 2);
        len += 2;
        p = strchr(p, '}');
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
      } else {
        path[len++] = *p;
      }
    }
    path[len] = '\0';
    struct query_http_req req;
    memset(&req, 0, sizeof req);
    int r = query_http_route_match(query_routes, query_routes_n, query_routes[i].method, path, &req,
                                   NULL, 0);
    CU_ASSERT_EQUAL(r, (int)i);
    CU_ASSERT_PTR_NOT_NULL(query_routes[i].handler);
  }
}

static void test_long_segment(void)
{
  char path[QUERY_HTTP_PATH_MAX + 64];
  memcpy(path, "/devices/", 9);
  memset(path + 9, 'a', QUERY_HTTP_PATH_MAX + 10);
  memcpy(path + 9 + QUERY_HTTP_PATH_MAX + 10, "/data", 6);
  struct query_http_req req;
  memset(&req, 0, sizeof req);
  CU_ASSERT_EQUAL(query_http_route_match(query_routes, query_routes_n, "GET", path, &req, NULL, 0),
                  -404);
}

static void test_query_params(void)
{
  struct query_http_req req;
  memset(&req, 0, sizeof req);
  req.query[0] = (struct query_http_kv){"start", "2026-01-01"};
  req.query[1] = (struct query_http_kv){"flag", NULL};
  req.n_query = 2;
  CU_ASSERT_STRING_EQUAL(query_http_query_param(&req, "start"), "2026-01-01");
  CU_ASSERT_STRING_EQUAL(query_http_query_param(&req, "flag"), "");
  CU_ASSERT_PTR_NULL(query_http_query_param(&req, "end"));
}

static void test_error_body(void)
{
  struct ds_buf b;
  ds_buf_init(&b, 4096);
  struct query_http_req req;
  memset(&req, 0, sizeof req);
  req.out = &b;
  CU_ASSERT_EQUAL(ds_buf_append_str(&b, "partial"), DS_OK);
  CU_ASSERT_EQUAL(query_http_error(&req, 404, "not_found", "unknown \"device\""), DS_OK);
  CU_ASSERT_EQUAL(req.status, 404);
  CU_ASSERT_STRING_EQUAL(b.data,
                         "{\"error\": \"not_found\", \"detail\": \"unknown \\\"device\\\"\"}\n");
  ds_buf_cleanup(&b);
}

static const struct ds_test_case tests[] = {
    {"routing table", test_table},
    {"405 Allow list", test_allow},
    {"every route matches itself", test_every_route_matches_itself},
    {"overlong segment", test_long_segment},
    {"query parameters", test_query_params},
    {"error body", test_error_body},
    {NULL, NULL},
};

DS_TEST_MAIN("query_routes", tests)
