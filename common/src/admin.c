/* The admin HTTP endpoint (see ds/admin.h). */
#include "ds/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/jsonw.h"

#define ADMIN_BODY_MAX ((size_t)1 << 20)

struct ds_admin {
  struct MHD_Daemon *daemon;
  char svc[32];
  ds_admin_health_fn health;
  ds_admin_metrics_fn metrics;
  void *ctx;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             struct ds_buf *b)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->data ? b->data : (void *)"",
                                                           MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
  struct ds_admin *a = cls;
  (void)version;
  (void)upload;
  if (*con_cls == NULL) { /* first call: headers only */
    *con_cls = a;
    return MHD_YES;
  }
  if (*upload_size != 0) {
    *upload_size = 0; /* bodies are ignored */
    return MHD_YES;
  }
  struct ds_buf b;
  ds_buf_init(&b, ADMIN_BODY_MAX);
  unsigned status = 200;
  const char *type = "application/json";
  int rc = DS_OK;
  bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  if (get && strcmp(url, "/health") == 0) {
    char detail[256] = "";
    bool ok = a->health(a->ctx, detail, sizeof detail);
    status = ok ? 200 : 503;
    struct ds_jsonw w;
    ds_jsonw_init(&w, &b);
    ds_jsonw_object_begin(&w);
    ds_jsonw_key_str(&w, "status", ok ? "ok" : "unavailable");
    ds_jsonw_key_str(&w, "service", a->svc);
    if (!ok)
      ds_jsonw_key_str(&w, "detail", detail);
    ds_jsonw_object_end(&w);
    rc = ds_jsonw_finish(&w);
    if (rc == DS_OK)
      rc = ds_buf_append_str(&b, "\n");
  } else if (get && strcmp(url, "/metrics") == 0) {
    type = "text/plain; version=0.0.4; charset=utf-8";
    rc = a->metrics(a->ctx, &b);
  } else {
    status = get ? 404 : 405;
    rc = ds_buf_append_str(&b, get ? "{\"error\": \"not_found\", \"detail\": \"/health and "
                                     "/metrics only\"}\n"
                                   : "{\"error\": \"method_not_allowed\", \"detail\": \"GET "
                                     "only\"}\n");
  }
  if (rc != DS_OK) {
    ds_buf_reset(&b);
    status = 500;
    type = "application/json";
    if (ds_buf_append_str(&b, "{\"error\": \"internal\"}\n") != DS_OK)
      b.len = 0; /* an empty 500 then */
  }
  enum MHD_Result ret = reply(c, status, type, &b);
  ds_buf_cleanup(&b);
  return ret;
}

int ds_admin_start(const char *addr, int port, const char *svc, ds_admin_health_fn health,
                   ds_admin_metrics_fn metrics, void *ctx, struct ds_admin **out,
                   char err[DS_ERRLEN])
{
  struct ds_admin *a = calloc(1, sizeof *a);
  if (a == NULL)
    return DS_ENOMEM;
  snprintf(a->svc, sizeof a->svc, "%s", svc);
  a->health = health;
  a->metrics = metrics;
  a->ctx = ctx;
  struct sockaddr_in a4 = {0};
  struct sockaddr_in6 a6 = {0};
  const struct sockaddr *sa;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
  if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)port);
    sa = (const struct sockaddr *)&a4;
  } else if (inet_pton(AF_INET6, addr, &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons((uint16_t)port);
    sa = (const struct sockaddr *)&a6;
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, DS_ERRLEN, "ADMIN_ADDR: not an IP address: %.64s", addr);
    free(a);
    return DS_EINVAL;
  }
  a->daemon =
      MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, sa,
                       MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 64u,
                       MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
  if (a->daemon == NULL) {
    snprintf(err, DS_ERRLEN, "cannot listen on %.64s:%d: %s", addr, port, strerror(errno));
    free(a);
    return DS_EIO;
  }
  *out = a;
  return DS_OK;
}

void ds_admin_stop(struct ds_admin *a)
{
  if (a == NULL)
    return;
  if (a->daemon != NULL)
    MHD_stop_daemon(a->daemon);
  free(a);
}
