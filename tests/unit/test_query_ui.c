/* Tests for the dashboard's routes (query_ui.c) over the files really
 * embedded by the build: Accept-Encoding and If-None-Match parsing, the
 * gzip copy being the same bytes, 304, caching by version, 404 for unknown
 * files, and a page that loads nothing from elsewhere. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "ds/buf.h"
#include "ds_test.h"
#include "query_http.h"
#include "query_ui.h"

static void test_accepts_gzip(void)
{
  static const struct {
    const char *h;
    bool gz;
  } cases[] = {
      {NULL, false},
      {"", false},
      {"gzip", true},
      {"GZIP", true},
      {"gzip, deflate, br", true},
      {"br, gzip;q=0.8", true},
      {"deflate, br", false},
      {"gzip;q=0", false},
      {"gzip; q=0.000", false},
      {"gzip;q=0.001", true},
      {"*", true},
      {"*;q=0", false},
      {"identity", false},
      {"x-gzip", false},
      {"gzipx", false},
      {" , ,gzip", true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool got = query_ui_accepts_gzip(cases[i].h);
    CU_ASSERT_EQUAL(got, cases[i].gz);
    if (got != cases[i].gz)
      fprintf(stderr, "Accept-Encoding '%s': got %d\n", cases[i].h ? cases[i].h : "(null)", got);
  }
}

static void test_etag_matches(void)
{
  const char *e = "\"0123456789abcdef\"";
  CU_ASSERT_FALSE(query_ui_etag_matches(NULL, e));
  CU_ASSERT_FALSE(query_ui_etag_matches("", e));
  CU_ASSERT_TRUE(query_ui_etag_matches("\"0123456789abcdef\"", e));
  CU_ASSERT_TRUE(query_ui_etag_matches("W/\"0123456789abcdef\"", e));
  CU_ASSERT_TRUE(query_ui_etag_matches("\"x\", \"0123456789abcdef\"", e));
  CU_ASSERT_TRUE(query_ui_etag_matches("*", e));
  CU_ASSERT_FALSE(query_ui_etag_matches("\"0123456789abcde\"", e));
  CU_ASSERT_FALSE(query_ui_etag_matches("0123456789abcdef", e));
  CU_ASSERT_FALSE(query_ui_etag_matches("\"x\"", e));
}

/* Runs handler over a request for file (NULL: the page). */
static void run(int (*handler)(struct query_http_req *), const char *file, const char *v,
                const char *ae, const char *inm, struct query_http_req *req, struct ds_buf *out)
{
  static struct query_http_kv pp, qp;
  ds_buf_init(out, 1 << 20);
  memset(req, 0, sizeof *req);
  req->method = "GET";
  req->out = out;
  req->status = 200;
  req->accept_encoding = ae;
  req->if_none_match = inm;
  if (file != NULL) {
    pp.key = "file";
    pp.value = file;
    req->path_params[0] = pp;
    req->n_path_params = 1;
  }
  if (v != NULL) {
    qp.key = "v";
    qp.value = v;
    req->query[0] = qp;
    req->n_query = 1;
  }
  CU_ASSERT_EQUAL(handler(req), DS_OK);
}

/* Whether b (gzip) inflates to exactly want[0..len). */
static bool gunzip_equals(const unsigned char *b, size_t blen, const unsigned char *want,
                          size_t len)
{
  static unsigned char buf[1 << 20];
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
    return false;
  z.next_in = (unsigned char *)b;
  z.avail_in = (uInt)blen;
  z.next_out = buf;
  z.avail_out = sizeof buf;
  int rc = inflate(&z, Z_FINISH);
  size_t n = sizeof buf - z.avail_out;
  inflateEnd(&z);
  return rc == Z_STREAM_END && n == len && memcmp(buf, want, len) == 0;
}

static void test_assets(void)
{
  static const char *const names[] = {"/", "app.js", "app.css", "uPlot.js", "uPlot.css"};
  size_t total_gz = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const struct query_ui_asset *a = query_ui_find(names[i]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT(a->len > 0);
    CU_ASSERT(gunzip_equals(a->gz, a->gz_len, a->data, a->len));
    CU_ASSERT_EQUAL(strlen(a->etag), 18);
    total_gz += a->gz_len < a->len ? a->gz_len : a->len;
  }
  CU_ASSERT_PTR_NULL(query_ui_find("nope.js"));
  /* The first load: the budget is 200 KB. */
  CU_ASSERT(total_gz <= 200 * 1024);
}

static void test_page(void)
{
  struct query_http_req req;
  struct ds_buf out;
  const struct query_ui_asset *a = query_ui_find("/");
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  run(query_ui_page, NULL, NULL, "gzip, br", NULL, &req, &out);
  CU_ASSERT_EQUAL(req.status, 200);
  CU_ASSERT_STRING_EQUAL(req.content_type, "text/html; charset=utf-8");
  CU_ASSERT_STRING_EQUAL(query_http_header_out(&req, "Content-Encoding"), "gzip");
  CU_ASSERT_STRING_EQUAL(query_http_header_out(&req, "Cache-Control"), "no-cache");
  CU_ASSERT_STRING_EQUAL(query_http_header_out(&req, "ETag"), a->etag);
  CU_ASSERT_STRING_EQUAL(query_http_header_out(&req, "Vary"), "Accept-Encoding");
  CU_ASSERT_PTR_NOT_NULL(query_http_header_out(&req, "Content-Security-Policy"));
  CU_ASSERT(out.len == a->gz_len && memcmp(out.data, a->gz, out.len) == 0);
  ds_buf_cleanup(&out);

  /* Without gzip: the page itself, linking its assets by version. */
  run(query_ui_page, NULL, NULL, NULL, NULL, &req, &out);
  CU_ASSERT_PTR_NULL(query_http_header_out(&req, "Content-Encoding"));
  CU_ASSERT_EQUAL_FATAL(out.len, a->len);
  CU_ASSERT_FATAL(ds_buf_append(&out, "", 1) == DS_OK);
  const char *html = out.data;
  CU_ASSERT(strncmp(html, "<!DOCTYPE html>", 15) == 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(html, "devicestats-dashboard"));
  CU_ASSERT_PTR_NOT_NULL(strstr(html, "href=\"/docs\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(html, "src=\"/ui/app.js?v="));
  CU_ASSERT_PTR_NOT_NULL(strstr(html, "src=\"/ui/uPlot.js?v="));
  CU_ASSERT_PTR_NULL(strstr(html, "{{"));
  CU_ASSERT_PTR_NULL(strstr(html, "http://"));
  CU_ASSERT_PTR_NULL(strstr(html, "https://"));
  ds_buf_cleanup(&out);

  /* Revalidation: 304 without a body. */
  run(query_ui_page, NULL, NULL, "gzip", a->etag, &req, &out);
  CU_ASSERT_EQUAL(req.status, 304);
  CU_ASSERT_EQUAL(out.len, 0);
  CU_ASSERT_STRING_EQUAL(query_http_header_out(&req, "ETag"), a->etag);
  ds_buf_cleanup(&out);
}

static void test_file(void)
{
  struct query_http_req req;
  struct ds_buf out;
  const struct query_ui_asset *a = query_ui_find("uPlot.js");
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  char v[17];
  snprintf(v, sizeof v, "%.16s", a->etag + 1);
  /* The version the page links: cached for a year. */
  run(query_ui_file, "uPlot.js", v, "gzip", NULL, &req, &out);
  CU_ASSERT_EQUAL(req.status, 200);
  CU_ASSERT_STRING_EQUAL(req.content_type, "text/javascript; charset=utf-8");
  CU_ASSERT_STRING_EQUAL(query_http_header_out(&req, "Cache-Control"),
                         "public, max-age=31536000, immutable");
  CU_ASSERT(out.len == a->gz_len && memcmp(out.data, a->gz, out.len) == 0);
  ds_buf_cleanup(&out);
  /* Another version (an old page): revalidated, never kept. */
  run(query_ui_file, "uPlot.js", "0000000000000000", NULL, NULL, &req, &out);
  CU_ASSERT_STRING_EQUAL(query_http_header_out(&req, "Cache-Control"), "no-cache");
  CU_ASSERT(out.len == a->len && memcmp(out.data, a->data, out.len) == 0);
  ds_buf_cleanup(&out);
  /* Unknown files, and the page under /ui/: the JSON 404, no caching. */
  static const char *const bad[] = {"nope.js", "/", "..", "app.js.map"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    run(query_ui_file, bad[i], NULL, "gzip", NULL, &req, &out);
    CU_ASSERT_EQUAL(req.status, 404);
    CU_ASSERT_EQUAL(req.n_headers_out, 0);
    CU_ASSERT_STRING_EQUAL(req.content_type, "application/json");
    ds_buf_cleanup(&out);
  }
}

static const struct ds_test_case tests[] = {
    {"Accept-Encoding", test_accepts_gzip}, {"If-None-Match", test_etag_matches},
    {"embedded files", test_assets},        {"GET /", test_page},
    {"GET /ui/{file}", test_file},          {NULL, NULL},
};

DS_TEST_MAIN("query_ui", tests)
