/* The recalculation run record (recalc_runs) and its status event: read,
 * record and print a run's status (see ds/recalc_status.h). */
#include "ds/recalc_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/db.h"
#include "ds/jsonw.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
  snprintf(dst, cap, "%s", src != NULL ? src : "");
}

void ds_recalc_status_from_row(const PGresult *r, int row, struct ds_recalc_status *st)
{
  copy_str(st->request_id, sizeof st->request_id, PQgetvalue(r, row, 0));
  copy_str(st->state, sizeof st->state, PQgetvalue(r, row, 1));
  st->devices = strtoll(PQgetvalue(r, row, 2), NULL, 10);
  st->elapsed_ms = strtoll(PQgetvalue(r, row, 3), NULL, 10);
  copy_str(st->error, sizeof st->error, PQgetvalue(r, row, 4));
}

int ds_recalc_status_get(PGconn *conn, const char *request_id, struct ds_recalc_status *st,
                         char err[DS_ERRLEN])
{
  const char *p[1] = {request_id};
  PGresult *r = NULL;
  if (ds_db_exec(conn, DS_RECALC_STATUS_GET_SQL, 1, p, &r, err) != DS_OK)
    return DS_EDB;
  int rc = DS_ENOTFOUND;
  if (PQntuples(r) == 1) {
    ds_recalc_status_from_row(r, 0, st);
    rc = DS_OK;
  }
  PQclear(r);
  return rc;
}

int ds_recalc_status_record(PGconn *conn, const char *request_id, const char *command,
                            const char *error, const char *source, bool *inserted,
                            struct ds_recalc_status *st, char err[DS_ERRLEN])
{
  const char *p[5] = {request_id, command, error != NULL ? "failed" : "queued", error, source};
  PGresult *r = NULL;
  if (ds_db_exec(conn, DS_RECALC_STATUS_RECORD_SQL, 5, p, &r, err) != DS_OK)
    return DS_EDB;
  if (PQntuples(r) == 1) {
    ds_recalc_status_from_row(r, 0, st);
    *inserted = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
  } else {
    /* Recorded concurrently by another receiver and not visible yet. */
    memset(st, 0, sizeof *st);
    copy_str(st->request_id, sizeof st->request_id, request_id);
    copy_str(st->state, sizeof st->state, "queued");
    *inserted = false;
  }
  PQclear(r);
  return DS_OK;
}

int ds_recalc_status_json(struct ds_buf *b, const struct ds_recalc_status *st)
{
  struct ds_jsonw w;
  ds_jsonw_init(&w, b);
  ds_jsonw_object_begin(&w);
  ds_jsonw_key_str(&w, "request_id", st->request_id);
  ds_jsonw_key_str(&w, "state", st->state);
  ds_jsonw_key_int64(&w, "devices", st->devices);
  ds_jsonw_key_int64(&w, "elapsed_ms", st->elapsed_ms);
  if (strcmp(st->state, "failed") == 0)
    ds_jsonw_key_str(&w, "error", st->error);
  ds_jsonw_object_end(&w);
  return ds_jsonw_finish(&w);
}
