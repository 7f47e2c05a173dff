"""The relayer's records (backend/app/relayer): members' relayed voucher claims and purchase intents, the
transactions (claimBatch calls, purchases) they went out in through the transaction queue, and what each
member and tenant was sponsored per UTC day.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from backend.app.core.db import run_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DDL = """
-- One transaction of the queue sent for relays: a claimBatch of several vouchers, or one purchase.
CREATE TABLE relay_batches (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('claim', 'purchase')),
    request_id bigint NOT NULL UNIQUE REFERENCES txqueue_request (id),
    size integer NOT NULL CHECK (size > 0),
    settled boolean NOT NULL DEFAULT false,  -- its outcome was applied to its relays (see batcher.py)
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX relay_batches_unsettled ON relay_batches (id) WHERE NOT settled;

-- What a member asked the platform to send for them. A claim waits to be gathered into a batch; a purchase
-- is submitted at once (a batch of one). state: waiting | batched (its batch's queue request tells the rest:
-- batched, sent, mined) | failed (reason). A relay is in at most one live batch: batch_id is its current one.
CREATE TABLE relays (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('claim', 'purchase')),
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    claim_id text UNIQUE REFERENCES vouchers (claim_id),
    buyer text CHECK (buyer ~ '^0x[0-9a-f]{40}$'),
    intent_nonce numeric(78, 0),
    intent jsonb,                              -- the purchase intent, its signature and the permit, as sent
    state text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'batched', 'failed')),
    reason text,
    batch_id bigint REFERENCES relay_batches (id),
    failed_batches integer NOT NULL DEFAULT 0,  -- batches it was in that failed (it is retried a few times)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (buyer, intent_nonce),
    CHECK ((kind = 'claim') = (claim_id IS NOT NULL)),
    CHECK ((kind = 'purchase') = (buyer IS NOT NULL AND intent_nonce IS NOT NULL AND intent IS NOT NULL)),
    CHECK (state <> 'batched' OR batch_id IS NOT NULL),  -- a failed relay keeps the batch it failed in
    CHECK (state <> 'waiting' OR batch_id IS NULL),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX relays_waiting ON relays (kind, id) WHERE state = 'waiting';
CREATE INDEX relays_batch ON relays (batch_id);
CREATE INDEX relays_user ON relays (user_id, id DESC);

-- Relays sponsored per UTC day (the platform's clock): per member, and per tenant. Each is a counter raised
-- under its row lock only while below the limit (sponsorship.py), so concurrent requests cannot pass it.
CREATE TABLE sponsorship_member_days (
    day date NOT NULL,
    user_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    relays integer NOT NULL CHECK (relays >= 0),
    PRIMARY KEY (day, user_id)
);
CREATE INDEX sponsorship_member_days_tenant ON sponsorship_member_days (tenant_id, day);
CREATE TABLE sponsorship_tenant_days (
    day date NOT NULL,
    tenant_id uuid NOT NULL,
    relays integer NOT NULL CHECK (relays >= 0),
    PRIMARY KEY (day, tenant_id)
);
"""


def upgrade() -> None:
    run_script(DDL)


def downgrade() -> None:
    run_script("DROP TABLE IF EXISTS sponsorship_tenant_days;\nDROP TABLE IF EXISTS sponsorship_member_days;\n"
               "DROP TABLE IF EXISTS relays;\nDROP TABLE IF EXISTS relay_batches;\n")
