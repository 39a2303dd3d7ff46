/* The user routes: POST /users (a new user) and PUT
 * /users/{uid}/devices/{id} (a device's owner).  A user's statistics,
 * GET /users/{uid}/data, are a statistics route: query_stats.c. */
#include "query_users.h"

#include <stdio.h>
#include <string.h>

#include "ds/json.h"
#include "ds/sample.h"
#include "query_cfg.h"
#include "query_db.h"
#include "query_params.h"

#define USER_NAME_MAX 200

int query_users_create(struct query_http_req *req)
{
  struct json_object *o = NULL;
  char err[DS_ERRLEN] = "";
  int rc = ds_json_parse(req->body != NULL ? req->body : "", req->body_len,
                         (size_t)req->cfg->body_max, &o, err);
  if (rc != DS_OK)
    return query_http_error(req, 400, "bad_json", err);
  const char *name = NULL;
  size_t len = 0;
  if (ds_json_get_string(o, "name", &name, &len) != DS_OK || len == 0 || len > USER_NAME_MAX ||
      memchr(name, '\0', len) != NULL) {
    json_object_put(o);
    return query_http_error(req, 400, "bad_request",
                            "body must be {\"name\": \"1-200 characters\"}");
  }
  PGconn *db = query_db_conn(req);
  if (db == NULL) {
    json_object_put(o);
    return DS_OK;
  }
  const char *vals[1] = {name};
  long long id;
  PGresult *res = query_db_exec(req, db, "query_users_create",
                                "INSERT INTO users (name) VALUES ($1) RETURNING id", 1, vals, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    rc = query_db_fail(req, db, res);
  } else if (query_params_int(PQgetvalue(res, 0, 0), 1, INT32_MAX, &id) != DS_OK) {
    rc = query_http_error(req, 500, "internal", "bad user id");
  } else {
    req->status = 201;
    struct ds_jsonw w;
    query_http_json_begin(req, &w);
    ds_jsonw_object_begin(&w);
    ds_jsonw_key_int64(&w, "id", id);
    ds_jsonw_key(&w, "name");
    ds_jsonw_strn(&w, name, len);
    ds_jsonw_object_end(&w);
    rc = query_http_json_end(req, &w);
  }
  PQclear(res);
  json_object_put(o);
  return rc;
}

int query_users_assign_device(struct query_http_req *req)
{
  long long uid;
  const char *id = query_http_path_param(req, "id");
  if (query_params_int(query_http_path_param(req, "uid"), 1, INT32_MAX, &uid) != DS_OK)
    return query_http_error(req, 400, "bad_user_id", "a user id is a positive integer");
  if (id == NULL || !ds_device_id_valid(id, strlen(id)))
    return query_http_error(req, 400, "bad_device_id", "a device id is 1-64 of A-Z a-z 0-9 _ . -");
  PGconn *db = query_db_conn(req);
  if (db == NULL)
    return DS_OK;
  char uids[24];
  snprintf(uids, sizeof uids, "%lld", uid);
  const char *vals[2] = {uids, id};
  PGresult *res =
      query_db_exec(req, db, "query_users_assign_device",
                    "WITH u AS (SELECT id FROM users WHERE id = $1::int4),"
                    " upd AS (UPDATE devices SET user_id = (SELECT id FROM u)"
                    "          WHERE name = $2 AND EXISTS (SELECT 1 FROM u) RETURNING id)"
                    " SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM upd)",
                    2, vals, 0);
  int rc;
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    rc = query_db_fail(req, db, res);
  } else if (PQgetvalue(res, 0, 0)[0] != 't') {
    rc = query_http_error(req, 404, "not_found", "unknown user");
  } else if (PQgetvalue(res, 0, 1)[0] != 't') {
    rc = query_http_error(req, 404, "not_found", "unknown device");
  } else {
    struct ds_jsonw w;
    query_http_json_begin(req, &w);
    ds_jsonw_object_begin(&w);
    ds_jsonw_key_int64(&w, "user_id", uid);
    ds_jsonw_key_str(&w, "device_id", id);
    ds_jsonw_object_end(&w);
    rc = query_http_json_end(req, &w);
  }
  PQclear(res);
  return rc;
}
