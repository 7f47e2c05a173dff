"""Voucher claim ids are issued in sequence (backend/app/rewards/service.py): ActivityRewards records paid
ids in a bitmap of 256 ids a storage slot, so consecutive ids share a slot and a claim costs ~17,000 gas
less than with a hashed id. Vouchers issued before keep their hashed ids (still valid on the contract).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from backend.app.core.db import run_script

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("CREATE SEQUENCE IF NOT EXISTS voucher_claim_ids AS bigint START 1;\n")


def downgrade() -> None:
    run_script("DROP SEQUENCE voucher_claim_ids;\n")
