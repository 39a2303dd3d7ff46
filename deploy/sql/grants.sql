-- The services' database roles and what each may do (README § Security).
--
-- Not a numbered migration: scripts/lib/stack.sh (ds_db_grants) applies it
-- as the owner after the migrations at every start, in one transaction, so
-- it always matches the current schema.  It first takes every table
-- privilege away from the three roles, then grants exactly what follows; a
-- grant removed here is gone at the next start.  The roles themselves
-- (LOGIN, passwords) are made by ds_pg_ensure_roles as the superuser.
--
-- A new table is readable by the query service (it reads everything, also
-- tables a later migration creates: the default privileges below) and by
-- nobody else until it is granted here.  A migration that adds a table a
-- service writes must add the grant to this file.
--
-- Citus: GRANT on distributed tables is propagated to the workers by Citus;
-- the roles must exist on the workers too (Citus 11 propagates CREATE ROLE
-- made on the coordinator).

REVOKE ALL ON ALL TABLES IN SCHEMA public
  FROM devicestats_ingest, devicestats_query, devicestats_aggregator;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public
  FROM devicestats_ingest, devicestats_query, devicestats_aggregator;

-- ingest: stores samples (COPY), creates devices, keeps rejected messages
-- and its spool progress (same transaction as the samples).
GRANT SELECT, INSERT ON devices TO devicestats_ingest;
GRANT INSERT ON samples_recent TO devicestats_ingest;
GRANT INSERT ON rejected TO devicestats_ingest;
GRANT SELECT, INSERT, UPDATE ON ingest_progress TO devicestats_ingest;

-- query: reads everything; creates users, sets a device's owner, records
-- recalculation tasks.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO devicestats_query;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO devicestats_query;
GRANT INSERT ON users TO devicestats_query;
GRANT UPDATE (user_id) ON devices TO devicestats_query;
GRANT INSERT ON recalc_runs TO devicestats_query;

-- aggregator: reads samples, devices and users; compacts samples
-- (ds_compact, ds_merge_chunks: move rows from samples_recent into
-- sample_chunks under row locks, which need UPDATE); runs the recalculation
-- queue and writes snapshots.
GRANT SELECT ON devices, users TO devicestats_aggregator;
GRANT SELECT, UPDATE, DELETE ON samples_recent TO devicestats_aggregator;
GRANT SELECT, INSERT, UPDATE, DELETE ON sample_chunks TO devicestats_aggregator;
GRANT SELECT, INSERT, UPDATE ON recalc_runs, recalc_work TO devicestats_aggregator;
GRANT SELECT, INSERT, UPDATE ON device_snapshots, user_snapshots TO devicestats_aggregator;
