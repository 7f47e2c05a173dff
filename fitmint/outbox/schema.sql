-- The transactional outbox (Debezium's layout), insert-only: the one definition, which the indexer's
-- schema and the API's migrations both apply. `reverts` names the event a compensating row undoes
-- (such rows have no block). `txid` is the writing transaction's id: the relay publishes a row only
-- once that transaction is older than every one still running (see fitmint/outbox/relay.py).
-- `traceparent`: the W3C trace context of what wrote the row (a request, a consumed event, a chain
-- transaction at the head), which the relay continues on the Kafka record; NULL when untraced.
-- Re-runnable (IF NOT EXISTS): a database created earlier is brought here by its owner's upgrade
-- (the indexer's UPGRADES, an API migration), never by this file: change both with it.
-- Statements end with ";" and a newline, which nothing else here contains (migrations split on it).
CREATE TABLE IF NOT EXISTS outbox (
    seq bigserial PRIMARY KEY,
    txid bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    id uuid NOT NULL UNIQUE,
    aggregatetype text NOT NULL,
    aggregateid text NOT NULL,
    type text NOT NULL,
    payload json NOT NULL,              -- json, not jsonb: stored as written, nobody queries inside it
    event_time timestamptz,
    block_number bigint,
    reverts uuid,
    traceparent text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_block ON outbox (block_number) WHERE block_number IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_publish_order ON outbox (txid, seq);

-- How far the relay has published (a hint: Kafka's own position record is the truth).
CREATE TABLE IF NOT EXISTS relay_position (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    txid bigint NOT NULL DEFAULT 0,
    seq bigint NOT NULL
);
