"""Identity: DIDComm connections, exchanges (connection, issue, present) with deadlines, issued
credentials and their revocation, trusted issuers, wallet bindings, gates, the webhooks already
applied; and 'didcomm' as a delivery channel.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from backend.app.core.db import run_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
-- Our issuer DID (a did:key in the agent's wallet), created once on first issuance.
CREATE TABLE identity_issuer (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    did text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A member's DIDComm connections (ACA-Py's connection records, linked to the member who asked for the
-- invitation). `holder_did` is the did:key the member's wallet bound with a wallet-binding credential.
CREATE TABLE didcomm_connections (
    connection_id text PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    invitation_msg_id text NOT NULL UNIQUE,
    their_did text,
    their_label text,
    holder_did text,
    state text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX didcomm_connections_user ON didcomm_connections (user_id, updated_at DESC);

-- Every exchange with a holder: an invitation (kind connection, keyed by the invitation's message id),
-- a credential offer (issue) or a proof request (present), keyed by the thread id of its first attempt.
-- `record_id` is ACA-Py's record of the current attempt (connection id, cred_ex_id, pres_ex_id).
CREATE TABLE identity_exchanges (
    thread_id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('connection', 'issue', 'present')),
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    connection_id text,
    record_id text UNIQUE,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    agent_state text,
    deadline timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    failure_reason text,
    payload jsonb NOT NULL DEFAULT '{}',
    result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX identity_exchanges_user ON identity_exchanges (user_id, created_at DESC);
CREATE INDEX identity_exchanges_pending ON identity_exchanges (deadline) WHERE state = 'pending';

-- Credentials we issued (the signed document once the agent signed it); revocation is ours, by id.
CREATE TABLE issued_credentials (
    credential_id text PRIMARY KEY CHECK (credential_id LIKE 'urn:uuid:%'),
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    kind text NOT NULL,
    subject_did text NOT NULL,
    thread_id text NOT NULL REFERENCES identity_exchanges (thread_id) ON DELETE CASCADE,
    document jsonb NOT NULL,
    signed boolean NOT NULL DEFAULT false,
    issued_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_by text,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX issued_credentials_user ON issued_credentials (user_id, issued_at DESC);

-- Issuer DIDs a tenant accepts besides our own.
CREATE TABLE trusted_issuers (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    did text NOT NULL,
    name text NOT NULL,
    added_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, did)
);

-- Agent events already applied (a webhook, or the same state seen by the reconciler's poll): a replay
-- finds its row and changes nothing.
CREATE TABLE processed_agent_events (
    topic text NOT NULL,
    record_id text NOT NULL,
    state text NOT NULL,
    thread_id text,
    source text NOT NULL CHECK (source IN ('webhook', 'poll')),
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, record_id, state)
);

-- A member's Ethereum address bound to a holder DID by a wallet-binding credential.
CREATE TABLE wallet_bindings (
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    address text NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
    holder_did text NOT NULL,
    connection_id text NOT NULL REFERENCES didcomm_connections (connection_id) ON DELETE CASCADE,
    credential_id text NOT NULL REFERENCES issued_credentials (credential_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (credential_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX wallet_bindings_user ON wallet_bindings (user_id);

-- Actions that need a verified presentation: of which credential type, and how recent.
CREATE TABLE identity_gates (
    gate text PRIMARY KEY CHECK (gate ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
    credential_type text NOT NULL,
    max_age_hours integer NOT NULL CHECK (max_age_hours > 0),
    description text NOT NULL
);
INSERT INTO identity_gates (gate, credential_type, max_age_hours, description) VALUES
    ('verified-athlete', 'FitnessAchievement', 24,
     'athlete-only catalog items: a verified FitnessAchievement presentation of the last 24 hours');

ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check CHECK (channel IN ('email', 'sms', 'didcomm'))
"""

DOWNGRADE = """
DELETE FROM deliveries WHERE channel = 'didcomm';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check CHECK (channel IN ('email', 'sms'));
DROP TABLE identity_gates, wallet_bindings, processed_agent_events, trusted_issuers, issued_credentials,
    identity_exchanges, didcomm_connections, identity_issuer
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
