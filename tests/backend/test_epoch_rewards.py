"""Reward modes on the API's database: in epoch mode an accepted workout accrues in the transaction that
accepts it, a voucher for it is refused, and the database itself pays a workout at most once across the
two modes, whatever the order or the races (migration 0014's workout_rewards). The chain side (closing,
posting, claiming) is tests/indexer/test_api_epochs.py."""

import asyncio

import asyncpg
import pytest

from backend.app.core.db import dsn
from backend.app.rewards.modes import RewardMode, UnknownTenant, accrue, set_reward_mode
from tests.support.api import a_run, db
from tests.support.units import FIT


def switch(settings, slug: str, mode: RewardMode) -> RewardMode:
    async def run():
        pool = await asyncpg.create_pool(dsn(settings, settings.backend_database))
        try:
            return await set_reward_mode(pool, slug, mode)
        finally:
            await pool.close()

    return asyncio.run(run())


def record(client, member, **run) -> dict:
    response = client.post("/fitness/workouts", json=a_run(**run), headers=member.headers)
    assert response.status_code in (201, 422), response.text
    return response.json() if response.status_code == 201 else response.json()["detail"]


def test_epoch_mode_accrues_accepted_workouts_and_refuses_their_vouchers(client, settings, tenants):
    alice, beta_user = tenants["alpha"]["user"], tenants["beta"]["user"]
    in_voucher_mode = record(client, alice, hours_ago=9, km=2.0)
    assert switch(settings, "alpha", RewardMode.EPOCH) == RewardMode.VOUCHER
    accepted = record(client, alice, hours_ago=6, km=5.0)
    refused = record(client, alice, hours_ago=3, km=60.0)  # 60 km in 30 minutes: the anti-cheat says no
    assert refused["status"] == "rejected"
    elsewhere = record(client, beta_user, hours_ago=6, km=5.0)  # beta still pays by vouchers

    accruals = db(settings, "SELECT workout_id::text, account, amount, epoch FROM epoch_accruals")
    assert [(a["workout_id"], a["account"], int(a["amount"]), a["epoch"]) for a in accruals] == [
        (accepted["id"], alice.address.lower(), 50 * FIT, None)]
    modes = {r["workout_id"]: r["mode"] for r in db(settings, "SELECT workout_id::text, mode FROM workout_rewards")}
    assert modes == {accepted["id"]: "epoch"}

    answer = client.post(f"/rewards/workouts/{accepted['id']}/voucher", headers=alice.headers)
    assert answer.status_code == 409
    assert "accrues to the current reward epoch" in answer.json()["detail"]
    # The workouts accepted in voucher mode are not refused as epoch rewards (no chain here: 503, not 409).
    for workout, member in [(in_voucher_mode, alice), (elsewhere, beta_user)]:
        assert client.post(f"/rewards/workouts/{workout['id']}/voucher", headers=member.headers).status_code == 503
    assert db(settings, "SELECT count(*) AS n FROM vouchers")[0]["n"] == 0

    assert switch(settings, "alpha", RewardMode.VOUCHER) == RewardMode.EPOCH
    later = record(client, alice, hours_ago=1, km=3.0)
    assert db(settings, "SELECT 1 FROM epoch_accruals WHERE workout_id = $1::uuid", later["id"]) == []
    with pytest.raises(UnknownTenant):
        switch(settings, "gamma", RewardMode.EPOCH)


VOUCHER_ROW = ("INSERT INTO vouchers (claim_id, tenant_id, user_id, workout_id, account, amount, deadline, chain_id, "
               "contract, attestor, signature, issued_day) SELECT $2, tenant_id, user_id, id, $3, 1, 1, 31337, $3, $3, "
               "'0x', current_date FROM workouts WHERE id = $1::uuid")
ACCRUAL_ROW = ("INSERT INTO epoch_accruals (workout_id, tenant_id, user_id, account, amount, accrued_at) "
               "SELECT id, tenant_id, user_id, $2, 1, now() FROM workouts WHERE id = $1::uuid")


def test_the_database_pays_a_workout_once_whatever_the_code_does(client, settings, tenants):
    alice = tenants["alpha"]["user"]
    address = alice.address.lower()
    switch(settings, "alpha", RewardMode.EPOCH)
    accrued = record(client, alice, hours_ago=6, km=5.0)["id"]
    switch(settings, "alpha", RewardMode.VOUCHER)
    vouchered = record(client, alice, hours_ago=3, km=5.0)["id"]
    db(settings, "INSERT INTO workout_rewards (workout_id, mode) VALUES ($1::uuid, 'voucher')", vouchered)
    db(settings, VOUCHER_ROW, vouchered, "0x" + "01" * 32, address)

    # A voucher for the accrued workout: its reward record is taken, and a voucher needs one of its own mode.
    with pytest.raises(asyncpg.UniqueViolationError):
        db(settings, "INSERT INTO workout_rewards (workout_id, mode) VALUES ($1::uuid, 'voucher')", accrued)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        db(settings, VOUCHER_ROW, accrued, "0x" + "02" * 32, address)
    # An accrual for the vouchered workout, likewise.
    with pytest.raises(asyncpg.UniqueViolationError):
        db(settings, "INSERT INTO workout_rewards (workout_id, mode) VALUES ($1::uuid, 'epoch')", vouchered)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        db(settings, ACCRUAL_ROW, vouchered, address)
    # Nor can either claim the other's mode.
    with pytest.raises(asyncpg.CheckViolationError):
        db(settings, VOUCHER_ROW.replace("issued_day)", "issued_day, reward_mode)").replace(
            "current_date FROM", "current_date, 'epoch' FROM"), accrued, "0x" + "03" * 32, address)
    assert db(settings, "SELECT v.workout_id FROM vouchers v JOIN epoch_accruals a USING (workout_id)") == []


def test_racing_voucher_and_epoch_rewards_of_the_same_workouts_pay_each_once(client, settings, tenants):
    """Each workout's voucher and its epoch accrual written at the same instant on two connections (as a
    voucher request would race an accrual if a mode switch and a request met): exactly one of each pair wins."""
    members = [tenants[slug][role] for slug in ("alpha", "beta") for role in ("user", "coach", "admin")]
    workouts = [record(client, member, hours_ago=hours, km=3.0)
                for member in members for hours in (3, 6)]
    switch(settings, "alpha", RewardMode.EPOCH)
    switch(settings, "beta", RewardMode.EPOCH)

    async def race():
        pool = await asyncpg.create_pool(dsn(settings, settings.backend_database), min_size=2, max_size=24)

        async def voucher(workout, index):
            async with pool.acquire() as connection, connection.transaction():
                if await connection.fetchval(  # the voucher service's statement
                        "INSERT INTO workout_rewards (workout_id, mode) VALUES ($1::uuid, 'voucher') "
                        "ON CONFLICT (workout_id) DO NOTHING RETURNING true", workout["id"]) is None:
                    return "refused"
                await connection.execute(VOUCHER_ROW, workout["id"], f"0x{index:064x}", workout["wallet"])
                return "voucher"

        async def epoch(workout):
            async with pool.acquire() as connection, connection.transaction():
                row = await connection.fetchrow("SELECT * FROM workouts WHERE id = $1::uuid", workout["id"])
                return "epoch" if await accrue(connection, dict(row) | {"id": str(row["id"]),
                                                                       "tenant_id": str(row["tenant_id"]),
                                                                       "user_id": str(row["user_id"])},
                                               row["created_at"]) else "none"

        try:
            return await asyncio.gather(*(asyncio.gather(voucher(w, i), epoch(w), return_exceptions=True)
                                          for i, w in enumerate(workouts)))
        finally:
            await pool.close()

    wallets = {m.user_id: m.address.lower() for m in members}
    for workout in workouts:
        workout["wallet"] = wallets[workout["user_id"]]
    outcomes = asyncio.run(race())
    for voucher, epoch in outcomes:  # the loser saw the winner's row, or hit the primary key
        won = [outcome for outcome in (voucher, epoch) if outcome in ("voucher", "epoch")]
        assert len(won) == 1, (voucher, epoch)
        loser = epoch if won == ["voucher"] else voucher
        assert loser == "refused" or isinstance(loser, asyncpg.UniqueViolationError), loser
    rows = db(settings, "SELECT w.id::text, (SELECT count(*) FROM vouchers v WHERE v.workout_id = w.id) AS vouchers, "
                        "(SELECT count(*) FROM epoch_accruals a WHERE a.workout_id = w.id) AS accruals "
                        "FROM workouts w")
    assert len(rows) == len(workouts) == 12
    assert all(r["vouchers"] + r["accruals"] == 1 for r in rows), rows
