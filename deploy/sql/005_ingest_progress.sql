-- Ingest's progress through its durable spool: per instance (its MQTT
-- client id), the spool's id and the sequence number of the last spool
-- record whose samples are stored.  Written in the same transaction as the
-- samples, so a batch is stored exactly once (docs/ingest.md).
CREATE TABLE IF NOT EXISTS ingest_progress (
    instance    text PRIMARY KEY,
    spool_id    text NOT NULL,
    seq         bigint NOT NULL,
    duplicates  bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
