/* Ingest's admin endpoint (see ingest_admin.h). */
#include "ingest_admin.h"

#include <inttypes.h>
#include <stdio.h>

bool ingest_admin_health(void *ctx, char *detail, size_t cap)
{
  struct ingest_admin_ctx *a = ctx;
  bool mq = atomic_load(&a->counters->mqtt_up), db = atomic_load(&a->counters->db_up);
  if (!mq || !db)
    snprintf(detail, cap, "%s",
             !mq && !db ? "broker and database are down"
             : !mq      ? "broker is down"
                        : "database is down (messages wait in the spool)");
  return mq && db;
}

int ingest_admin_metrics(void *ctx, struct ds_buf *out)
{
  struct ingest_admin_ctx *a = ctx;
  const struct ingest_counters *c = a->counters;
  struct ingest_spool_stats st;
  ingest_spool_stats(a->spool, &st);
  static const char *const counter_help[][2] = {
      {"received", "Messages taken from the broker."},
      {"duplicates", "Redelivered messages recognised and not stored again."},
      {"accepted", "Samples decoded."},
      {"rejected", "Messages rejected (kept in the rejected table)."},
      {"stored", "Samples committed."},
      {"batches", "Batches committed."},
      {"flush_failures", "Storing attempts that failed (retried)."},
  };
  uint64_t v[] = {atomic_load(&c->received),      atomic_load(&c->duplicates),
                  atomic_load(&c->accepted),      atomic_load(&c->rejected),
                  atomic_load(&c->stored),        atomic_load(&c->batches),
                  atomic_load(&c->flush_failures)};
  int rc = DS_OK;
  for (size_t i = 0; rc == DS_OK && i < sizeof v / sizeof v[0]; i++)
    rc = ds_buf_appendf(out,
                        "# HELP devicestats_ingest_%s_total %s\n"
                        "# TYPE devicestats_ingest_%s_total counter\n"
                        "devicestats_ingest_%s_total %" PRIu64 "\n",
                        counter_help[i][0], counter_help[i][1], counter_help[i][0],
                        counter_help[i][0], v[i]);
  if (rc == DS_OK)
    rc = ds_buf_appendf(
        out,
        "# HELP devicestats_ingest_spool_pending Spooled messages not yet stored.\n"
        "# TYPE devicestats_ingest_spool_pending gauge\n"
        "devicestats_ingest_spool_pending %" PRIu64 "\n"
        "# HELP devicestats_ingest_spool_bytes Bytes in the spool's segments.\n"
        "# TYPE devicestats_ingest_spool_bytes gauge\n"
        "devicestats_ingest_spool_bytes %" PRIu64 "\n"
        "# HELP devicestats_ingest_spool_unsynced Messages acknowledged but not yet fdatasynced.\n"
        "# TYPE devicestats_ingest_spool_unsynced gauge\n"
        "devicestats_ingest_spool_unsynced %" PRIu64 "\n"
        "# HELP devicestats_ingest_spool_full_waits_total Messages that waited for room.\n"
        "# TYPE devicestats_ingest_spool_full_waits_total counter\n"
        "devicestats_ingest_spool_full_waits_total %" PRIu64 "\n"
        "# TYPE devicestats_ingest_broker_up gauge\n"
        "devicestats_ingest_broker_up %d\n"
        "# TYPE devicestats_ingest_db_up gauge\n"
        "devicestats_ingest_db_up %d\n",
        st.next_seq - 1 - st.committed_seq, st.bytes, st.unsynced, st.full_waits,
        atomic_load(&c->mqtt_up) ? 1 : 0, atomic_load(&c->db_up) ? 1 : 0);
  return rc;
}
