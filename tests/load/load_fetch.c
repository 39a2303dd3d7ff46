/* Blocking HTTP requests of the load generator (see load_fetch.h): one
 * libcurl easy handle per call, the answer grown up to a bound. */
#include "load_fetch.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct grow {
  char *p;
  size_t len, max;
};

static size_t on_grow(char *p, size_t sz, size_t n, void *ud)
{
  struct grow *g = ud;
  size_t len = sz * n;
  if (g->len + len > g->max)
    return 0; /* too large: the transfer fails */
  char *q = realloc(g->p, g->len + len + 1);
  if (!q)
    return 0;
  memcpy(q + g->len, p, len);
  g->p = q;
  g->len += len;
  g->p[g->len] = '\0';
  return len;
}

long load_http_fetch(const char *method, const char *url, const char *body, const char *token,
                     char **out, size_t max, long timeout_ms)
{
  struct grow g = {.max = max};
  struct curl_slist *hd = NULL;
  char auth[512];
  long status = 0;
  CURL *e = curl_easy_init();
  if (!e)
    return 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_grow);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &g);
  if (body) {
    hd = curl_slist_append(hd, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  }
  if (token && snprintf(auth, sizeof auth, "Authorization: Bearer %s", token) < (int)sizeof auth)
    hd = curl_slist_append(hd, auth);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
  if (curl_easy_perform(e) == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  curl_slist_free_all(hd);
  if (status == 0 || !out) {
    free(g.p);
    if (out)
      *out = NULL;
    return status;
  }
  if (!g.p)
    g.p = calloc(1, 1);
  *out = g.p;
  return status;
}

long long load_json_count(const char *body)
{
  long long n = -1;
  struct json_object *j = json_tokener_parse(body), *c;
  if (j && json_object_object_get_ex(j, "count", &c) && json_object_is_type(c, json_type_int))
    n = json_object_get_int64(c);
  json_object_put(j);
  return n;
}
