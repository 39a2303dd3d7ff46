/* The device routes: GET /devices (every device with its owner, sample
 * count and first/last sample time, optionally paged and filtered) and POST
 * /devices/{id}/data (samples over HTTP, published to the device's MQTT
 * topic for ingest). */
#include "query_devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/mqtt.h"
#include "ds/sample.h"
#include "ds/time.h"
#include "query_cfg.h"
#include "query_db.h"
#include "query_metrics.h"
#include "query_params.h"
#include "query_server.h"

/* A time column (Unix microseconds as text, or NULL) as a member. */
static void time_or_null(struct ds_jsonw *w, const char *key, PGresult *res, int row, int col)
{
  long long us;
  ds_jsonw_key(w, key);
  if (PQgetisnull(res, row, col) ||
      query_params_int(PQgetvalue(res, row, col), 0, DS_TIME_MAX_US, &us) != DS_OK)
    ds_jsonw_null(w);
  else
    query_http_json_time(w, us);
}

/* Largest page GET /devices?limit= gives. */
#define DEVICES_PAGE_MAX 10000

/* Per device: sample count, first and last time from the chunk metadata
 * (sum(n), min(first_ts), max(last_ts): the arrays are never read) plus the
 * small samples_recent table.  One statement, so a compaction moving rows
 * between the tables is seen before or after, never half-way: exact.  On
 * Citus both tables are read in one subquery (UNION ALL with device_id in
 * both arms, grouped by it), which Citus runs whole on each shard, one
 * snapshot there (EXPLAIN: one task per shard with both arms); two joined
 * subqueries were run as two separate steps and a compaction between them
 * counted its rows twice or not at all (GET /devices off by the rows being
 * moved, seen in citus_scenario_query).
 *
 * The whole list aggregates each table once (sequential scans, hash
 * aggregates): per-device index lookups would fetch every chunk's heap page
 * at random, measured 4x slower with 1M interleaved chunks.  A page (limit/
 * after) looks up only its own devices through the (device_id, ...)
 * indexes, so its cost does not grow with the other devices' data. */
#define DEVICES_SELECT                                                                             \
  " SELECT d.name, d.user_id, coalesce(s.n, 0),"                                                   \
  "  (extract(epoch FROM s.f) * 1000000)::int8, (extract(epoch FROM s.l) * 1000000)::int8"
/* The counts as a MATERIALIZED CTE: joined from the reference table
 * devices as a subquery, Citus planned the two arms as separate steps. */
#define DEVICES_SAMPLES(where)                                                                     \
  "WITH s AS MATERIALIZED (SELECT device_id, sum(n)::int8 n, min(f) f, max(l) l FROM ("            \
  "   SELECT device_id, sum(n) n, min(first_ts) f, max(last_ts) l FROM sample_chunks" where        \
  "    GROUP BY device_id"                                                                         \
  "   UNION ALL SELECT device_id, count(*), min(ts), max(ts) FROM samples_recent" where            \
  "    GROUP BY device_id) u GROUP BY device_id)"
static const char devices_all_sql[] = DEVICES_SAMPLES("") DEVICES_SELECT
    " FROM devices d LEFT JOIN s ON s.device_id = d.id ORDER BY d.name";
/* $1 after (NULL: from the first; '' sorts before every name and keeps the
 * bound an index condition in generic plans), $2 how many rows, $3 text the
 * name must contain (NULL: any).  The page's devices are named again inside
 * each arm (IN, not LATERAL: Citus refuses a lateral join from a reference
 * table to distributed ones), so each still looks up only its own devices. */
#define DEVICES_PAGE_IDS                                                                           \
  "(SELECT id FROM devices WHERE name > coalesce($1::text, '')"                                    \
  " AND ($3::text IS NULL OR strpos(name, $3::text) > 0) ORDER BY name LIMIT $2::int8)"
static const char devices_page_sql[] = DEVICES_SAMPLES(" WHERE device_id IN " DEVICES_PAGE_IDS)
    DEVICES_SELECT " FROM (SELECT id, name, user_id FROM devices"
                   "        WHERE name > coalesce($1::text, '')"
                   "          AND ($3::text IS NULL OR strpos(name, $3::text) > 0)"
                   "        ORDER BY name LIMIT $2::int8) d"
                   " LEFT JOIN s ON s.device_id = d.id ORDER BY d.name";

/* {"id": .., "owner": .., "count": .., "first": .., "last": ..} of row i. */
static void device_json(struct ds_jsonw *w, PGresult *res, int i)
{
  long long owner = 0, count = 0;
  ds_jsonw_object_begin(w);
  ds_jsonw_key_str(w, "id", PQgetvalue(res, i, 0));
  if (PQgetisnull(res, i, 1) ||
      query_params_int(PQgetvalue(res, i, 1), 0, INT64_MAX, &owner) != DS_OK)
    ds_jsonw_key_null(w, "owner");
  else
    ds_jsonw_key_int64(w, "owner", owner);
  if (query_params_int(PQgetvalue(res, i, 2), 0, INT64_MAX, &count) != DS_OK)
    count = 0; /* a bigint sum of counts: never negative */
  ds_jsonw_key_int64(w, "count", count);
  time_or_null(w, "first", res, i, 3);
  time_or_null(w, "last", res, i, 4);
  ds_jsonw_object_end(w);
}

int query_devices_list(struct query_http_req *req)
{
  long long limit;
  char err[DS_ERRLEN];
  const char *ls = query_http_query_param(req, "limit");
  const char *after = query_http_query_param(req, "after");
  const char *match = query_http_query_param(req, "match");
  if (query_params_limit(req, 0, DEVICES_PAGE_MAX, &limit, err) != DS_OK)
    return query_http_error(req, 400, "bad_request", err);
  if (after != NULL && !ds_device_id_valid(after, strlen(after)))
    return query_http_error(req, 400, "bad_device_id",
                            "after: a device id, 1-64 of A-Z a-z 0-9 _ . -");
  if (match != NULL && !ds_device_id_valid(match, strlen(match)))
    return query_http_error(req, 400, "bad_request",
                            "match: part of a device id, 1-64 of A-Z a-z 0-9 _ . -");
  bool paged = ls != NULL || after != NULL || match != NULL;
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  PGresult *res;
  if (paged) {
    /* One row past the page says whether there is a next one. */
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", ls != NULL ? limit + 1 : (long long)INT64_MAX);
    const char *vals[3] = {after, lim, match};
    res = query_db_exec(req, db, "query_devices_page", devices_page_sql, 3, vals, 0);
  } else {
    res = query_db_exec(req, db, "query_devices_list", devices_all_sql, 0, NULL, 0);
  }
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    int rc = query_db_fail(req, db, res);
    PQclear(res);
    return rc;
  }
  int rows = PQntuples(res);
  bool more = ls != NULL && rows > limit;
  if (more)
    rows = (int)limit;
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key(&w, "devices");
  ds_jsonw_array_begin(&w);
  for (int i = 0; i < rows; i++)
    device_json(&w, res, i);
  ds_jsonw_array_end(&w);
  /* Paged answers say where the next page starts (null after the last). */
  if (paged)
    ds_jsonw_key_str(&w, "next", more ? PQgetvalue(res, rows - 1, 0) : NULL);
  ds_jsonw_object_end(&w);
  PQclear(res);
  return query_http_json_end(req, &w);
}

int query_devices_post(struct query_http_req *req)
{
  const char *id = query_http_path_param(req, "id");
  if (id == NULL || !ds_device_id_valid(id, strlen(id)))
    return query_http_error(req, 400, "bad_device_id", "a device id is 1-64 of A-Z a-z 0-9 _ . -");
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
    return query_http_error(req, 400, why != DS_REJECT_NONE ? ds_reject_code(why) : "bad_payload",
                            err);
  if (req->mqtt == NULL || !ds_mqtt_is_connected(req->mqtt))
    return query_http_error(req, 503, "broker_unavailable", "the MQTT broker is unreachable");
  char topic[DS_DEVICE_ID_MAX + 16];
  snprintf(topic, sizeof topic, "devices/%s/data", id);
  struct query_metrics *m = query_server_metrics(req->server);
  rc = ds_mqtt_publish(req->mqtt, topic, req->body, req->body_len, 1, false,
                       (int)req->cfg->publish_timeout_ms, err);
  if (rc != DS_OK) {
    if (m != NULL)
      atomic_fetch_add(&m->publish_fail, 1);
    return query_http_error(req, 503, "broker_unavailable", err);
  }
  if (m != NULL)
    atomic_fetch_add(&m->publish_ok, 1);
  req->status = 202;
  struct ds_jsonw w;
  query_http_json_begin(req, &w);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key_int64(&w, "accepted", (int64_t)n);
  ds_jsonw_object_end(&w);
  return query_http_json_end(req, &w);
}
