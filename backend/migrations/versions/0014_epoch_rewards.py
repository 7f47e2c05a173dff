"""Merkle epoch rewards: a reward mode per tenant, one reward per workout whatever the mode (enforced here,
not by the code that writes it), epoch accruals, closed epochs with their roots and every leaf's proof.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from backend.app.core.db import run_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE = """
-- voucher: each accepted workout gets an EIP-712 voucher on request (the default, as before);
-- epoch: each accepted workout accrues to the reward epoch it is accepted in, paid by one Merkle root per epoch.
ALTER TABLE tenants ADD COLUMN reward_mode text NOT NULL DEFAULT 'voucher'
    CHECK (reward_mode IN ('voucher', 'epoch'));

-- One reward per workout, whatever the mode: a voucher and an epoch accrual each reference this row with their
-- own mode, and a workout has one row. So no workout is paid by a voucher and by an epoch leaf, whichever way
-- the tenant's mode was switched and however requests race (the primary key decides).
CREATE TABLE workout_rewards (
    workout_id uuid PRIMARY KEY REFERENCES workouts (id),
    mode text NOT NULL CHECK (mode IN ('voucher', 'epoch')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workout_id, mode)
);
INSERT INTO workout_rewards (workout_id, mode, created_at) SELECT workout_id, 'voucher', issued_at FROM vouchers;
ALTER TABLE vouchers ADD COLUMN reward_mode text NOT NULL DEFAULT 'voucher' CHECK (reward_mode = 'voucher');
ALTER TABLE vouchers ADD CONSTRAINT vouchers_one_reward_per_workout
    FOREIGN KEY (workout_id, reward_mode) REFERENCES workout_rewards (workout_id, mode);

-- An accepted workout's reward in epoch mode (reward policy, no daily cap: the epoch's budget bounds the total).
-- (chain_id, contract, epoch) stay NULL until the closing job puts the accrual in an epoch's distribution.
CREATE TABLE epoch_accruals (
    workout_id uuid PRIMARY KEY,
    reward_mode text NOT NULL DEFAULT 'epoch' CHECK (reward_mode = 'epoch'),
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    account text NOT NULL CHECK (account ~ '^0x[0-9a-f]{40}$'),
    amount numeric(78, 0) NOT NULL CHECK (amount > 0),
    accrued_at timestamptz NOT NULL,
    chain_id bigint,
    contract text,
    epoch bigint,
    FOREIGN KEY (workout_id, reward_mode) REFERENCES workout_rewards (workout_id, mode),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    CHECK ((epoch IS NULL) = (contract IS NULL) AND (epoch IS NULL) = (chain_id IS NULL))
);
CREATE INDEX epoch_accruals_pending ON epoch_accruals (accrued_at) WHERE epoch IS NULL;
CREATE INDEX epoch_accruals_by_epoch ON epoch_accruals (chain_id, contract, epoch);
CREATE INDEX epoch_accruals_user ON epoch_accruals (user_id, accrued_at DESC);

-- A closed epoch of one deployment. submitted: root stored, postEpochRoot queued (tx_request_id);
-- posted: mined; failed: the queue's reason; carried: nothing could be posted (the epoch's budget was spent),
-- its accruals wait for the next epoch.
CREATE TABLE reward_epochs (
    chain_id bigint NOT NULL,
    contract text NOT NULL CHECK (contract ~ '^0x[0-9a-f]{40}$'),
    epoch bigint NOT NULL CHECK (epoch >= 0),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    state text NOT NULL CHECK (state IN ('submitted', 'posted', 'failed', 'carried')),
    reason text,
    root text CHECK (root ~ '^0x[0-9a-f]{64}$'),
    total numeric(78, 0) NOT NULL,        -- what the root pays (posted with it)
    accrued numeric(78, 0) NOT NULL,      -- what its accruals asked for, before scaling to the budget
    available numeric(78, 0) NOT NULL,    -- epochBudget - epochEmitted when it was closed
    leaves integer NOT NULL,
    accruals integer NOT NULL,
    tx_request_id bigint REFERENCES txqueue_request (id),
    tx_hash text,
    block_number bigint,
    closed_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz,
    PRIMARY KEY (chain_id, contract, epoch),
    CHECK (state = 'carried' OR (root IS NOT NULL AND total > 0 AND tx_request_id IS NOT NULL))
);

-- Every leaf of a root, with its proof (hex sibling hashes), stored in the transaction that stores the root.
CREATE TABLE reward_epoch_leaves (
    chain_id bigint NOT NULL,
    contract text NOT NULL,
    epoch bigint NOT NULL,
    leaf_index integer NOT NULL CHECK (leaf_index >= 0),
    account text NOT NULL CHECK (account ~ '^0x[0-9a-f]{40}$'),
    amount numeric(78, 0) NOT NULL CHECK (amount > 0),
    accrued numeric(78, 0) NOT NULL,
    proof text[] NOT NULL,
    PRIMARY KEY (chain_id, contract, epoch, leaf_index),
    UNIQUE (chain_id, contract, epoch, account),
    FOREIGN KEY (chain_id, contract, epoch) REFERENCES reward_epochs (chain_id, contract, epoch)
);
"""

DOWNGRADE = """
DROP TABLE reward_epoch_leaves;
DROP TABLE reward_epochs;
DROP TABLE epoch_accruals;
ALTER TABLE vouchers DROP CONSTRAINT vouchers_one_reward_per_workout;
ALTER TABLE vouchers DROP COLUMN reward_mode;
DROP TABLE workout_rewards;
ALTER TABLE tenants DROP COLUMN reward_mode;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
