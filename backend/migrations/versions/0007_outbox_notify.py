"""The API's outbox announces each committed write: a statement trigger NOTIFYs `fitmint_outbox`, and the
relay (which LISTENs) wakes at once instead of at its next poll. PostgreSQL delivers a notification
when the writing transaction commits (never for a rolled-back one), one per transaction however many
rows it wrote. The relay still publishes a row only once its transaction is older than every running
one (fitmint/outbox/relay.py): the notification only says when to look.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from backend.app.core.db import run_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN PERFORM pg_notify('fitmint_outbox', ''); RETURN NULL; END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()
"""

DOWNGRADE = """
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify()
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
