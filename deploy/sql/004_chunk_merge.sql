-- DeviceStats schema, version 4: merging small sample chunks.
--
-- Every compaction adds one chunk (001_init.sql, ds_compact), however few
-- rows it moved: a device sampled once a second and compacted every five
-- minutes gets 300-sample chunks, and recalculations compact even fewer.
-- Each chunk row costs a tuple header, four array headers, four TOAST
-- pointers, index entries and partly filled TOAST pages, and readers fetch
-- it separately.  ds_merge_chunks rewrites a device's small chunks into
-- chunks of p_target samples.

-- Merges some of a device's small chunks (n < p_target / 2): takes up to 64
-- of them, oldest first_ts first, that no other transaction has locked, and
-- when it got at least two, replaces them with chunks of exactly p_target
-- samples plus one remainder, cut from all their samples in (ts, x, y, z)
-- order.  Returns how many chunks it took (0: nothing to do).  Call it until
-- it returns 0 to merge everything; each call leaves fewer small chunks.
--
-- One statement: readers see the old chunks or the new ones, never both.
-- Concurrent mergers and compactors skip each other's chunks (row locks held
-- to the end of the caller's transaction).  Every sample moves exactly once,
-- and the four arrays share one total order so they stay aligned.  At most
-- 64 * p_target / 2 samples are rewritten per call.
CREATE FUNCTION ds_merge_chunks(p_device integer, p_target integer) RETURNS integer
LANGUAGE sql AS $$
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
  -- ins runs whether or not it is referenced (a data-modifying WITH).
  SELECT count(*)::integer FROM gone;
$$;
