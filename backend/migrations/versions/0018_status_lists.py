"""Credential status lists (W3C Bitstring Status List): the lists the platform publishes and, per issued
credential, its index in one of them. Which bits are set is not stored here: a bit is set when its
credential's `issued_credentials.revoked_at` is, so revocation has one source of truth. Every
revocation bumps its list's `revision` in the same transaction; a list whose `signed_revision` is
behind is re-signed (by the revoking request, else by the worker's reconciler).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from backend.app.core.db import run_script

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE status_lists (
    list_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose text NOT NULL CHECK (purpose IN ('revocation')),
    size integer NOT NULL CHECK (size >= 131072 AND size % 8 = 0),
    capacity integer NOT NULL CHECK (capacity > 0 AND capacity <= size),
    allocated integer NOT NULL DEFAULT 0 CHECK (allocated <= capacity),
    revision bigint NOT NULL DEFAULT 1,
    signed_revision bigint NOT NULL DEFAULT 0,
    credential jsonb,
    signed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One index per credential, never reused: the primary key makes a second allocation of the same bit
-- fail (the allocator then draws again), and a row once committed survives any crash.
CREATE TABLE status_list_entries (
    list_id integer NOT NULL REFERENCES status_lists (list_id),
    status_index integer NOT NULL CHECK (status_index >= 0),
    credential_id text NOT NULL UNIQUE,
    allocated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, status_index)
);
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script("DROP TABLE status_list_entries, status_lists;\n")
