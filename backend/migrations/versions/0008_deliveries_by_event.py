"""Deliveries are made by events: the `fitmint-deliveries` consumer group creates a notification's rows
from its NotificationQueued event, and email goes out only in answer to EmailBatchReady, one batch at a
time (`WHERE batch_id = ... AND status = 'pending'`: indexed here). An email back to pending after a
temporary failure leaves its batch (batch_id NULL) until the senders' loop announces it in a new one.

Email rows pending from before (their batches were announced to no consumer, on another topic) leave
their batch too: the senders' loop announces them in new batches, so each is sent once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from backend.app.core.db import run_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE INDEX deliveries_batch ON deliveries (batch_id) WHERE status = 'pending';
UPDATE deliveries SET batch_id = NULL WHERE channel = 'email' AND status = 'pending'
"""

DOWNGRADE = """
DROP INDEX deliveries_batch
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
