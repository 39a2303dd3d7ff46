-- DeviceStats schema, version 6: one schema for plain PostgreSQL and Citus.
--
-- On plain PostgreSQL this file only replaces three functions with
-- equivalent ones and adds device_key to the device_samples view.  When the
-- citus extension is present in the database (DEVICESTATS_DB=citus:
-- scripts/run.sh and the test harness create it, as a superuser, before the
-- migrations run), ds_citus_distribute() also distributes the tables:
--  * samples_recent, sample_chunks, device_snapshots by device_id and
--    recalc_work by key, co-located, so that a device's samples, chunks,
--    snapshot and work item sit in one shard group and every statement
--    naming one device runs on one worker;
--  * user_snapshots by user_id (co-located; a user's snapshot is one row);
--  * users, devices and recalc_runs as reference tables (a copy on every
--    node: joined with everything, written rarely);
--  * rejected, ingest_progress, schema_migrations stay plain tables on the
--    coordinator (operators' records, written with a batch or once).
-- A database that was created on plain PostgreSQL and moved to Citus later
-- is distributed by calling SELECT ds_citus_distribute() once (as its
-- owner, after CREATE EXTENSION citus and adding the workers).

-- Citus cannot plan LANGUAGE sql functions whose statements use the
-- function's parameters ("could not create distributed plan"); PL/pgSQL
-- passes them as values.  The statements are those of 001 and 004, with the
-- device in every one (Citus routes each to the device's shard), and serve
-- plain PostgreSQL too.
CREATE OR REPLACE FUNCTION ds_compact(p_device integer, p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  moved integer;
BEGIN
  WITH moved AS (
    DELETE FROM samples_recent
     WHERE device_id = p_device
       AND ctid = ANY (ARRAY(
             SELECT ctid FROM samples_recent
              WHERE device_id = p_device
              ORDER BY ts
              LIMIT p_max
              FOR UPDATE SKIP LOCKED))
    RETURNING ts, x, y, z
  ), ins AS (
    INSERT INTO sample_chunks (device_id, first_ts, last_ts, n, ts, x, y, z)
    SELECT p_device, min(ts), max(ts), count(*),
           array_agg(ts ORDER BY ts, x, y, z),
           array_agg(x ORDER BY ts, x, y, z),
           array_agg(y ORDER BY ts, x, y, z),
           array_agg(z ORDER BY ts, x, y, z)
      FROM moved
    HAVING count(*) > 0
    RETURNING n
  )
  SELECT coalesce((SELECT n FROM ins), 0) INTO moved;
  RETURN moved;
END
$$;

CREATE OR REPLACE FUNCTION ds_merge_chunks(p_device integer, p_target integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  taken integer;
BEGIN
  WITH picked AS MATERIALIZED (
    SELECT chunk_id FROM sample_chunks
     WHERE device_id = p_device AND p_target > 1 AND n < p_target / 2
     ORDER BY first_ts, chunk_id
     LIMIT 64
     FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM sample_chunks
     WHERE device_id = p_device
       AND chunk_id = ANY (ARRAY(SELECT chunk_id FROM picked))
       AND (SELECT count(*) FROM picked) >= 2
    RETURNING ts, x, y, z
  ), numbered AS (
    SELECT u.ts, u.x, u.y, u.z,
           (row_number() OVER (ORDER BY u.ts, u.x, u.y, u.z) - 1) / p_target AS part
      FROM gone, unnest(gone.ts, gone.x, gone.y, gone.z) AS u (ts, x, y, z)
  ), ins AS (
    INSERT INTO sample_chunks (device_id, first_ts, last_ts, n, ts, x, y, z)
    SELECT p_device, min(ts), max(ts), count(*),
           array_agg(ts ORDER BY ts, x, y, z),
           array_agg(x ORDER BY ts, x, y, z),
           array_agg(y ORDER BY ts, x, y, z),
           array_agg(z ORDER BY ts, x, y, z)
      FROM numbered
     GROUP BY part
    RETURNING n
  )
  SELECT count(*)::integer INTO taken FROM gone;
  RETURN taken;
END
$$;

CREATE OR REPLACE FUNCTION ds_device_count(p_device integer) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN coalesce((SELECT sum(n) FROM sample_chunks WHERE device_id = p_device), 0)
       + (SELECT count(*) FROM samples_recent WHERE device_id = p_device);
END
$$;

-- Distributes the tables when the citus extension is here (see the top).
-- Does nothing without Citus or when already done.  The view depends on the
-- sample tables, so it is dropped first and created again below (created
-- after the distribution, Citus knows it and pushes queries on it down to
-- the shards).
CREATE OR REPLACE FUNCTION ds_citus_distribute() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'samples_recent'::regclass) THEN
    RETURN false;
  END IF;
  DROP VIEW IF EXISTS device_samples;
  -- A foreign key from a distributed table to a reference table makes Citus
  -- run every later statement of a transaction over one connection per node
  -- and refuse to write the reference table after a parallel read
  -- ("cannot modify table recalc_runs because there was a parallel
  -- operation"): the aggregator does both.  Nothing deletes runs, so the
  -- cascade never acted; work rows are only inserted for the run the same
  -- transaction starts.
  ALTER TABLE recalc_work DROP CONSTRAINT IF EXISTS recalc_work_request_id_fkey;
  PERFORM create_reference_table('users');
  PERFORM create_reference_table('devices');
  PERFORM create_reference_table('recalc_runs');
  PERFORM create_distributed_table('samples_recent', 'device_id', colocate_with => 'none');
  PERFORM create_distributed_table('sample_chunks', 'device_id', colocate_with => 'samples_recent');
  PERFORM create_distributed_table('device_snapshots', 'device_id', colocate_with => 'samples_recent');
  PERFORM create_distributed_table('recalc_work', 'key', colocate_with => 'samples_recent');
  PERFORM create_distributed_table('user_snapshots', 'user_id', colocate_with => 'samples_recent');
  RETURN true;
END
$$;

SELECT ds_citus_distribute();

-- The view of 001 with the integer key as a sixth column: a tool that
-- filters by device_key reaches one shard on Citus (by the name, every
-- shard).  The first five columns are unchanged.
CREATE OR REPLACE VIEW device_samples AS
  SELECT d.name AS device_id, r.ts, r.x, r.y, r.z, r.device_id AS device_key
    FROM samples_recent r JOIN devices d ON d.id = r.device_id
  UNION ALL
  SELECT d.name AS device_id, u.ts, u.x, u.y, u.z, c.device_id AS device_key
    FROM sample_chunks c JOIN devices d ON d.id = c.device_id,
         unnest(c.ts, c.x, c.y, c.z) AS u (ts, x, y, z);
