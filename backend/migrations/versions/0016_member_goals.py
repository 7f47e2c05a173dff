"""Members' training goals: what the workout suggestions aim at (a weekly number of workouts, an activity to
focus on). One row per member; no row: no goal.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from backend.app.core.db import run_script

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE member_goals (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    weekly_workouts smallint CHECK (weekly_workouts BETWEEN 1 AND 14),
    focus text,                                -- an activity type (backend/app/fitness/anticheat.py)
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

DOWNGRADE = """
DROP TABLE member_goals;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
