-- The analytics store (database fitmint_analytics): the event store, the facts derived from it, and the
-- projections derived from the facts. Only `events` is a source of truth; everything else is rebuilt from
-- it (python -m analytics rebuild) with the same result as the live consumer's.
--
-- The projections are plain SQL over plain columns (no JSON, no PostgreSQL-only functions in their
-- SELECTs: analytics/projections.py), so they run unchanged on a columnar engine (DuckDB, ClickHouse)
-- when one machine is outgrown; tests/analytics/test_portability.py runs them on DuckDB.
-- Money is in wei (numeric(78, 0)); days are UTC dates; "no tenant" is the nil uuid (a resale listing,
-- a platform-level mint), so every key column is NOT NULL.

-- Every CloudEvent of the bus, kept whole, once (by id), in the order it was stored. Append-only: a
-- trigger refuses UPDATE and DELETE (a reset truncates).
CREATE TABLE IF NOT EXISTS events (
    seq bigserial UNIQUE,
    id uuid PRIMARY KEY,
    type text NOT NULL,
    subject text,
    time timestamptz NOT NULL,           -- the event's time (CloudEvents `time`; else the record's)
    reverts uuid,                        -- a `...reverted.v1` compensation: the event it undoes
    readable boolean NOT NULL,           -- its payload matched its type's schema on arrival (else: no fact)
    topic text NOT NULL,
    kafka_partition int,                 -- where it was read (NULL: imported, e.g. by the generator)
    kafka_offset bigint,
    document jsonb NOT NULL,             -- the whole CloudEvent
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS events_reverts ON events (reverts) WHERE reverts IS NOT NULL;

CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event store is append-only: % refused', TG_OP;
END $$;
DROP TRIGGER IF EXISTS events_append_only ON events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- One typed row per stored event that analytics reads (analytics/facts.py maps each type, in SQL), with
-- `reverted` set once its compensation is stored. Derived: rebuilt from `events`.
CREATE TABLE IF NOT EXISTS facts (
    event_id uuid PRIMARY KEY,
    kind text NOT NULL,          -- signed_in, workout, reward_issued, reward_claimed, minted, order, listed
    occurred_at timestamptz NOT NULL,
    day date NOT NULL,
    tenant_id uuid NOT NULL,     -- the nil uuid when the event itself names no tenant
    user_id uuid,
    address text,                -- lower-case 0x hex
    activity text,
    status text,                 -- a workout's accepted / rejected; a claim's voucher / epoch
    reasons text[],              -- a rejected workout's rule codes
    flagged boolean,
    distance_m double precision,
    duration_s double precision,
    claim_id text,
    listing_id bigint,
    item_id numeric(78, 0),
    name text,
    joined boolean,
    amount numeric(78, 0),       -- reward, mint, or an order's total price
    fee numeric(78, 0),
    burned numeric(78, 0),
    quantity numeric(78, 0),
    reverted boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS facts_kind_day ON facts (kind, day);
CREATE INDEX IF NOT EXISTS facts_claim ON facts (claim_id) WHERE claim_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS facts_listing ON facts (listing_id) WHERE listing_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS facts_buyer ON facts (address) WHERE kind = 'order';
CREATE INDEX IF NOT EXISTS facts_wallet ON facts (address) WHERE kind = 'signed_in';
CREATE INDEX IF NOT EXISTS facts_member ON facts (user_id) WHERE user_id IS NOT NULL;

-- Projections (analytics/projections.py says how each is computed). Per tenant and UTC day unless said.

-- Who was active (signed in or recorded a workout) on a day.
CREATE TABLE IF NOT EXISTS member_days (
    tenant_id uuid NOT NULL, user_id uuid NOT NULL, day date NOT NULL,
    sign_ins int NOT NULL, workouts int NOT NULL,
    PRIMARY KEY (tenant_id, day, user_id)
);
CREATE INDEX IF NOT EXISTS member_days_by_day ON member_days (day) INCLUDE (tenant_id, user_id);
-- The same by week (its Monday), with the days of it a member was active as bits (1: Monday ... 64:
-- Sunday): the members active in any period are read from about half the rows.
CREATE TABLE IF NOT EXISTS member_weeks (
    tenant_id uuid NOT NULL, user_id uuid NOT NULL, week date NOT NULL,
    days int NOT NULL,
    PRIMARY KEY (tenant_id, week, user_id)
);
CREATE INDEX IF NOT EXISTS member_weeks_by_week ON member_weeks (week) INCLUDE (tenant_id, user_id, days);
-- Active members: on the day, in the 7 and the 30 days ending with it.
CREATE TABLE IF NOT EXISTS activity_days (
    tenant_id uuid NOT NULL, day date NOT NULL,
    dau int NOT NULL, wau int NOT NULL, mau int NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
-- Workouts (by start day) and distance by activity; accepted ones the model flagged for review.
CREATE TABLE IF NOT EXISTS workout_days (
    tenant_id uuid NOT NULL, day date NOT NULL, activity text NOT NULL,
    accepted int NOT NULL, rejected int NOT NULL, flagged int NOT NULL,
    distance_m double precision NOT NULL, duration_s double precision NOT NULL,
    PRIMARY KEY (tenant_id, day, activity)
);
-- Anti-cheat refusals by rule (a workout refused by two rules counts under both).
CREATE TABLE IF NOT EXISTS refusal_days (
    tenant_id uuid NOT NULL, day date NOT NULL, reason text NOT NULL,
    workouts int NOT NULL,
    PRIMARY KEY (tenant_id, day, reason)
);
-- Vouchers issued on the day, and how many of those were claimed (so far), how fast.
CREATE TABLE IF NOT EXISTS reward_days (
    tenant_id uuid NOT NULL, day date NOT NULL,
    issued int NOT NULL, issued_amount numeric(78, 0) NOT NULL,
    claimed int NOT NULL, claimed_amount numeric(78, 0) NOT NULL,
    claim_seconds double precision NOT NULL,      -- the sum over the claimed ones: / claimed = mean
    PRIMARY KEY (tenant_id, day)
);
-- FIT supply, platform-wide (the token is shared by every tenant): minted, burned and paid to the
-- treasury on the day; cumulative values (circulating, held by the treasury) are running sums.
CREATE TABLE IF NOT EXISTS token_days (
    day date PRIMARY KEY,
    minted numeric(78, 0) NOT NULL, burned numeric(78, 0) NOT NULL, to_treasury numeric(78, 0) NOT NULL
);
-- Marketplace orders of the tenant's listed products (the nil tenant: resale and unknown listings).
CREATE TABLE IF NOT EXISTS order_days (
    tenant_id uuid NOT NULL, day date NOT NULL,
    orders int NOT NULL, buyers int NOT NULL, quantity numeric(78, 0) NOT NULL,
    volume numeric(78, 0) NOT NULL, fees numeric(78, 0) NOT NULL, burned numeric(78, 0) NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
CREATE TABLE IF NOT EXISTS item_days (
    tenant_id uuid NOT NULL, day date NOT NULL, listing_id bigint NOT NULL,
    name text NOT NULL, orders int NOT NULL, quantity numeric(78, 0) NOT NULL, volume numeric(78, 0) NOT NULL,
    PRIMARY KEY (tenant_id, day, listing_id)
);
-- Each member's funnel: when they joined, first worked out (accepted), first claimed, first bought.
CREATE TABLE IF NOT EXISTS member_milestones (
    tenant_id uuid NOT NULL, user_id uuid NOT NULL,
    joined_at timestamptz NOT NULL,
    first_workout_at timestamptz, first_claim_at timestamptz, first_purchase_at timestamptz,
    PRIMARY KEY (tenant_id, user_id)
);
-- Weekly retention: of the members who joined in `cohort` (a Monday), how many were active in the week
-- `week` weeks later (0: the joining week).
CREATE TABLE IF NOT EXISTS retention_weeks (
    tenant_id uuid NOT NULL, cohort date NOT NULL, week int NOT NULL,
    members int NOT NULL, active int NOT NULL,
    PRIMARY KEY (tenant_id, cohort, week)
);

-- The consumer's progress, for freshness and status: the newest event applied and when.
CREATE TABLE IF NOT EXISTS store_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    schema_version int NOT NULL,
    applied_events bigint NOT NULL DEFAULT 0,
    last_applied_at timestamptz,
    rebuilt_at timestamptz
);
