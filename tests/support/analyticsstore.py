"""Private analytics stores for tests and benchmarks: a throwaway database on the stack's PostgreSQL with
the store's schema, the analytics settings that reach it (and the stack's Kafka, under a topic prefix of
its own), and snapshots of every projection to compare two stores by; and, for tests of what reads the
store, a store filled with projection rows as given."""

import asyncio
import uuid
from datetime import date, timedelta

import asyncpg

from analytics import projections as pj
from analytics import store
from analytics.settings import Settings
from tests.support.databases import admin_dsn, create_databases, drop_databases
from tests.support.stackenv import stack_settings


def analytics_settings(**overrides) -> Settings:
    stack = stack_settings()
    return Settings(fitmint_state_dir=stack["FITMINT_STATE_DIR"], postgres_port=int(stack["POSTGRES_PORT"]),
                    kafka_port=int(stack["KAFKA_PORT"]), analytics_metrics_port=0, **overrides)


class PrivateStores:
    """Creates databases named `analytics_test_<hex>` on demand; `close()` drops them all."""

    def __init__(self):
        self.stack = stack_settings()
        self.names: list[str] = []

    async def new(self, settings: Settings, **pool_args):
        name = f"analytics_test_{uuid.uuid4().hex[:10]}"
        await create_databases([name], **admin_dsn(self.stack))
        self.names.append(name)
        return await store.connect(settings, name, **pool_args)

    async def connect_last(self, settings: Settings, **pool_args):
        """Another pool on the store `new` created last."""
        return await store.connect(settings, self.names[-1], **pool_args)

    async def close(self) -> None:
        await drop_databases(self.names, **admin_dsn(self.stack))
        self.names.clear()


async def snapshot(pool) -> dict[str, list[tuple]]:
    """Every projection's rows, sorted: two stores agree when their snapshots are equal."""
    tables = {}
    async with pool.acquire() as connection:
        for projection in pj.ALL:
            rows = await connection.fetch(f"SELECT * FROM {projection.table}")
            tables[projection.table] = sorted(tuple(_comparable(v) for v in row.values()) for row in rows)
    return tables


def _comparable(value):
    # Sums of float8 distances may differ in their last bits with the order rows were added in.
    return round(value, 6) if isinstance(value, float) else str(value) if isinstance(value, uuid.UUID) else value


# --- for tests of what reads the store (the dashboards, the weekly report) -----------------------------------

def create_store(stack: dict) -> str:
    """A new store database with its schema, outside an event loop; its name (drop it with
    databases.drop_database)."""
    name = f"analytics_test_{uuid.uuid4().hex[:10]}"

    async def create():
        await create_databases([name], **admin_dsn(stack))
        await (await store.connect(analytics_settings(), name, min_size=1, max_size=1)).close()

    asyncio.run(create())
    return name


async def insert_rows(stack: dict, database: str, rows: dict[str, list[dict]]) -> None:
    """Writes projection rows as given: {table: [row, ...]}, each row a {column: value} dict (a table's rows
    share their columns). member_weeks is derived from all the member_days rows by its projection's own SQL."""
    connection = await asyncpg.connect(**admin_dsn(stack), database=database)
    try:
        async with connection.transaction():
            for table, items in rows.items():
                if items:
                    columns = list(items[0])
                    await connection.copy_records_to_table(
                        table, records=[tuple(item[c] for c in columns) for item in items], columns=columns)
            if rows.get("member_days"):
                await connection.execute("SET LOCAL timezone = 'UTC'")
                await connection.execute("DELETE FROM member_weeks")
                await connection.execute(f"INSERT INTO member_weeks {pj.MEMBER_WEEKS.select_where('TRUE')}")
    finally:
        await connection.close()


def write_rows(stack: dict, database: str, rows: dict[str, list[dict]]) -> None:
    """`insert_rows` outside an event loop."""
    asyncio.run(insert_rows(stack, database, rows))


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]
