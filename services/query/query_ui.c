/* The dashboard's routes: GET / and GET /ui/{file}, from the files embedded
 * at build time (query_ui_data.c).  The gzip copy is sent when the client
 * accepts it; the page is revalidated on every load (ETag, 304), and an
 * asset asked for with the version the page names (?v=<hash>) is cached for
 * a year: a new build changes the page's links. */
#include "query_ui.h"

#include <string.h>
#include <strings.h>

const struct query_ui_asset *query_ui_find(const char *name)
{
  for (size_t i = 0; i < query_ui_assets_n; i++)
    if (strcmp(query_ui_assets[i].name, name) == 0)
      return &query_ui_assets[i];
  return NULL;
}

/* Next comma-separated element of a header list: [*b, *e) trimmed; false
 * at the end. */
static bool next_elem(const char **p, const char **b, const char **e)
{
  const char *s = *p;
  while (*s == ' ' || *s == '\t' || *s == ',')
    s++;
  if (*s == '\0')
    return false;
  const char *end = strchr(s, ',');
  if (end == NULL)
    end = s + strlen(s);
  *p = end;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  *b = s;
  *e = end;
  return true;
}

/* Whether the parameters after a coding ("; q=0", "; q=0.000") refuse it. */
static bool q_zero(const char *b, const char *e)
{
  const char *semi = e > b ? memchr(b, ';', (size_t)(e - b)) : NULL;
  while (semi != NULL) {
    const char *s = semi + 1;
    while (s < e && (*s == ' ' || *s == '\t'))
      s++;
    if (e - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
      s += 2;
      bool zero = s < e && *s == '0';
      for (s += zero; zero && s < e && *s != ';' && *s != ' '; s++)
        zero = *s == '.' || *s == '0';
      return zero;
    }
    semi = memchr(s, ';', (size_t)(e - s));
  }
  return false;
}

bool query_ui_accepts_gzip(const char *accept_encoding)
{
  const char *p = accept_encoding, *b, *e;
  if (p == NULL)
    return false;
  while (next_elem(&p, &b, &e)) {
    /* e >= b always; the test tells GCC's -O3 bounds check as much. */
    const char *semi = e > b ? memchr(b, ';', (size_t)(e - b)) : NULL;
    const char *ne = semi != NULL ? semi : e;
    while (ne > b && (ne[-1] == ' ' || ne[-1] == '\t'))
      ne--;
    size_t n = (size_t)(ne - b);
    if (((n == 4 && strncasecmp(b, "gzip", 4) == 0) || (n == 1 && *b == '*')) && !q_zero(b, e))
      return true;
  }
  return false;
}

bool query_ui_etag_matches(const char *if_none_match, const char *etag)
{
  const char *p = if_none_match, *b, *e;
  if (p == NULL)
    return false;
  size_t el = strlen(etag);
  while (next_elem(&p, &b, &e)) {
    if (e - b == 1 && *b == '*')
      return true;
    if (e - b > 2 && b[0] == 'W' && b[1] == '/')
      b += 2;
    if ((size_t)(e - b) == el && memcmp(b, etag, el) == 0)
      return true;
  }
  return false;
}

/* Answers with asset a; cache_control for the 200 and the 304 alike. */
static int serve(struct query_http_req *req, const struct query_ui_asset *a,
                 const char *cache_control)
{
  bool gz = a->gz_len < a->len && query_ui_accepts_gzip(req->accept_encoding);
  int rc = query_http_header_add(req, "Cache-Control", cache_control);
  if (rc == DS_OK)
    rc = query_http_header_add(req, "ETag", a->etag);
  if (rc == DS_OK)
    rc = query_http_header_add(req, "Vary", "Accept-Encoding");
  if (rc == DS_OK)
    rc = query_http_header_add(req, "X-Content-Type-Options", "nosniff");
  if (rc != DS_OK)
    return rc;
  req->content_type = a->content_type;
  /* The same bytes once decoded: one ETag for both encodings (a weak
   * comparison is what If-None-Match uses anyway). */
  if (query_ui_etag_matches(req->if_none_match, a->etag)) {
    req->status = 304;
    return DS_OK;
  }
  if (gz) {
    rc = query_http_header_add(req, "Content-Encoding", "gzip");
    return rc == DS_OK ? ds_buf_append(req->out, a->gz, a->gz_len) : rc;
  }
  return ds_buf_append(req->out, a->data, a->len);
}

int query_ui_page(struct query_http_req *req)
{
  const struct query_ui_asset *a = query_ui_find("/");
  if (a == NULL)
    return query_http_error(req, 404, "not_found", "this build has no dashboard");
  /* Everything the page loads comes from here: an injected script or a
   * request elsewhere is refused by the browser. */
  int rc = query_http_header_add(req, "Content-Security-Policy",
                                 "default-src 'self'; img-src 'self' data:; object-src 'none';"
                                 " base-uri 'none'; frame-ancestors 'none'");
  return rc == DS_OK ? serve(req, a, "no-cache") : rc;
}

int query_ui_file(struct query_http_req *req)
{
  const char *name = query_http_path_param(req, "file");
  const struct query_ui_asset *a =
      name != NULL && strcmp(name, "/") != 0 ? query_ui_find(name) : NULL;
  if (a == NULL)
    return query_http_error(req, 404, "not_found", "no such dashboard file");
  /* ?v= is the version the page links to: that URL never changes content. */
  const char *v = query_http_query_param(req, "v");
  size_t vl = v != NULL ? strlen(v) : 0;
  bool versioned = vl > 0 && strlen(a->etag) == vl + 2 && memcmp(a->etag + 1, v, vl) == 0;
  return serve(req, a, versioned ? "public, max-age=31536000, immutable" : "no-cache");
}
