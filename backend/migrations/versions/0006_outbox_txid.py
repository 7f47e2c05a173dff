"""The outbox records the transaction that wrote each row (`txid`): the relay publishes a row only once
that transaction is older than every transaction still running, so a row that took a lower `seq` but
committed later is never skipped (fitmint/outbox/relay.py). Rows written before have txid 0, which is where a
relay position recorded as a bare seq resumes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from backend.app.core.db import run_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# IF NOT EXISTS: a database created since 0001 applies the kernel's outbox DDL has all of this already.
UPGRADE = """
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS txid bigint NOT NULL DEFAULT 0;
ALTER TABLE outbox ALTER COLUMN txid SET DEFAULT pg_current_xact_id()::text::bigint;
CREATE INDEX IF NOT EXISTS outbox_publish_order ON outbox (txid, seq);
ALTER TABLE relay_position ADD COLUMN IF NOT EXISTS txid bigint NOT NULL DEFAULT 0
"""

DOWNGRADE = """
ALTER TABLE relay_position DROP COLUMN txid;
DROP INDEX outbox_publish_order;
ALTER TABLE outbox DROP COLUMN txid
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
