"""Identity: the agent state the API applied itself when it sent an offer or a proof request is recorded
among the applied agent events (source 'sent'), so that state's webhook is a replay whether it
arrives before or after the exchange row is committed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from backend.app.core.db import run_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE processed_agent_events DROP CONSTRAINT processed_agent_events_source_check;
ALTER TABLE processed_agent_events ADD CONSTRAINT processed_agent_events_source_check
    CHECK (source IN ('webhook', 'poll', 'sent'))
"""

DOWNGRADE = """
DELETE FROM processed_agent_events WHERE source = 'sent';
ALTER TABLE processed_agent_events DROP CONSTRAINT processed_agent_events_source_check;
ALTER TABLE processed_agent_events ADD CONSTRAINT processed_agent_events_source_check
    CHECK (source IN ('webhook', 'poll'))
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
