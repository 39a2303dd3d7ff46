/* Routes other than statistics: the device list, users and ownership,
 * samples over HTTP (published to MQTT), rejected messages, health,
 * Prometheus metrics, the OpenAPI document and the page that shows it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ds/chunk_cache.h"
#include "ds/db.h"
#include "ds/json.h"
#include "ds/mqtt.h"
#include "ds/sample.h"
#include "ds/store.h"
#include "ds/time.h"
#include "query_handlers.h"
#include "query_params.h"
#include "query_server.h"

#define USER_NAME_MAX 200

static int append_time_or_null(struct ds_buf *b, const char *key, PGresult *res, int row, int col)
{
  int rc = ds_buf_appendf(b, ", \"%s\": ", key);
  if (rc != DS_OK)
    return rc;
  long long us;
  if (PQgetisnull(res, row, col) ||
      q_parse_int(PQgetvalue(res, row, col), 0, DS_TIME_MAX_US, &us) != DS_OK)
    return ds_buf_append_str(b, "null");
  char t[DS_TIME_STRLEN];
  return ds_buf_appendf(b, "\"%s\"", ds_time_format(us, t));
}

/* Largest page GET /devices?limit= gives. */
#define DEVICES_PAGE_MAX 10000

/* Per device: sample count, first and last time from the chunk metadata
 * (sum(n), min(first_ts), max(last_ts): the arrays are never read) plus the
 * small samples_recent table.  One statement, so a compaction moving rows
 * between the tables is seen before or after, never half-way: exact.
 *
 * The whole list aggregates each table once (sequential scans, hash
 * aggregates): per-device index lookups would fetch every chunk's heap page
 * at random, measured 4x slower with 1M interleaved chunks.  A page (limit/
 * after) looks up only its own devices through the (device_id, ...)
 * indexes, so its cost does not grow with the other devices' data. */
static const char devices_all_sql[] =
    "SELECT d.name, d.user_id, coalesce(c.n, 0) + coalesce(r.n, 0),"
    "  (extract(epoch FROM least(c.f, r.f)) * 1000000)::int8,"
    "  (extract(epoch FROM greatest(c.l, r.l)) * 1000000)::int8"
    " FROM devices d"
    " LEFT JOIN (SELECT device_id, sum(n) n, min(first_ts) f, max(last_ts) l"
    "              FROM sample_chunks GROUP BY device_id) c ON c.device_id = d.id"
    " LEFT JOIN (SELECT device_id, count(*) n, min(ts) f, max(ts) l"
    "              FROM samples_recent GROUP BY device_id) r ON r.device_id = d.id"
    " ORDER BY d.name";
/* $1 after (NULL: from the first; '' sorts before every name and keeps the
 * bound an index condition in generic plans), $2 how many rows. */
static const char devices_page_sql[] =
    "SELECT d.name, d.user_id, c.n + r.n,"
    "  (extract(epoch FROM least(c.f, r.f)) * 1000000)::int8,"
    "  (extract(epoch FROM greatest(c.l, r.l)) * 1000000)::int8"
    " FROM (SELECT id, name, user_id FROM devices"
    "        WHERE name > coalesce($1::text, '') ORDER BY name LIMIT $2::int8) d"
    " CROSS JOIN LATERAL (SELECT coalesce(sum(n), 0) n, min(first_ts) f, max(last_ts) l"
    "                       FROM sample_chunks WHERE device_id = d.id) c"
    " CROSS JOIN LATERAL (SELECT count(*) n, min(ts) f, max(ts) l"
    "                       FROM samples_recent WHERE device_id = d.id) r"
    " ORDER BY d.name";

static int append_device(struct ds_buf *b, PGresult *res, int i)
{
  const char *name = PQgetvalue(res, i, 0);
  int rc = ds_buf_append_str(b, i > 0 ? ",\n{\"id\": " : "{\"id\": ");
  if (rc == DS_OK)
    rc = ds_buf_append_json_str(b, name, strlen(name));
  if (rc == DS_OK)
    rc = ds_buf_appendf(b, ", \"owner\": %s, \"count\": %s",
                        PQgetisnull(res, i, 1) ? "null" : PQgetvalue(res, i, 1),
                        PQgetvalue(res, i, 2));
  if (rc == DS_OK)
    rc = append_time_or_null(b, "first", res, i, 3);
  if (rc == DS_OK)
    rc = append_time_or_null(b, "last", res, i, 4);
  if (rc == DS_OK)
    rc = ds_buf_append_str(b, "}");
  return rc;
}

int q_h_devices(struct q_req *req)
{
  long long limit = 0;
  const char *ls = q_query_param(req, "limit");
  const char *after = q_query_param(req, "after");
  if (ls != NULL && q_parse_int(ls, 1, DEVICES_PAGE_MAX, &limit) != DS_OK)
    return q_error(req, 400, "bad_request", "limit: an integer from 1 to 10000");
  if (after != NULL && !ds_device_id_valid(after, strlen(after)))
    return q_error(req, 400, "bad_device_id", "after: a device id, 1-64 of A-Z a-z 0-9 _ . -");
  bool paged = ls != NULL || after != NULL;
  PGconn *db = q_db(req);
  if (db == NULL)
    return DS_OK;
  PGresult *res;
  if (paged) {
    /* One row past the page says whether there is a next one. */
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", ls != NULL ? limit + 1 : (long long)INT64_MAX);
    const char *vals[2] = {after, lim};
    res = q_db_exec(req, db, "q_devices_page", devices_page_sql, 2, vals, 0);
  } else {
    res = q_db_exec(req, db, "q_devices", devices_all_sql, 0, NULL, 0);
  }
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    int rc = q_db_fail(req, db, res);
    PQclear(res);
    return rc;
  }
  int rows = PQntuples(res);
  bool more = ls != NULL && rows > limit;
  if (more)
    rows = (int)limit;
  int rc = ds_buf_append_str(req->out, "{\"devices\": [");
  for (int i = 0; rc == DS_OK && i < rows; i++)
    rc = append_device(req->out, res, i);
  if (rc == DS_OK)
    rc = ds_buf_append_str(req->out, "]");
  /* Paged answers say where the next page starts (null after the last). */
  if (rc == DS_OK && paged) {
    rc = ds_buf_append_str(req->out, ", \"next\": ");
    if (rc == DS_OK && more) {
      const char *last = PQgetvalue(res, rows - 1, 0);
      rc = ds_buf_append_json_str(req->out, last, strlen(last));
    } else if (rc == DS_OK) {
      rc = ds_buf_append_str(req->out, "null");
    }
  }
  if (rc == DS_OK)
    rc = ds_buf_append_str(req->out, "}\n");
  PQclear(res);
  return rc;
}

int q_h_device_post(struct q_req *req)
{
  const char *id = q_path_param(req, "id");
  if (id == NULL || !ds_device_id_valid(id, strlen(id)))
    return q_error(req, 400, "bad_device_id", "a device id is 1-64 of A-Z a-z 0-9 _ . -");
  struct ds_sample *samples = malloc(DS_SAMPLES_MAX * sizeof *samples);
  if (samples == NULL)
    return DS_ENOMEM;
  size_t n = 0;
  enum ds_reject why = DS_REJECT_NONE;
  char err[DS_ERRLEN] = "";
  int rc = ds_sample_decode(req->body != NULL ? req->body : "", req->body_len, ds_time_now_us(),
                            samples, &n, &why, err);
  free(samples);
  if (rc == DS_ENOMEM)
    return rc;
  if (rc != DS_OK)
    return q_error(req, 400, why != DS_REJECT_NONE ? ds_reject_code(why) : "bad_payload", err);
  if (req->mqtt == NULL || !ds_mqtt_is_connected(req->mqtt))
    return q_error(req, 503, "broker_unavailable", "the MQTT broker is unreachable");
  char topic[DS_DEVICE_ID_MAX + 16];
  snprintf(topic, sizeof topic, "devices/%s/data", id);
  struct q_metrics *m = q_server_metrics(req->server);
  rc = ds_mqtt_publish(req->mqtt, topic, req->body, req->body_len, 1, false,
                       (int)req->cfg->publish_timeout_ms, err);
  if (rc != DS_OK) {
    if (m != NULL)
      atomic_fetch_add(&m->publish_fail, 1);
    return q_error(req, 503, "broker_unavailable", err);
  }
  if (m != NULL)
    atomic_fetch_add(&m->publish_ok, 1);
  req->status = 202;
  return ds_buf_appendf(req->out, "{\"accepted\": %zu}\n", n);
}

int q_h_user_create(struct q_req *req)
{
  struct json_object *o = NULL;
  char err[DS_ERRLEN] = "";
  int rc = ds_json_parse(req->body != NULL ? req->body : "", req->body_len,
                         (size_t)req->cfg->body_max, &o, err);
  if (rc != DS_OK)
    return q_error(req, 400, "bad_json", err);
  const char *name = NULL;
  size_t len = 0;
  if (ds_json_get_string(o, "name", &name, &len) != DS_OK || len == 0 || len > USER_NAME_MAX ||
      memchr(name, '\0', len) != NULL) {
    json_object_put(o);
    return q_error(req, 400, "bad_request", "body must be {\"name\": \"1-200 characters\"}");
  }
  PGconn *db = q_db(req);
  if (db == NULL) {
    json_object_put(o);
    return DS_OK;
  }
  const char *vals[1] = {name};
  PGresult *res = q_db_exec(req, db, "q_user_create",
                            "INSERT INTO users (name) VALUES ($1) RETURNING id", 1, vals, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    rc = q_db_fail(req, db, res);
  } else {
    req->status = 201;
    rc = ds_buf_appendf(req->out, "{\"id\": %s, \"name\": ", PQgetvalue(res, 0, 0));
    if (rc == DS_OK)
      rc = ds_buf_append_json_str(req->out, name, len);
    if (rc == DS_OK)
      rc = ds_buf_append_str(req->out, "}\n");
  }
  PQclear(res);
  json_object_put(o);
  return rc;
}

int q_h_user_device(struct q_req *req)
{
  long long uid;
  const char *id = q_path_param(req, "id");
  if (q_parse_int(q_path_param(req, "uid"), 1, INT32_MAX, &uid) != DS_OK)
    return q_error(req, 400, "bad_user_id", "a user id is a positive integer");
  if (id == NULL || !ds_device_id_valid(id, strlen(id)))
    return q_error(req, 400, "bad_device_id", "a device id is 1-64 of A-Z a-z 0-9 _ . -");
  PGconn *db = q_db(req);
  if (db == NULL)
    return DS_OK;
  char uids[24];
  snprintf(uids, sizeof uids, "%lld", uid);
  const char *vals[2] = {uids, id};
  PGresult *res = q_db_exec(req, db, "q_user_device",
                            "WITH u AS (SELECT id FROM users WHERE id = $1::int4),"
                            " upd AS (UPDATE devices SET user_id = (SELECT id FROM u)"
                            "          WHERE name = $2 AND EXISTS (SELECT 1 FROM u) RETURNING id)"
                            " SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM upd)",
                            2, vals, 0);
  int rc;
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    rc = q_db_fail(req, db, res);
  } else if (PQgetvalue(res, 0, 0)[0] != 't') {
    rc = q_error(req, 404, "not_found", "unknown user");
  } else if (PQgetvalue(res, 0, 1)[0] != 't') {
    rc = q_error(req, 404, "not_found", "unknown device");
  } else {
    rc = ds_buf_appendf(req->out, "{\"user_id\": %lld, \"device_id\": ", uid);
    if (rc == DS_OK)
      rc = ds_buf_append_json_str(req->out, id, strlen(id));
    if (rc == DS_OK)
      rc = ds_buf_append_str(req->out, "}\n");
  }
  PQclear(res);
  return rc;
}

/* ---- rejected messages ---- */

/* Whether s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      k = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      k = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      k = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (len - i <= k)
      return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += k + 1;
  }
  return true;
}

static int append_base64(struct ds_buf *b, const unsigned char *s, size_t len)
{
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int rc = ds_buf_reserve(b, (len + 2) / 3 * 4 + 2);
  if (rc != DS_OK)
    return rc;
  char q[4];
  rc = ds_buf_append_str(b, "\"");
  for (size_t i = 0; rc == DS_OK && i < len; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)s[i + 1] << 8;
    if (i + 2 < len)
      v |= s[i + 2];
    q[0] = tab[v >> 18 & 63];
    q[1] = tab[v >> 12 & 63];
    q[2] = i + 1 < len ? tab[v >> 6 & 63] : '=';
    q[3] = i + 2 < len ? tab[v & 63] : '=';
    rc = ds_buf_append(b, q, 4);
  }
  return rc == DS_OK ? ds_buf_append_str(b, "\"") : rc;
}

static uint64_t be64(const char *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | (unsigned char)p[i];
  return v;
}

int q_h_rejected(struct q_req *req)
{
  long long limit = 100;
  const char *ls = q_query_param(req, "limit");
  if (ls != NULL && q_parse_int(ls, 1, req->cfg->rejected_max, &limit) != DS_OK) {
    char d[96];
    snprintf(d, sizeof d, "limit: an integer from 1 to %lld", req->cfg->rejected_max);
    return q_error(req, 400, "bad_request", d);
  }
  PGconn *db = q_db(req);
  if (db == NULL)
    return DS_OK;
  char lim[24];
  snprintf(lim, sizeof lim, "%lld", limit);
  const char *vals[1] = {lim};
  /* Binary results: payload arrives as raw bytes. */
  PGresult *res = q_db_exec(req, db, "q_rejected",
                            "SELECT id, received_at, topic, payload, payload_size, reason"
                            " FROM rejected ORDER BY id DESC LIMIT $1::int8",
                            1, vals, 1);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    int rc = q_db_fail(req, db, res);
    PQclear(res);
    return rc;
  }
  int rc = ds_buf_append_str(req->out, "{\"rejected\": [");
  for (int i = 0; rc == DS_OK && i < PQntuples(res); i++) {
    if (PQgetlength(res, i, 0) != 8 || PQgetlength(res, i, 1) != 8 || PQgetlength(res, i, 4) != 4) {
      rc = q_error(req, 500, "internal", "unexpected rejected row");
      PQclear(res);
      return rc;
    }
    char t[DS_TIME_STRLEN];
    int64_t id = (int64_t)be64(PQgetvalue(res, i, 0));
    int64_t at = ds_pg_ts_to_unix((int64_t)be64(PQgetvalue(res, i, 1)));
    const unsigned char *sz = (const unsigned char *)PQgetvalue(res, i, 4);
    uint32_t size = (uint32_t)sz[0] << 24 | (uint32_t)sz[1] << 16 | (uint32_t)sz[2] << 8 | sz[3];
    const char *payload = PQgetvalue(res, i, 3);
    size_t plen = (size_t)PQgetlength(res, i, 3);
    bool text = utf8_valid((const unsigned char *)payload, plen);
    rc = ds_buf_appendf(req->out, "%s{\"id\": %" PRId64 ", \"received_at\": \"%s\", \"topic\": ",
                        i ? ",\n" : "", id, ds_time_format(at, t));
    if (rc == DS_OK)
      rc = ds_buf_append_json_str(req->out, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
    if (rc == DS_OK)
      rc = ds_buf_appendf(
          req->out, ", \"payload_encoding\": \"%s\", \"payload\": ", text ? "utf8" : "base64");
    if (rc == DS_OK)
      rc = text ? ds_buf_append_json_str(req->out, payload, plen)
                : append_base64(req->out, (const unsigned char *)payload, plen);
    if (rc == DS_OK)
      rc = ds_buf_appendf(req->out, ", \"payload_size\": %" PRIu32 ", \"reason\": ", size);
    if (rc == DS_OK)
      rc = ds_buf_append_json_str(req->out, PQgetvalue(res, i, 5), (size_t)PQgetlength(res, i, 5));
    if (rc == DS_OK)
      rc = ds_buf_append_str(req->out, "}");
  }
  if (rc == DS_OK)
    rc = ds_buf_append_str(req->out, "]}\n");
  PQclear(res);
  return rc;
}

/* ---- health, metrics, OpenAPI ---- */

int q_h_health(struct q_req *req)
{
  /* A probe result up to a second old is good enough for a health check,
   * and keeps a /health flood off the database. */
  bool db_up = q_health_fresh(req, 1000);
  PGconn *db = db_up ? NULL : q_db(req);
  if (db != NULL) {
    PGresult *res = q_db_exec(req, db, "q_health", "SELECT 1", 0, NULL, 0);
    db_up = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (db_up)
      q_health_mark(req);
    else
      (void)q_db_fail(req, db, res);
    PQclear(res);
  }
  bool mq_up = req->mqtt != NULL && ds_mqtt_is_connected(req->mqtt);
  ds_buf_reset(req->out);
  req->status = db_up && mq_up ? 200 : 503;
  if (req->status == 200)
    return ds_buf_append_str(req->out,
                             "{\"status\": \"ok\", \"database\": \"up\", \"broker\": \"up\"}\n");
  const char *detail = !db_up && !mq_up ? "database and broker are down"
                       : !db_up         ? "database is down"
                                        : "broker is down";
  return ds_buf_appendf(req->out,
                        "{\"status\": \"unavailable\", \"error\": \"unavailable\", \"detail\": "
                        "\"%s\", \"database\": \"%s\", \"broker\": \"%s\"}\n",
                        detail, db_up ? "up" : "down", mq_up ? "up" : "down");
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static int append_label(struct ds_buf *b, const char *s, size_t len)
{
  int rc = DS_OK;
  for (size_t i = 0; rc == DS_OK && i < len; i++) {
    if (s[i] == '\\' || s[i] == '"')
      rc = ds_buf_appendf(b, "\\%c", s[i]);
    else if (s[i] == '\n')
      rc = ds_buf_append_str(b, "\\n");
    else
      rc = ds_buf_append(b, &s[i], 1);
  }
  return rc;
}

static int metrics_requests(struct q_req *req, const struct q_metrics *m)
{
  struct ds_buf *b = req->out;
  int rc = ds_buf_append_str(b, "# HELP devicestats_query_requests_total HTTP requests by route "
                                "and status.\n# TYPE devicestats_query_requests_total counter\n");
  for (size_t r = 0; rc == DS_OK && r <= q_routes_n; r++)
    for (size_t i = 0; rc == DS_OK && i <= Q_STATUS_N; i++) {
      unsigned long long v = atomic_load(&m->requests[r][i]);
      if (v == 0)
        continue;
      char st[16];
      if (i < Q_STATUS_N)
        snprintf(st, sizeof st, "%d", q_status_codes[i]);
      else
        snprintf(st, sizeof st, "other");
      rc = ds_buf_appendf(
          b, "devicestats_query_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
          r < q_routes_n ? q_routes[r].method : "",
          r < q_routes_n ? q_routes[r].pattern : "unmatched", st, v);
    }
  if (rc == DS_OK)
    rc =
        ds_buf_append_str(b, "# HELP devicestats_query_request_duration_seconds Request "
                             "latency by route.\n# TYPE devicestats_query_request_duration_seconds "
                             "histogram\n");
  for (size_t r = 0; rc == DS_OK && r <= q_routes_n; r++) {
    unsigned long long cum = 0, cnt = 0;
    for (size_t i = 0; i <= Q_LAT_BUCKETS; i++)
      cnt += atomic_load(&m->lat_bucket[r][i]);
    if (cnt == 0)
      continue;
    char lbl[128];
    snprintf(lbl, sizeof lbl, "method=\"%s\",route=\"%s\"",
             r < q_routes_n ? q_routes[r].method : "",
             r < q_routes_n ? q_routes[r].pattern : "unmatched");
    for (size_t i = 0; rc == DS_OK && i <= Q_LAT_BUCKETS; i++) {
      cum += atomic_load(&m->lat_bucket[r][i]);
      if (i < Q_LAT_BUCKETS)
        rc = ds_buf_appendf(
            b, "devicestats_query_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", lbl,
            (double)q_lat_bounds_us[i] / 1e6, cum);
      else
        rc = ds_buf_appendf(
            b, "devicestats_query_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lbl,
            cum);
    }
    if (rc == DS_OK)
      rc = ds_buf_appendf(b,
                          "devicestats_query_request_duration_seconds_sum{%s} %.6f\n"
                          "devicestats_query_request_duration_seconds_count{%s} %llu\n",
                          lbl, (double)atomic_load(&m->lat_sum_us[r]) / 1e6, lbl, cnt);
  }
  return rc;
}

static int metrics_rejected(struct ds_buf *b, PGresult *res)
{
  int rc = ds_buf_append_str(b, "# HELP devicestats_rejected_messages Messages kept in the "
                                "rejected table, by reason.\n"
                                "# TYPE devicestats_rejected_messages gauge\n");
  for (int i = 0; rc == DS_OK && i < PQntuples(res); i++) {
    rc = ds_buf_append_str(b, "devicestats_rejected_messages{reason=\"");
    if (rc == DS_OK)
      rc = append_label(b, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
    if (rc == DS_OK)
      rc = ds_buf_appendf(b, "\"} %s\n", PQgetvalue(res, i, 1));
  }
  return rc;
}

int q_h_metrics(struct q_req *req)
{
  /* Rejected messages by reason code come from the database (ingest stores
   * them); while it is down they are left out and db_up says 0. */
  PGresult *rej = NULL;
  PGconn *db = q_db(req);
  if (db != NULL) {
    rej = q_db_exec(req, db, "q_rejected_counts",
                    "SELECT split_part(reason, ':', 1), count(*) FROM rejected"
                    " GROUP BY 1 ORDER BY 1",
                    0, NULL, 0);
    if (PQresultStatus(rej) != PGRES_TUPLES_OK) {
      (void)q_db_fail(req, db, rej);
      PQclear(rej);
      rej = NULL;
    }
  }
  /* q_db/q_db_fail may have written a JSON error: metrics stay 200 text. */
  ds_buf_reset(req->out);
  req->status = 200;
  req->content_type = "text/plain; version=0.0.4; charset=utf-8";
  const struct q_metrics *m = q_server_metrics(req->server);
  int rc = DS_OK;
  if (m != NULL) {
    rc = metrics_requests(req, m);
    if (rc == DS_OK)
      rc = ds_buf_appendf(
          req->out,
          "# HELP devicestats_query_db_connections Open database connections (one per server "
          "thread at most).\n# TYPE devicestats_query_db_connections gauge\n"
          "devicestats_query_db_connections %d\n"
          "# HELP devicestats_query_db_pool_size Server threads, each with its own connection.\n"
          "# TYPE devicestats_query_db_pool_size gauge\ndevicestats_query_db_pool_size %lld\n"
          "# TYPE devicestats_query_db_connects_total counter\n"
          "devicestats_query_db_connects_total %llu\n"
          "# TYPE devicestats_query_db_connect_failures_total counter\n"
          "devicestats_query_db_connect_failures_total %llu\n"
          "# TYPE devicestats_query_db_connections_lost_total counter\n"
          "devicestats_query_db_connections_lost_total %llu\n"
          "# TYPE devicestats_query_budget_waiting gauge\n"
          "devicestats_query_budget_waiting %d\n"
          "# TYPE devicestats_query_published_total counter\n"
          "devicestats_query_published_total %llu\n"
          "# TYPE devicestats_query_publish_failures_total counter\n"
          "devicestats_query_publish_failures_total %llu\n"
          "# TYPE devicestats_query_broker_up gauge\ndevicestats_query_broker_up %d\n",
          atomic_load(&m->db_open), req->cfg->threads, atomic_load(&m->db_connects),
          atomic_load(&m->db_connect_fails), atomic_load(&m->db_lost),
          atomic_load(&m->budget_waiting), atomic_load(&m->publish_ok),
          atomic_load(&m->publish_fail), q_server_mqtt_up(req->server) ? 1 : 0);
  }
  struct ds_chunk_cache *cc = q_server_chunk_cache(req->server);
  if (rc == DS_OK && cc != NULL) {
    struct ds_chunk_cache_stats cs;
    ds_chunk_cache_stats(cc, &cs);
    rc = ds_buf_appendf(
        req->out,
        "# HELP devicestats_query_chunk_cache_hits_total Sample chunks read from the "
        "decoded-chunk cache.\n# TYPE devicestats_query_chunk_cache_hits_total counter\n"
        "devicestats_query_chunk_cache_hits_total %" PRIu64 "\n"
        "# HELP devicestats_query_chunk_cache_misses_total Sample chunks read from the "
        "database.\n# TYPE devicestats_query_chunk_cache_misses_total counter\n"
        "devicestats_query_chunk_cache_misses_total %" PRIu64 "\n"
        "# TYPE devicestats_query_chunk_cache_evictions_total counter\n"
        "devicestats_query_chunk_cache_evictions_total %" PRIu64 "\n"
        "# TYPE devicestats_query_chunk_cache_entries gauge\n"
        "devicestats_query_chunk_cache_entries %zu\n"
        "# TYPE devicestats_query_chunk_cache_bytes gauge\n"
        "devicestats_query_chunk_cache_bytes %zu\n"
        "# TYPE devicestats_query_chunk_cache_max_bytes gauge\n"
        "devicestats_query_chunk_cache_max_bytes %zu\n",
        cs.hits, cs.misses, cs.evictions, cs.entries, cs.bytes, cs.max_bytes);
  }
  if (rc == DS_OK && rej != NULL)
    rc = metrics_rejected(req->out, rej);
  if (rc == DS_OK)
    rc = ds_buf_appendf(req->out,
                        "# TYPE devicestats_query_db_up gauge\ndevicestats_query_db_up %d\n",
                        rej != NULL ? 1 : 0);
  PQclear(rej);
  return rc;
}

int q_h_openapi(struct q_req *req)
{
  return ds_buf_append(req->out, q_openapi_json, q_openapi_json_len);
}

int q_h_docs(struct q_req *req)
{
  req->content_type = "text/html; charset=utf-8";
  return ds_buf_append(req->out, q_docs_html, q_docs_html_len);
}
