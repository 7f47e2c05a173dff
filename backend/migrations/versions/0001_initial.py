"""Tenants, users and wallet links, service clients, workouts and nutrition, vouchers, the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from backend.app.core.db import run_script
from fitmint.outbox.schema import DDL as OUTBOX_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
    name text NOT NULL,
    open_signup boolean NOT NULL DEFAULT true,  -- a new wallet signing in becomes a member (role user)
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'coach', 'admin')),
    display_name text,
    bio text,
    height_cm numeric(5, 1),
    weight_kg numeric(5, 1),
    birth_year integer,
    preferences jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

-- Every address signs in to at most one user per tenant; the same address may be a member elsewhere.
CREATE TABLE wallet_links (
    tenant_id uuid NOT NULL,
    address text NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
    user_id uuid NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, address),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX wallet_links_user ON wallet_links (user_id);

-- Service-to-service callers (attestor devices, the agent controller): client credentials.
CREATE TABLE service_clients (
    client_id text PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    role text NOT NULL CHECK (role IN ('attestor', 'agent')),
    name text NOT NULL,
    secret_hash text NOT NULL,  -- sha256 of a 32-byte random secret: no slow hash needed
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE workouts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    activity text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL,
    distance_m double precision,
    steps integer,
    calories double precision,
    avg_heart_rate integer,
    max_heart_rate integer,
    gps jsonb,
    status text NOT NULL CHECK (status IN ('accepted', 'rejected')),
    rejections jsonb NOT NULL DEFAULT '[]',  -- [{code, reason}] for review
    submitted_by text NOT NULL,              -- the principal: user id or service client id
    idempotency_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX workouts_user_time ON workouts (user_id, started_at DESC, id);
CREATE INDEX workouts_tenant_review ON workouts (tenant_id, created_at DESC) WHERE status = 'rejected';

CREATE TABLE nutrition_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    eaten_at timestamptz NOT NULL,
    meal text NOT NULL,
    calories double precision NOT NULL,
    protein_g double precision,
    carbs_g double precision,
    fat_g double precision,
    note text,
    idempotency_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX nutrition_user_time ON nutrition_logs (user_id, eaten_at DESC, id);

-- One voucher per accepted workout; claim_id = keccak256("fitmint.workout:" || workout id).
CREATE TABLE vouchers (
    claim_id text PRIMARY KEY CHECK (claim_id ~ '^0x[0-9a-f]{64}$'),
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    workout_id uuid NOT NULL UNIQUE REFERENCES workouts (id),
    account text NOT NULL CHECK (account ~ '^0x[0-9a-f]{40}$'),
    amount numeric(78, 0) NOT NULL CHECK (amount > 0),
    deadline bigint NOT NULL,
    chain_id bigint NOT NULL,
    contract text NOT NULL,
    attestor text NOT NULL,
    signature text NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    issued_day date NOT NULL,  -- UTC day: the contract's daily cap is per account and UTC day
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX vouchers_account_day ON vouchers (account, issued_day);
CREATE INDEX vouchers_user ON vouchers (user_id, issued_at DESC);

-- The API's transactional outbox: the kernel's (OUTBOX_DDL, which follows), published by the same relay.
CREATE TABLE outbox_meta (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    generation uuid NOT NULL
);
INSERT INTO outbox_meta (generation) VALUES (gen_random_uuid());
"""

DOWNGRADE = """
DROP TABLE relay_position, outbox, outbox_meta, vouchers, nutrition_logs, workouts, service_clients,
    wallet_links, users, tenants;
"""


def upgrade() -> None:
    run_script(UPGRADE)
    run_script(OUTBOX_DDL)


def downgrade() -> None:
    run_script(DOWNGRADE)
