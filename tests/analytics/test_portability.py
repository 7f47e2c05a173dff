"""The projections' SQL is portable: run unchanged on DuckDB (an embedded columnar engine, the path to a
larger one such as ClickHouse), over the facts of a PostgreSQL store, it gives the same tables."""

import asyncio
import random
from decimal import Decimal

import duckdb
import pytest

from analytics import projections as pj
from analytics import store
from analytics.facts import COLUMNS
from analytics.incoming import incoming_of
from tests.support.analyticsstore import snapshot

DUCKDB_FACTS = """CREATE TABLE facts (
    event_id UUID PRIMARY KEY, kind VARCHAR NOT NULL, occurred_at TIMESTAMPTZ NOT NULL, day DATE NOT NULL,
    tenant_id UUID NOT NULL, user_id UUID, address VARCHAR, activity VARCHAR, status VARCHAR, reasons VARCHAR[],
    flagged BOOLEAN, distance_m DOUBLE, duration_s DOUBLE, claim_id VARCHAR, listing_id BIGINT,
    item_id UHUGEINT, name VARCHAR, joined BOOLEAN, amount DECIMAL(38, 0), fee DECIMAL(38, 0),
    burned DECIMAL(38, 0), quantity DECIMAL(38, 0), reverted BOOLEAN NOT NULL)"""


@pytest.fixture(scope="module")
def postgres_store(stores, settings, plan_events):
    async def run():
        pool = await stores.new(settings)
        try:
            incoming = [incoming_of(e.value, topic=e.topic, fallback_time=e.time) for e in plan_events]
            random.Random(7).shuffle(incoming)
            for start in range(0, len(incoming), 400):
                async with pool.acquire() as connection, connection.transaction():
                    await store.apply(connection, incoming[start:start + 400])
            facts = [tuple(row.values()) for row in await pool.fetch(f"SELECT {', '.join(COLUMNS)} FROM facts")]
            return facts, await snapshot(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def _normalise(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return str(value) if type(value).__name__ == "UUID" else value


def _parameter(value):
    if type(value).__name__ == "UUID":
        return str(value)
    return int(value) if isinstance(value, Decimal) else value


def test_projections_run_unchanged_on_duckdb(postgres_store):
    facts, in_postgres = postgres_store
    db = duckdb.connect()
    try:
        _compare_on_duckdb(db, facts, in_postgres)
    finally:
        db.close()


def _compare_on_duckdb(db, facts, in_postgres):
    db.execute("SET TimeZone = 'UTC'")
    db.execute(DUCKDB_FACTS)
    row_marks = f"({', '.join('?' for _ in COLUMNS)})"
    for start in range(0, len(facts), 200):  # many rows a statement: DuckDB's executemany is row by row
        chunk = facts[start:start + 200]
        db.execute(f"INSERT INTO facts VALUES {', '.join(row_marks for _ in chunk)}",
                   [_parameter(v) for row in chunk for v in row])
    for projection in pj.ALL:
        db.execute(f"CREATE TABLE {projection.table} AS {projection.select_where('TRUE')}")
        in_duckdb = sorted(tuple(_normalise(v) for v in row) for row in db.execute(
            f"SELECT * FROM {projection.table}").fetchall())
        expected = sorted(tuple(_normalise(v) for v in row) for row in in_postgres[projection.table])
        assert in_duckdb == expected, projection.table
