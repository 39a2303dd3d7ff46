-- DeviceStats schema, version 3: recalculation runs, their work queue, and
-- the snapshots they produce (devicestats-aggregator).
--
-- How several aggregators cooperate (see docs/aggregator.md):
--  * recalc_runs is the queue of commands: whoever receives a command (MQTT
--    control/recalculate, or POST /tasks/recalculate) inserts a row in state
--    'queued'; request_id is the key, so a repeated command is not run twice.
--  * One run at a time is 'running'.  An aggregator starts the oldest queued
--    run under a transaction-level advisory lock: it decides which devices
--    need computing and inserts one recalc_work row per device (and per
--    user) in the same transaction.
--  * Every aggregator's workers claim pending work rows with
--    SELECT ... FOR UPDATE SKIP LOCKED and keep the transaction open while
--    computing the device, then mark the row done and commit with the
--    snapshot.  A killed aggregator's transaction is rolled back by the
--    server, so its row is pending again and another worker picks it up: no
--    lease is needed and a device is never computed twice in one run.
--  * Whoever sees a running run with no pending work marks it done (or
--    failed), so a run is never left 'running' while an aggregator lives.

CREATE TABLE recalc_runs (
  request_id      text PRIMARY KEY CHECK (length(request_id) BETWEEN 1 AND 128),
  seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- queue order
  command         text NOT NULL,           -- the payload as received
  state           text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
  full_run        boolean NOT NULL DEFAULT false,
  devices_total   integer NOT NULL DEFAULT 0, -- devices planned
  devices_done    integer NOT NULL DEFAULT 0, -- devices computed so far
  error           text,
  source          text NOT NULL DEFAULT '', -- who recorded it (client id, "http", "schedule")
  started_by      text,                     -- the aggregator that planned it
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  elapsed_ms      bigint,
  progress_at     timestamptz               -- last progress event (throttle)
);
CREATE INDEX recalc_runs_active_idx ON recalc_runs (seq) WHERE state IN ('queued', 'running');

-- kind 'd': key is devices.id; kind 'u': key is users.id.
CREATE TABLE recalc_work (
  request_id   text NOT NULL REFERENCES recalc_runs (request_id) ON DELETE CASCADE,
  kind         "char" NOT NULL CHECK (kind IN ('d', 'u')),
  key          integer NOT NULL,
  state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
  computed_by  text,        -- client id of the aggregator that computed it
  done_at      timestamptz,
  samples      bigint,
  error        text,
  PRIMARY KEY (request_id, kind, key)
);
CREATE INDEX recalc_work_pending_idx ON recalc_work (request_id, kind, key) WHERE state = 'pending';

-- The latest all-time statistics of each device.  sample_count is how many
-- samples they cover: samples are only ever added, so a device whose
-- current count differs has new samples (backfilled ones included).
CREATE TABLE device_snapshots (
  device_id     integer PRIMARY KEY REFERENCES devices (id),
  request_id    text,
  computed_at   timestamptz NOT NULL,
  last_ts       timestamptz,            -- newest sample covered
  sample_count  bigint NOT NULL,
  x_count bigint NOT NULL, x_min double precision, x_max double precision,
  x_sum double precision, x_median double precision,
  y_count bigint NOT NULL, y_min double precision, y_max double precision,
  y_sum double precision, y_median double precision,
  z_count bigint NOT NULL, z_min double precision, z_max double precision,
  z_sum double precision, z_median double precision
);

-- The latest all-time statistics of all of a user's devices together.
-- device_ids (sorted) tells whether the set of devices changed since.
CREATE TABLE user_snapshots (
  user_id       integer PRIMARY KEY REFERENCES users (id),
  request_id    text,
  computed_at   timestamptz NOT NULL,
  last_ts       timestamptz,
  sample_count  bigint NOT NULL,
  device_ids    integer[] NOT NULL,
  x_count bigint NOT NULL, x_min double precision, x_max double precision,
  x_sum double precision, x_median double precision,
  y_count bigint NOT NULL, y_min double precision, y_max double precision,
  y_sum double precision, y_median double precision,
  z_count bigint NOT NULL, z_min double precision, z_max double precision,
  z_sum double precision, z_median double precision
);

-- Current sample count of a device: compacted chunks plus recent rows.
CREATE FUNCTION ds_device_count(p_device integer) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT sum(n) FROM sample_chunks WHERE device_id = p_device), 0)
       + (SELECT count(*) FROM samples_recent WHERE device_id = p_device);
$$;
