"""Notifications: the inbox (read/unread), out-of-band deliveries (email, SMS), the consumer's
applied-event record, order receipts, and the scheduled jobs' runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from backend.app.core.db import run_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- Kafka events a consumer group has applied, keyed by event id: a redelivered event (a restart before
-- the offset commit, a rebalance) finds its row and changes nothing.
CREATE TABLE consumed_events (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- A member's inbox. `source_event` is the Kafka event id (or a scheduled job's deterministic key) the
-- notification comes from: at most one per (user, source event).
CREATE TABLE notifications (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    source_event uuid NOT NULL,
    kind text NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    corrects uuid REFERENCES notifications (id) ON DELETE SET NULL,  -- a reorg's correction names what it undoes
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    UNIQUE (user_id, source_event),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notifications_user_time ON notifications (user_id, created_at, id);
CREATE INDEX notifications_unread ON notifications (user_id, created_at) WHERE read_at IS NULL;

-- One row per notification and out-of-band channel, worked through by the senders. A row is claimed
-- ('sending') in its own transaction before the message leaves, so a crash never sends it twice.
CREATE TABLE deliveries (
    notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel text NOT NULL CHECK (channel IN ('email', 'sms')),
    address text NOT NULL,
    batch_id uuid,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_at timestamptz,
    sent_at timestamptz,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (channel, next_attempt_at) WHERE status = 'pending';

-- One receipt per OrderCreated event (a reorg marks it reverted; the order mined again gets its own).
CREATE TABLE order_receipts (
    event_id uuid PRIMARY KEY,
    order_id bigint NOT NULL,
    listing_id bigint NOT NULL,
    buyer text NOT NULL,
    seller text NOT NULL,
    item_id numeric(78, 0) NOT NULL,
    quantity numeric(78, 0) NOT NULL,
    unit_price numeric(78, 0) NOT NULL,
    total numeric(78, 0) NOT NULL,
    fee numeric(78, 0) NOT NULL,
    burned numeric(78, 0) NOT NULL,
    product_name text,
    block_number bigint NOT NULL,
    tx_hash text NOT NULL,
    status text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'reverted')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_receipts_order ON order_receipts (order_id, created_at);
CREATE INDEX order_receipts_buyer ON order_receipts (buyer, created_at);

-- Scheduled jobs: one row per job and period (a day, an ISO week), so a period runs once.
CREATE TABLE job_runs (
    job text NOT NULL,
    period text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    result jsonb,
    PRIMARY KEY (job, period)
);
"""

DOWNGRADE = """
DROP TABLE job_runs, order_receipts, deliveries, notifications, consumed_events;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
