"""Each tenant's own tightening of the authorization policy (backend/app/tenant_policy): per role, the actions
its admins took away in their tenant. The source of truth; the API pushes it to its OPA. No row: the base
policy (policy/data.json) as it is.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01
"""

from backend.app.core.db import run_script

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE tenant_policies (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    denied jsonb NOT NULL DEFAULT '{}'::jsonb,   -- {"<role>": ["<action>", ...]}: what the role may not do here
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by uuid REFERENCES users (id) ON DELETE SET NULL
);
"""

DOWNGRADE = """
DROP TABLE tenant_policies;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
