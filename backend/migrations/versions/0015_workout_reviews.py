"""The anti-cheat model: its versions (one active, what every API replica scores with) and each accepted
workout's score, with the coach review of those it flagged.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from backend.app.core.db import run_script

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE = """
-- Every trained version is kept, with what it was trained on and its held-out metrics; at most one is active.
CREATE TABLE fraud_models (
    version integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trained_at timestamptz NOT NULL,
    features text[] NOT NULL,                  -- the feature vector's names, in order
    threshold double precision NOT NULL CHECK (threshold >= 0 AND threshold <= 1),
    metrics jsonb NOT NULL,
    training jsonb NOT NULL,                   -- data, split, parameters, library
    artifact bytea NOT NULL,                   -- the fitted estimator (pickle)
    artifact_sha256 text NOT NULL CHECK (artifact_sha256 ~ '^[0-9a-f]{64}$'),
    active boolean NOT NULL DEFAULT false,
    activated_at timestamptz,
    decision text NOT NULL                     -- why it was or was not activated
);
CREATE UNIQUE INDEX fraud_models_one_active ON fraud_models (active) WHERE active;

-- One row per accepted workout the model scored (none while no model is active). A flagged workout waits for
-- a coach (pending) who clears it or confirms the fraud; the workout itself stays accepted either way.
CREATE TABLE workout_reviews (
    workout_id uuid PRIMARY KEY REFERENCES workouts (id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    model_version integer NOT NULL REFERENCES fraud_models (version),
    score double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    threshold double precision NOT NULL,
    features jsonb NOT NULL,                   -- {name: value or null}, as scored: the retraining's input
    replay_of uuid,                            -- the member's workout this one is nearest to
    status text CHECK (status IN ('pending', 'cleared', 'confirmed')),
    reviewer text,
    note text,
    reviewed_at timestamptz,
    scored_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IS NOT NULL) = (score >= threshold)),
    CHECK ((status IN ('cleared', 'confirmed')) = (reviewer IS NOT NULL AND reviewed_at IS NOT NULL))
);
CREATE INDEX workout_reviews_queue ON workout_reviews (tenant_id, status, scored_at DESC, workout_id)
    WHERE status IS NOT NULL;
CREATE INDEX workout_reviews_labels ON workout_reviews (reviewed_at) WHERE status IN ('cleared', 'confirmed');
"""

DOWNGRADE = """
DROP TABLE workout_reviews;
DROP TABLE fraud_models;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
