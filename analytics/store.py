"""The analytics store in PostgreSQL: the schema, appending events, and applying a batch of them live.

`apply` is the live path, one transaction per batch: the events not stored before (idempotent by id)
are appended, their facts derived (facts.py), a compensation marks its original's fact reverted, and
every projection recomputes what the batch touched (projections.py): the days of the new facts, the
days their joins reach (a claim counts on its voucher's issue day, an order on its listing's tenant),
the members whose funnel moved and their cohorts. Appliers serialise on one advisory lock, so two
consumers (a rebalance's overlap) cannot recompute a day from two snapshots.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg

from analytics import facts
from analytics import projections as pj
from fitmint.pgcopy import copy_rows

SCHEMA = Path(__file__).with_name("schema.sql")
SCHEMA_VERSION = 1
LOCK = 0x666D616E  # pg_advisory_xact_lock key: "the analytics projections" (appliers and rebuilds)
DERIVED = ("facts", *(p.table for p in pj.ALL))  # everything a rebuild recreates


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event to store: its envelope's fields, where it was read, the whole CloudEvent (JSON text), and
    whether its payload matched its type's schema (`readable`)."""
    id: str
    type: str
    subject: str | None
    time: datetime
    topic: str
    document: str
    readable: bool
    reverts: str | None = None
    partition: int | None = None
    offset: int | None = None

    def row(self) -> tuple:
        """Its events row, in ROW_COLUMNS order."""
        return (self.id, self.type, self.subject, self.time, self.reverts, self.readable, self.topic, self.partition,
                self.offset, self.document)


ROW_COLUMNS = ("id", "type", "subject", "time", "reverts", "readable", "topic", "kafka_partition", "kafka_offset",
               "document")


@dataclass
class Applied:
    stored: list[Incoming] = field(default_factory=list)  # the events new to the store


def is_event_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def connect(settings, database: str | None = None, **pool_args) -> asyncpg.Pool:
    """A pool on the analytics database (UTC sessions: a day is a UTC day), its schema created. A store
    of another schema version keeps its events and loses its derived tables (created anew: empty until
    a rebuild, which `python -m analytics run` starts by itself)."""
    # A custom plan per execution: a recompute's days or members decide whether an index pays (a generic
    # plan of a day's reward_days took seconds where the custom one takes milliseconds).
    pool = await asyncpg.create_pool(**settings.postgres(database or settings.analytics_database),
                                     server_settings={"timezone": "UTC", "plan_cache_mode": "force_custom_plan"},
                                     **pool_args)
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        if await connection.fetchval("SELECT to_regclass('store_state') IS NOT NULL"):
            version = await connection.fetchval("SELECT schema_version FROM store_state")
            if version is not None and version != SCHEMA_VERSION:
                await connection.execute(f"DROP TABLE IF EXISTS {', '.join(DERIVED)}")
                await connection.execute("UPDATE store_state SET schema_version = $1", SCHEMA_VERSION)
        await connection.execute(SCHEMA.read_text())
        await connection.execute(
            "INSERT INTO store_state (schema_version) VALUES ($1) ON CONFLICT (singleton) DO NOTHING", SCHEMA_VERSION)
    return pool


async def needs_rebuild(pool) -> bool:
    """Events stored and no fact derived from them: a new schema version, or derived tables dropped."""
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM events) AND NOT EXISTS (SELECT 1 FROM facts)"))


_APPEND = (
    f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) "
    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::uuid[], $6::boolean[], "
    "                     $7::text[], $8::int[], $9::bigint[], $10::jsonb[]) "
    "ON CONFLICT (id) DO NOTHING RETURNING id")


async def append(connection, incoming: list[Incoming]) -> list[Incoming]:
    """Appends the events not stored yet (the first of duplicates in a batch wins); returns them."""
    unique = list({event.id: event for event in reversed(incoming)}.values())[::-1]
    if not unique:
        return []
    columns = zip(*[e.row() for e in unique], strict=True)
    new = {str(row["id"]) for row in await connection.fetch(_APPEND, *map(list, columns))}
    return [event for event in unique if event.id in new]


async def import_events(connection, incoming: list[Incoming]) -> int:
    """Appends many events at once (COPY through a temporary table: the bulk path of a data set's import,
    no RETURNING); ids already stored are skipped. Returns how many were new."""
    await connection.execute("CREATE TEMP TABLE IF NOT EXISTS events_import "
                             "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    await copy_rows(connection, "events_import", ROW_COLUMNS, [e.row() for e in incoming])
    columns = ", ".join(ROW_COLUMNS)
    status = await connection.execute(f"INSERT INTO events ({columns}) SELECT DISTINCT ON (id) {columns} "
                                      "FROM events_import ON CONFLICT (id) DO NOTHING")
    return int(status.split()[-1])


async def apply(connection, incoming: list[Incoming]) -> Applied:
    """Stores a batch and brings every projection up to date with it, in the caller's transaction."""
    await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
    applied = Applied(await append(connection, incoming))
    if not applied.stored:
        return applied
    stored = [event.id for event in applied.stored]
    derived = await connection.fetch(
        facts.derive("e.id = ANY($1::uuid[])") + f" RETURNING {facts.TOUCHED}", stored)
    reverted = await connection.fetch(
        f"UPDATE facts SET reverted = true WHERE event_id = ANY($1::uuid[]) AND NOT reverted RETURNING {facts.TOUCHED}",
        [event.reverts for event in applied.stored if event.reverts])
    touched = [_Touched(r["kind"], r["day"], str(r["tenant_id"]), None if r["user_id"] is None else str(r["user_id"]),
                        r["address"], r["claim_id"], r["listing_id"]) for r in [*derived, *reverted]]
    await _recompute(connection, touched)
    await connection.execute(
        "UPDATE store_state SET applied_events = applied_events + $1, last_applied_at = now()", len(applied.stored))
    return applied


@dataclass(frozen=True, slots=True)
class _Touched:
    kind: str
    day: date
    tenant_id: str
    user_id: str | None
    address: str | None
    claim_id: str | None
    listing_id: int | None


async def _recompute(connection, touched: list[_Touched]) -> None:
    days = {t.day for t in touched}
    activity = [t for t in touched if t.kind in ("signed_in", "workout")]
    active_days, active_tenants = {t.day for t in activity}, sorted({t.tenant_id for t in activity})
    members = {t.user_id for t in touched if t.user_id}
    claims = [t.claim_id for t in touched if t.kind == "reward_claimed"]
    listings = [t.listing_id for t in touched if t.kind == "listed"]
    buyers = {t.address for t in touched if t.kind == "order"}
    reward_tenants = {t.tenant_id for t in touched if t.kind == "reward_issued"}
    if claims:  # a claim counts on its voucher's issue day, in its member's funnel
        for row in await connection.fetch("SELECT day, tenant_id, user_id FROM facts WHERE kind = 'reward_issued' "
                                          "AND claim_id = ANY($1::text[])", claims):
            days.add(row["day"])
            reward_tenants.add(str(row["tenant_id"]))
            members.add(str(row["user_id"]))
    if listings:  # a listing gives its orders their tenant
        for row in await connection.fetch("SELECT day, address FROM facts WHERE kind = 'order' "
                                          "AND listing_id = ANY($1::bigint[])", listings):
            days.add(row["day"])
            buyers.add(row["address"])
    if buyers:  # a purchase moves the funnel of the members who signed in with the buyer's wallet
        members |= {str(row["user_id"]) for row in await connection.fetch(
            "SELECT DISTINCT user_id FROM facts WHERE kind = 'signed_in' AND address = ANY($1::text[])",
            list(buyers))}
    last_active = await connection.fetchval("SELECT max(day) FROM member_days")
    # Only the tenants whose members were active have new member_days, member_weeks and activity_days.
    await pj.recompute(connection, pj.MEMBER_DAYS, sorted(active_days), active_tenants)
    week_days = {day - timedelta(days=day.weekday()) + timedelta(days=n) for day in active_days for n in range(7)}
    await pj.recompute(connection, pj.MEMBER_WEEKS, sorted(week_days), active_tenants)
    await pj.recompute(connection, pj.REWARD_DAYS, sorted(days), sorted(reward_tenants))
    for projection in pj.BY_DAY:
        if projection not in (pj.MEMBER_DAYS, pj.MEMBER_WEEKS, pj.ACTIVITY_DAYS, pj.REWARD_DAYS):
            await pj.recompute(connection, projection, sorted(days))
    tenants_days, every_tenants_days = await _activity_days(connection, active_days, last_active)
    await pj.recompute(connection, pj.ACTIVITY_DAYS, sorted(tenants_days - every_tenants_days), active_tenants)
    await pj.recompute(connection, pj.ACTIVITY_DAYS, sorted(every_tenants_days))
    before = await _cohorts(connection, members)  # a member's first sign-in may move them to another cohort
    await pj.recompute(connection, pj.MEMBER_MILESTONES, sorted(members))
    cohorts = before | await _cohorts(connection, members)
    await pj.recompute(connection, pj.RETENTION_WEEKS, sorted({c for _, c in cohorts}),
                       sorted({t for t, _ in cohorts}))


async def _activity_days(connection, active_days: set[date], last_active: date | None) -> tuple[set, set]:
    """The days whose DAU/WAU/MAU may have changed: of the batch's tenants, each active day and the 29 after
    it; of every tenant, the days between the previous last active day and the new one (their windows now
    reach a day that has rows)."""
    if not active_days:
        return set(), set()
    keys = {day + timedelta(days=n) for day in active_days for n in range(pj.WINDOW_DAYS)}
    new_last = await connection.fetchval("SELECT max(day) FROM member_days")
    gap = set()
    if last_active is not None and new_last is not None and new_last > last_active:
        gap = {last_active + timedelta(days=n) for n in range(1, (new_last - last_active).days + 1)}
    return keys, gap


async def _cohorts(connection, members: Iterable[str]) -> set[tuple[str, date]]:
    """The (tenant, cohort Monday) of each member."""
    rows = await connection.fetch(
        "SELECT DISTINCT tenant_id, CAST(date_trunc('week', joined_at) AS date) AS cohort FROM member_milestones "
        "WHERE user_id = ANY($1::uuid[])", list(members))
    return {(str(row["tenant_id"]), row["cohort"]) for row in rows}
