"""The live path (store.apply, batch after batch) gives the projections a rebuild from the store gives,
whatever order the events arrive in and however they are batched: a claim before its voucher, an order
before its listing, a compensation before the event it undoes, a member's workouts before their first
sign-in, and events delivered twice. And the projections hold the numbers the events say (counted here
in Python, independently of the SQL)."""

import asyncio
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from analytics import rebuild, store
from analytics.incoming import incoming_of
from tests.support.analyticsstore import snapshot


def _incoming(events):
    return [incoming_of(e.value, topic=e.topic, fallback_time=e.time) for e in events]


async def _apply_in_batches(pool, incoming, rng):
    position = 0
    while position < len(incoming):
        size = rng.randint(1, 150)
        async with pool.acquire() as connection, connection.transaction():
            await store.apply(connection, incoming[position:position + size])
        position += size


async def _live_then_rebuilt(stores, settings, incoming, rng):
    pool = await stores.new(settings)
    try:
        await _apply_in_batches(pool, incoming, rng)
        live = await snapshot(pool)
        await rebuild.from_store(pool, progress=lambda _: None)
        return live, await snapshot(pool), pool
    except BaseException:
        await pool.close()
        raise


@pytest.mark.parametrize("seed", [1, 2])
def test_live_in_any_order_equals_a_rebuild(stores, settings, plan_events, seed):
    rng = random.Random(seed)
    incoming = _incoming(plan_events)
    rng.shuffle(incoming)
    incoming += rng.sample(incoming, len(incoming) // 20)  # delivered again

    async def run():
        live, rebuilt, pool = await _live_then_rebuilt(stores, settings, incoming, rng)
        events = await pool.fetchval("SELECT count(*) FROM events")
        await pool.close()
        return live, rebuilt, events

    live, rebuilt, events = asyncio.run(run())
    assert events == len(plan_events)
    assert all(live[table] for table in live), [t for t in live if not live[t]]
    for table in live:
        assert live[table] == rebuilt[table], table


def _payloads(plan_events):
    """(type, id, data) of each event, and the ids a compensation undid."""
    decoded = [msgspec.json.decode(e.value) for e in plan_events]
    undone = {d["data"]["reverts"] for d in decoded if d["type"].endswith(".reverted.v1")}
    return [(d["type"], d["id"], d["data"], d.get("time")) for d in decoded], undone


@pytest.fixture(scope="module")
def in_order(stores, settings, plan_events):
    async def run():
        pool = await stores.new(settings)
        try:
            await _apply_in_batches(pool, _incoming(plan_events), random.Random(3))
            return await snapshot(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def test_the_projections_hold_what_the_events_say(plan_events, in_order):
    events, undone = _payloads(plan_events)
    assert undone, "the plan should include a reorganisation's compensations"
    accepted, refused, distance = defaultdict(int), defaultdict(int), defaultdict(float)
    minted = burned = 0
    issued, claimed = {}, set()
    members = set()
    listing_tenant, volume = {}, defaultdict(int)
    for kind, event_id, data, _ in events:
        if kind == "dev.fitmint.workout.recorded.v1":
            if data["status"] == "accepted":
                accepted[data["tenantId"]] += 1
                distance[data["tenantId"]] += data.get("distanceM") or 0
            else:
                refused[data["tenantId"]] += 1
        elif kind == "dev.fitmint.member.signed_in.v1":
            members.add(data["userId"])
        elif kind == "dev.fitmint.token.minted.v1" and event_id not in undone:
            minted += int(data["amount"])
        elif kind == "dev.fitmint.reward.issued.v2":
            issued[data["claimId"]] = data["tenantId"]
        elif kind == "dev.fitmint.reward.claimed.v1" and event_id not in undone:
            claimed.add(data["claimId"])
        elif kind == "dev.fitmint.catalog.product_listed.v1":
            listing_tenant[data["listingId"]] = data["tenantId"]
    for kind, event_id, data, _ in events:
        if kind == "dev.fitmint.order.created.v1" and event_id not in undone:
            burned += int(data["burned"])
            volume[listing_tenant[data["listingId"]]] += int(data["unitPrice"]) * int(data["quantity"])

    def total(table, column, tenant_column=0):
        sums = defaultdict(int)
        index = {"workout_days": {"accepted": 3, "rejected": 4, "distance_m": 6},
                 "order_days": {"volume": 5}, "reward_days": {"claimed": 4}}[table][column]
        for row in in_order[table]:
            sums[row[tenant_column]] += row[index]
        return dict(sums)

    assert total("workout_days", "accepted") == dict(accepted)
    assert total("workout_days", "rejected") == dict(refused)
    assert {t: round(d, 1) for t, d in total("workout_days", "distance_m").items()} == \
        {t: round(d, 1) for t, d in distance.items()}
    assert sum(row[1] for row in in_order["token_days"]) == minted
    assert sum(row[2] for row in in_order["token_days"]) == burned
    assert total("order_days", "volume") == dict(volume)
    claimed_per_tenant = defaultdict(int)
    for claim_id in claimed:
        claimed_per_tenant[issued[claim_id]] += 1
    assert total("reward_days", "claimed") == dict(claimed_per_tenant)
    assert {row[1] for row in in_order["member_milestones"]} == members


def _active_days(plan_events):
    """(tenant, member, UTC day) of each sign-in and workout (a workout on the day it started)."""
    events, _ = _payloads(plan_events)
    for kind, _, data, at in events:
        if kind == "dev.fitmint.member.signed_in.v1":
            day = datetime.fromisoformat(at).astimezone(UTC).date()
        elif kind == "dev.fitmint.workout.recorded.v1":
            day = datetime.fromisoformat(data["startedAt"]).astimezone(UTC).date()
        else:
            continue
        yield data["tenantId"], data["userId"], day


def test_active_members_are_distinct_members_in_the_window(plan_events, in_order):
    active = defaultdict(set)  # (tenant, day) -> members
    for tenant, member, day in _active_days(plan_events):
        active[(tenant, day)].add(member)

    def window(tenant, day, days):
        return set().union(*(active.get((tenant, day - timedelta(days=k)), set()) for k in range(days)))

    rows = {(row[0], row[1]): row[2:] for row in in_order["activity_days"]}
    assert len(rows) > 60
    for (tenant, day), counts in rows.items():
        expected = (len(window(tenant, day, 1)), len(window(tenant, day, 7)), len(window(tenant, day, 30)))
        assert counts == expected, (tenant, day)


def test_the_store_is_append_only(stores, settings, plan_events):
    async def run():
        pool = await stores.new(settings)
        try:
            async with pool.acquire() as connection, connection.transaction():
                await store.apply(connection, _incoming(plan_events[:50]))
            with pytest.raises(Exception, match="append-only"):
                await pool.execute("UPDATE events SET type = 'x'")
            with pytest.raises(Exception, match="append-only"):
                await pool.execute("DELETE FROM events")
            return await pool.fetchval("SELECT count(*) FROM events")
        finally:
            await pool.close()

    assert asyncio.run(run()) == 50


def test_a_new_schema_version_rebuilds_from_the_kept_events(stores, settings, plan_events, monkeypatch):
    async def run():
        pool = await stores.new(settings)
        name = stores.names[-1]
        async with pool.acquire() as connection, connection.transaction():
            await store.apply(connection, _incoming(plan_events))
        before = await snapshot(pool)
        await pool.close()
        monkeypatch.setattr(store, "SCHEMA_VERSION", store.SCHEMA_VERSION + 1)
        pool = await store.connect(settings, name)
        try:
            emptied = await pool.fetchval("SELECT count(*) FROM facts")
            assert await store.needs_rebuild(pool)
            await rebuild.from_store(pool, progress=lambda _: None)
            return emptied, await pool.fetchval("SELECT count(*) FROM events"), before, await snapshot(pool)
        finally:
            await pool.close()

    emptied, events, before, after = asyncio.run(run())
    assert emptied == 0 and events == len(plan_events)
    assert after == before


def test_importing_a_data_set_twice_stores_it_once(stores, settings, plan_events):
    from analytics import synthetic
    from tests.analytics.conftest import PLAN

    async def run():
        pool = await stores.new(settings)
        try:
            first = await synthetic.load(pool, PLAN, batch=1_500)
            again = await synthetic.load(pool, PLAN, batch=1_000)
            return first, again, await pool.fetchval("SELECT count(*) FROM events")
        finally:
            await pool.close()

    assert asyncio.run(run()) == (len(plan_events), 0, len(plan_events))


def test_a_tenant_arriving_late_and_quiet_spells_agree_with_a_rebuild(stores, settings, plan_events):
    """Activity of a new tenant for a few days long before the others' data, and of another long after it:
    the live path has to compute the days such data reaches that no batch of the others' touched."""
    from analytics import synthetic
    from tests.analytics.conftest import PLAN

    early = synthetic.Plan(events=400, days=4, tenants=1, seed=91, last_day=PLAN.first_day - timedelta(days=60))
    late = synthetic.Plan(events=400, days=3, tenants=1, seed=92, last_day=PLAN.last_day + timedelta(days=50))
    batches = [_incoming(plan_events), _incoming(synthetic.generate(early)), _incoming(synthetic.generate(late))]

    async def run():
        pool = await stores.new(settings)
        try:
            for incoming in batches:
                await _apply_in_batches(pool, incoming, random.Random(4))
            live = await snapshot(pool)
            await rebuild.from_store(pool, progress=lambda _: None)
            return live, await snapshot(pool)
        finally:
            await pool.close()

    live, rebuilt = asyncio.run(run())
    assert len({row[0] for row in live["activity_days"]}) == 4
    for table in live:
        assert live[table] == rebuilt[table], table


def test_member_weeks_hold_each_members_active_weekdays(plan_events, in_order):
    expected = defaultdict(int)  # (tenant, member, Monday) -> bits of the active days
    for tenant, member, day in _active_days(plan_events):
        expected[(tenant, member, day - timedelta(days=day.weekday()))] |= 1 << day.weekday()
    assert {(t, u, w): days for t, u, w, days in in_order["member_weeks"]} == dict(expected)
