"""Private analytics stores for tests and benchmarks: a throwaway database on the stack's PostgreSQL with
the store's schema, the analytics settings that reach it (and the stack's Kafka, under a topic prefix of
its own), and snapshots of every projection to compare two stores by."""

import uuid

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
