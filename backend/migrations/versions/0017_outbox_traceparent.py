"""Outbox rows keep the trace context of the transaction that wrote them (fitmint/outbox/schema.sql's
`traceparent`), which the relay continues on the Kafka record. Rows written before have none.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from backend.app.core.db import run_script

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text;\n")


def downgrade() -> None:
    run_script("ALTER TABLE outbox DROP COLUMN traceparent;\n")
