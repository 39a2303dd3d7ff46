/* The operations routes: GET /rejected (the latest rejected messages),
 * GET /health, GET /metrics (Prometheus text, query_metrics.c), GET
 * /openapi.json and GET /docs (both embedded at build time). */
#include "query_ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ds/db.h"
#include "ds/mqtt.h"
#include "ds/time.h"
#include "ds/utf8.h"
#include "query_budget.h"
#include "query_cfg.h"
#include "query_db.h"
#include "query_metrics.h"
#include "query_params.h"
#include "query_server.h"

/* Appends the base64 text (RFC 4648, padded) of s[0..len) to b. */
static int append_base64(struct ds_buf *b, const unsigned char *s, size_t len)
{
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int rc = ds_buf_reserve(b, (len + 2) / 3 * 4);
  char q[4];
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
  return rc;
}

/* One rejected message of row i: its payload as text when it is valid
 * UTF-8, else base64 (made in scratch).  DS_OK or scratch's error. */
static int rejected_json(struct ds_jsonw *w, PGresult *res, int i, struct ds_buf *scratch)
{
  int64_t id = (int64_t)ds_buf_get_be64(PQgetvalue(res, i, 0));
  int64_t at = ds_pg_ts_to_unix((int64_t)ds_buf_get_be64(PQgetvalue(res, i, 1)));
  uint32_t size = ds_buf_get_be32(PQgetvalue(res, i, 4));
  const char *payload = PQgetvalue(res, i, 3);
  size_t plen = (size_t)PQgetlength(res, i, 3);
  bool text = ds_utf8_valid((const unsigned char *)payload, plen);
  ds_jsonw_object_begin(w);
  ds_jsonw_key_int64(w, "id", id);
  ds_jsonw_key(w, "received_at");
  query_http_json_time(w, at);
  ds_jsonw_key(w, "topic");
  ds_jsonw_strn(w, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
  ds_jsonw_key_str(w, "payload_encoding", text ? "utf8" : "base64");
  ds_jsonw_key(w, "payload");
  if (text) {
    ds_jsonw_strn(w, payload, plen);
  } else {
    ds_buf_reset(scratch);
    int rc = append_base64(scratch, (const unsigned char *)payload, plen);
    if (rc != DS_OK)
      return rc;
    ds_jsonw_strn(w, scratch->data, scratch->len);
  }
  ds_jsonw_key_int64(w, "payload_size", size);
  ds_jsonw_key(w, "reason");
  ds_jsonw_strn(w, PQgetvalue(res, i, 5), (size_t)PQgetlength(res, i, 5));
  ds_jsonw_object_end(w);
  return DS_OK;
}

int query_ops_rejected(struct query_http_req *req)
{
  long long limit;
  char err[DS_ERRLEN];
  if (query_params_limit(req, 100, req->cfg->rejected_max, &limit, err) != DS_OK)
    return query_http_error(req, 400, "bad_request", err);
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  char lim[24];
  snprintf(lim, sizeof lim, "%lld", limit);
  const char *vals[1] = {lim};
  /* Binary results: payload arrives as raw bytes. */
  PGresult *res = query_db_exec(req, db, "query_ops_rejected",
                                "SELECT id, received_at, topic, payload, payload_size, reason"
                                " FROM rejected ORDER BY id DESC LIMIT $1::int8",
                                1, vals, 1);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    int rc = query_db_fail(req, db, res);
    PQclear(res);
    return rc;
  }
  for (int i = 0; i < PQntuples(res); i++)
    if (PQgetlength(res, i, 0) != 8 || PQgetlength(res, i, 1) != 8 || PQgetlength(res, i, 4) != 4) {
      PQclear(res);
      return query_http_error(req, 500, "internal", "unexpected rejected row");
    }
  struct ds_buf scratch;
  ds_buf_init(&scratch, (size_t)req->out->max);
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key(&w, "rejected");
  ds_jsonw_array_begin(&w);
  int rc = DS_OK;
  for (int i = 0; rc == DS_OK && i < PQntuples(res); i++)
    rc = rejected_json(&w, res, i, &scratch);
  ds_jsonw_array_end(&w);
  ds_jsonw_object_end(&w);
  if (rc == DS_OK)
    rc = query_http_json_end(req, &w);
  ds_buf_cleanup(&scratch);
  PQclear(res);
  return rc;
}

int query_ops_health(struct query_http_req *req)
{
  /* A probe result up to a second old is good enough for a health check,
   * and keeps a /health flood off the database. */
  bool db_up = query_db_health_fresh(req, 1000);
  PGconn *db = db_up ? NULL : query_db_conn(req);
  if (db != NULL) {
    PGresult *res = query_db_exec(req, db, "query_ops_health", "SELECT 1", 0, NULL, 0);
    db_up = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (db_up)
      query_db_health_mark(req);
    else
      (void)query_db_fail(req, db, res);
    PQclear(res);
  }
  /* The keeper's view (refreshed every server-loop turn, 250 ms) rather
   * than asking Paho, whose client mutex the keeper and publishers share. */
  bool mq_up = req->server != NULL ? query_server_mqtt_up(req->server)
                                   : req->mqtt != NULL && ds_mqtt_is_connected(req->mqtt);
  ds_buf_reset(req->out);
  req->status = db_up && mq_up ? 200 : 503;
  req->content_type = "application/json";
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  if (req->status == 200) {
    ds_jsonw_key_str(&w, "status", "ok");
  } else {
    ds_jsonw_key_str(&w, "status", "unavailable");
    ds_jsonw_key_str(&w, "error", "unavailable");
    ds_jsonw_key_str(&w, "detail",
                     !db_up && !mq_up ? "database and broker are down"
                     : !db_up         ? "database is down"
                                      : "broker is down");
  }
  ds_jsonw_key_str(&w, "database", db_up ? "up" : "down");
  ds_jsonw_key_str(&w, "broker", mq_up ? "up" : "down");
  ds_jsonw_object_end(&w);
  return query_http_json_end(req, &w);
}

/* Rows for /metrics from the database: statement name, SQL (no
 * parameters).  NULL while the database is down (then db_up says 0). */
static PGresult *metrics_rows(struct query_http_req *req, const char *name, const char *sql)
{
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return NULL;
  PGresult *res = query_db_exec(req, db, name, sql, 0, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    (void)query_db_fail(req, db, res);
    PQclear(res);
    res = NULL;
  }
  return res;
}

int query_ops_metrics(struct query_http_req *req)
{
  /* Rejected messages by reason code (ingest stores them), and each ingest
   * instance's progress through its spool (written with every batch). */
  PGresult *rej = metrics_rows(req, "query_ops_rejected_counts",
                               "SELECT split_part(reason, ':', 1), count(*) FROM rejected"
                               " GROUP BY 1 ORDER BY 1");
  PGresult *prog = rej == NULL
                       ? NULL
                       : metrics_rows(req, "query_ops_ingest_progress",
                                      "SELECT instance, seq, duplicates,"
                                      " extract(epoch FROM updated_at)::bigint FROM ingest_progress"
                                      " ORDER BY instance");
  /* query_db_conn/query_db_fail may have written a JSON error: metrics
   * stay 200 text. */
  ds_buf_reset(req->out);
  req->status = 200;
  req->content_type = "text/plain; version=0.0.4; charset=utf-8";
  const struct query_metrics *m = query_server_metrics(req->server);
  int rc = DS_OK;
  if (m != NULL)
    rc = query_metrics_write_requests(req->out, m);
  if (rc == DS_OK && m != NULL)
    rc = query_metrics_write_service(req->out, m, req->cfg->threads,
                                     query_budget_waiting(query_server_budget(req->server)),
                                     query_server_mqtt_up(req->server));
  if (rc == DS_OK)
    rc = query_metrics_write_chunk_cache(req->out, query_server_chunk_cache(req->server));
  if (rc == DS_OK)
    rc = query_metrics_write_db(req->out, rej);
  if (rc == DS_OK)
    rc = query_metrics_write_ingest(req->out, prog);
  PQclear(rej);
  PQclear(prog);
  return rc;
}

int query_ops_openapi(struct query_http_req *req)
{
  return ds_buf_append(req->out, query_ops_openapi_json, query_ops_openapi_json_len);
}

int query_ops_docs(struct query_http_req *req)
{
  req->content_type = "text/html; charset=utf-8";
  return ds_buf_append(req->out, query_ops_docs_html, query_ops_docs_html_len);
}
