"""The transaction queue's tables (fitmint/txqueue/schema.sql) in the API's database, beside the outbox its
worker writes each outcome to in the same transaction (fitmint/txqueue/outcomes.py): the API's relay
publishes them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from backend.app.core.db import run_script
from fitmint.txqueue.schema import DDL as TXQUEUE_DDL

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(TXQUEUE_DDL)  # re-runnable: creates only what is missing


def downgrade() -> None:
    run_script("DROP TABLE IF EXISTS txqueue_attempt;\nDROP TABLE IF EXISTS txqueue_request;\n")
