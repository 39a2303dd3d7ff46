/* The count check (see load_check.h). */
#include "load_check.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load_http.h"
#include "load_run.h"

#define PAGE 10000
#define BODY_MAX (64u << 20)

int load_counts_fetch(const struct load_opts *o, struct load_counts *c, char *err, size_t errlen)
{
  const char *pre = o->scenario == LOAD_SC_SEED ? "device-" : o->prefix;
  char after[LOAD_NAME_MAX + 1], url[1024];
  if (!c->n) {
    c->n = calloc((size_t)o->devices, sizeof *c->n);
    if (!c->n) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    c->ndev = o->devices;
  }
  memset(c->n, 0, (size_t)c->ndev * sizeof *c->n);
  snprintf(after, sizeof after, "%s", pre);
  for (;;) {
    char *body = NULL;
    snprintf(url, sizeof url, "%s/devices?after=%s&limit=%d", o->http_url, after, PAGE);
    long st = load_http_fetch("GET", url, NULL, NULL, &body, BODY_MAX, 60000);
    if (st != 200) {
      snprintf(err, errlen, "GET %s: %s %ld", url, st ? "status" : "no answer", st);
      free(body);
      return -1;
    }
    struct json_object *j = json_tokener_parse(body), *list, *next;
    free(body);
    if (!j || !json_object_object_get_ex(j, "devices", &list) ||
        !json_object_is_type(list, json_type_array)) {
      snprintf(err, errlen, "GET %s: not a device list", url);
      json_object_put(j);
      return -1;
    }
    bool past = false; /* a name past the prefix: the rest sorts after it too */
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++) {
      struct json_object *d = json_object_array_get_idx(list, i), *id, *cnt;
      if (!json_object_object_get_ex(d, "id", &id) || !json_object_object_get_ex(d, "count", &cnt))
        continue;
      const char *name = json_object_get_string(id);
      if (strncmp(name, pre, strlen(pre)) != 0) {
        past = true;
        break;
      }
      long k = load_device_index(o, name);
      if (k >= 0)
        c->n[k] = json_object_get_int64(cnt);
    }
    bool more = !past && json_object_object_get_ex(j, "next", &next) &&
                json_object_is_type(next, json_type_string);
    if (more)
      snprintf(after, sizeof after, "%s", json_object_get_string(next));
    json_object_put(j);
    if (!more)
      return 0;
  }
}

void load_counts_cleanup(struct load_counts *c)
{
  free(c->n);
  c->n = NULL;
  c->ndev = 0;
}

void load_count_compare(const int64_t *before, const int64_t *after, const int64_t *published,
                        long n, long long *stored, long long *lost, long long *doubled)
{
  *stored = *lost = *doubled = 0;
  for (long i = 0; i < n; i++) {
    long long s = after[i] - before[i];
    *stored += s;
    if (s < published[i])
      *lost += published[i] - s;
    else
      *doubled += s - published[i];
  }
}

int load_count_check(const struct load_opts *o, const struct load_counts *before,
                     const int64_t *published, double settle_s, struct load_report *rep, char *err,
                     size_t errlen)
{
  struct load_counts now = {0};
  double deadline = load_mono_ms() + settle_s * 1000;
  long long stored = 0, lost = 0, doubled = 0, pub = 0;
  bool complete = false;
  for (long i = 0; i < o->devices; i++)
    pub += published[i];
  for (;;) {
    if (load_counts_fetch(o, &now, err, errlen) != 0) {
      load_counts_cleanup(&now);
      return -1;
    }
    load_count_compare(before->n, now.n, published, o->devices, &stored, &lost, &doubled);
    if (complete || load_mono_ms() >= deadline)
      break;
    if (lost == 0) {
      complete = true; /* once more in a second: late duplicates */
      usleep(1000 * 1000);
    } else {
      usleep(500 * 1000);
    }
  }
  load_counts_cleanup(&now);
  rep->count_checked = 1;
  rep->cc_published = pub;
  rep->cc_stored = stored;
  rep->lost = lost;
  rep->doubled = doubled;
  rep->stored = stored;
  return 0;
}
