"""The API's outbox is the kernel's (fitmint/outbox/schema.sql, which 0001 now applies): a database
migrated before gains what the kernel's outbox has and its own lacked, the index of rows by block.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from backend.app.core.db import run_script
from fitmint.outbox.schema import DDL as OUTBOX_DDL

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(OUTBOX_DDL)  # re-runnable: creates only what is missing


def downgrade() -> None:
    pass  # 0001 creates the index on a new database: it stays
