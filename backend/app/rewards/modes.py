"""How a tenant pays rewards, and the one reward record every workout has at most.

- `voucher` (default): the member asks for an EIP-712 voucher per accepted workout and claims it.
- `epoch`: each accepted workout accrues, in the transaction that accepts it, to the reward epoch it is
  accepted in; the closing job (rewards/epochs.py) pays each epoch with one Merkle root.

The mode in force when a workout is accepted decides how that workout is paid: switching a tenant's mode
changes the workouts accepted after the switch, never those before (a workout accepted in voucher mode may
still get its voucher; one accepted in epoch mode stays in its epoch). `workout_rewards` holds one row per
rewarded workout, and both a voucher and an accrual must reference it with their own mode (migration 0014):
the database itself refuses a second payment of a workout, whatever the code or the races do.
"""

import logging
from datetime import datetime
from enum import StrEnum

import asyncpg

from backend.app.rewards.policy import reward_wei

log = logging.getLogger("rewards.modes")


class RewardMode(StrEnum):
    VOUCHER = "voucher"
    EPOCH = "epoch"


class UnknownTenant(Exception):
    pass


async def set_reward_mode(pool: asyncpg.Pool, slug: str, mode: RewardMode) -> RewardMode:
    """Sets the tenant's mode; returns the one it had. It applies to workouts accepted from now on."""
    async with pool.acquire() as connection, connection.transaction():
        previous = await connection.fetchval("SELECT reward_mode FROM tenants WHERE slug = $1 FOR UPDATE", slug)
        if previous is None:
            raise UnknownTenant(f"unknown tenant {slug!r}")
        await connection.execute("UPDATE tenants SET reward_mode = $2 WHERE slug = $1", slug, mode.value)
    return RewardMode(previous)


async def reward_mode(pool: asyncpg.Pool, tenant_id: str) -> RewardMode:
    return RewardMode(await pool.fetchval("SELECT reward_mode FROM tenants WHERE id = $1::uuid", tenant_id))


async def accrue(connection: asyncpg.Connection, workout: dict, now: datetime) -> dict | None:
    """In the transaction that accepts `workout`: when its tenant pays by epochs, records its reward (the
    reward policy's amount, to the member's first linked wallet) as a pending accrual. None otherwise:
    voucher mode, or nothing earned."""
    # No lock on the tenant's row (every workout would contend on it): a workout accepted while the mode is
    # switched gets the mode its transaction read, and is paid once either way (workout_rewards).
    mode = await connection.fetchval("SELECT reward_mode FROM tenants WHERE id = $1::uuid", workout["tenant_id"])
    if mode != RewardMode.EPOCH:
        return None
    amount = reward_wei(workout)
    if amount <= 0:
        return None
    account = await connection.fetchval(
        "SELECT address FROM wallet_links WHERE user_id = $1::uuid ORDER BY linked_at, address LIMIT 1",
        workout["user_id"])
    if account is None:  # a member signs in with a wallet: only a member made otherwise has none
        log.warning("workout %s: member %s has no linked wallet; nothing accrued", workout["id"], workout["user_id"])
        return None
    await connection.execute("INSERT INTO workout_rewards (workout_id, mode) VALUES ($1::uuid, 'epoch')",
                             workout["id"])
    row = await connection.fetchrow(
        "INSERT INTO epoch_accruals (workout_id, tenant_id, user_id, account, amount, accrued_at) "
        "VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6) RETURNING *",
        workout["id"], workout["tenant_id"], workout["user_id"], account, amount, now)
    return dict(row)


async def epoch_accrual(pool: asyncpg.Pool, workout_id: str) -> dict | None:
    """The workout's epoch accrual, if it was accepted in epoch mode."""
    row = await pool.fetchrow("SELECT * FROM epoch_accruals WHERE workout_id = $1::uuid", workout_id)
    return dict(row) if row else None
