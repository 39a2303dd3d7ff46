/* The aggregator's admin endpoint (see agg_admin.h). */
#include "agg_admin.h"

#include <stdio.h>
#include <stdlib.h>

void agg_admin_gauges_init(struct agg_admin_gauges *g)
{
  atomic_init(&g->mqtt_up, false);
  atomic_init(&g->db_up, false);
  atomic_init(&g->runs_done, 0);
  atomic_init(&g->runs_failed, 0);
  atomic_init(&g->run_ms_sum, 0);
  atomic_init(&g->last_run_ms, -1);
  atomic_init(&g->runs_queued, -1);
  atomic_init(&g->runs_running, -1);
  atomic_init(&g->work_pending, -1);
}

void agg_admin_run_finished(struct agg_admin_gauges *g, bool done, long long elapsed_ms)
{
  atomic_fetch_add(done ? &g->runs_done : &g->runs_failed, 1);
  atomic_fetch_add(&g->run_ms_sum, elapsed_ms);
  atomic_store(&g->last_run_ms, elapsed_ms);
}

int agg_admin_poll_queue(PGconn *c, struct agg_admin_gauges *g, char err[DS_ERRLEN])
{
  /* Both counts use the tables' partial indexes on active rows. */
  static const char sql[] =
      "SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'running'),"
      " (SELECT count(*) FROM recalc_work WHERE state = 'pending')"
      " FROM recalc_runs WHERE state IN ('queued', 'running')";
  PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
  int rc = DS_OK;
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    snprintf(err, DS_ERRLEN, "queue counts: %s", PQerrorMessage(c));
    rc = DS_EDB;
  } else {
    atomic_store(&g->runs_queued, strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    atomic_store(&g->runs_running, strtoll(PQgetvalue(r, 0, 1), NULL, 10));
    atomic_store(&g->work_pending, strtoll(PQgetvalue(r, 0, 2), NULL, 10));
  }
  PQclear(r);
  return rc;
}

bool agg_admin_health(void *ctx, char *detail, size_t cap)
{
  struct agg_admin_ctx *a = ctx;
  bool mq = atomic_load(&a->g->mqtt_up), db = atomic_load(&a->g->db_up);
  if (!mq || !db)
    snprintf(detail, cap, "%s",
             !mq && !db ? "broker and database are down"
             : !mq      ? "broker is down (commands wait there)"
                        : "database is down");
  return mq && db;
}

static int counter(struct ds_buf *out, const char *name, const char *help, long long v)
{
  return ds_buf_appendf(out,
                        "# HELP devicestats_aggregator_%s %s\n"
                        "# TYPE devicestats_aggregator_%s counter\n"
                        "devicestats_aggregator_%s %lld\n",
                        name, help, name, name, v);
}

static int gauge(struct ds_buf *out, const char *name, const char *help, long long v)
{
  return ds_buf_appendf(out,
                        "# HELP devicestats_aggregator_%s %s\n"
                        "# TYPE devicestats_aggregator_%s gauge\n"
                        "devicestats_aggregator_%s %lld\n",
                        name, help, name, name, v);
}

int agg_admin_metrics(void *ctx, struct ds_buf *out)
{
  struct agg_admin_ctx *a = ctx;
  struct agg_admin_gauges *g = a->g;
  long long w[6] = {0};
  for (long long i = 0; i < a->nworkers; i++) {
    struct agg_worker_counters *c = &a->workers[i].counters;
    w[0] += atomic_load(&c->devices);
    w[1] += atomic_load(&c->users);
    w[2] += atomic_load(&c->failed);
    w[3] += atomic_load(&c->samples);
    w[4] += atomic_load(&c->compacted_rows);
    w[5] += atomic_load(&c->db_errors);
  }
  long long done = atomic_load(&g->runs_done), failed = atomic_load(&g->runs_failed);
  long long last = atomic_load(&g->last_run_ms);
  int rc = counter(out, "commands_total", "Commands taken from control/recalculate.",
                   atomic_load(a->commands));
  if (rc == DS_OK)
    rc = counter(out, "commands_malformed_total", "Commands that could not be parsed.",
                 atomic_load(a->malformed));
  if (rc == DS_OK)
    rc = counter(out, "commands_duplicate_total", "Commands whose request_id was known.",
                 atomic_load(a->duplicates));
  if (rc == DS_OK)
    rc = ds_buf_appendf(out,
                        "# HELP devicestats_aggregator_runs_total Runs finished here, by state.\n"
                        "# TYPE devicestats_aggregator_runs_total counter\n"
                        "devicestats_aggregator_runs_total{state=\"done\"} %lld\n"
                        "devicestats_aggregator_runs_total{state=\"failed\"} %lld\n"
                        "# HELP devicestats_aggregator_run_duration_seconds Runs finished here.\n"
                        "# TYPE devicestats_aggregator_run_duration_seconds summary\n"
                        "devicestats_aggregator_run_duration_seconds_sum %.3f\n"
                        "devicestats_aggregator_run_duration_seconds_count %lld\n",
                        done, failed, (double)atomic_load(&g->run_ms_sum) / 1000.0, done + failed);
  if (rc == DS_OK && last >= 0)
    rc = ds_buf_appendf(out,
                        "# HELP devicestats_aggregator_last_run_duration_seconds The last run "
                        "finished here.\n"
                        "# TYPE devicestats_aggregator_last_run_duration_seconds gauge\n"
                        "devicestats_aggregator_last_run_duration_seconds %.3f\n",
                        (double)last / 1000.0);
  if (rc == DS_OK)
    rc = counter(out, "devices_computed_total", "Device snapshots computed.", w[0]);
  if (rc == DS_OK)
    rc = counter(out, "users_computed_total", "User snapshots computed.", w[1]);
  if (rc == DS_OK)
    rc = counter(out, "items_failed_total", "Work items that failed.", w[2]);
  if (rc == DS_OK)
    rc = counter(out, "samples_read_total", "Samples read to compute snapshots.", w[3]);
  if (rc == DS_OK)
    rc = counter(out, "compacted_rows_total", "Recent rows moved into chunks.", w[4]);
  if (rc == DS_OK)
    rc = counter(out, "db_errors_total", "Database errors of the workers.", w[5]);
  if (rc == DS_OK)
    rc = counter(out, "status_published_total", "Status events published.",
                 atomic_load(a->published));
  if (rc == DS_OK)
    rc = counter(out, "status_publish_failed_total", "Status events that could not be published.",
                 atomic_load(a->publish_failed));
  /* The queue is read every few seconds by the main thread; absent until then. */
  long long q = atomic_load(&g->runs_queued), r = atomic_load(&g->runs_running),
            p = atomic_load(&g->work_pending);
  if (rc == DS_OK && q >= 0)
    rc = gauge(out, "runs_queued", "Runs waiting to start (all aggregators).", q);
  if (rc == DS_OK && r >= 0)
    rc = gauge(out, "runs_running", "Runs under way (all aggregators).", r);
  if (rc == DS_OK && p >= 0)
    rc = gauge(out, "work_items_pending", "Devices and users left to compute in running runs.", p);
  if (rc == DS_OK)
    rc = gauge(out, "workers", "Computing threads.", a->nworkers);
  if (rc == DS_OK)
    rc = gauge(out, "broker_up", "Subscriber and status publisher connected.",
               atomic_load(&g->mqtt_up) ? 1 : 0);
  if (rc == DS_OK)
    rc = gauge(out, "db_up", "The main database connection works.", atomic_load(&g->db_up) ? 1 : 0);
  return rc;
}
