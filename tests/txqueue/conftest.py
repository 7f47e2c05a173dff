"""Fixtures for the transaction queue: a private Anvil per test and a database of the test's own in the
stack's PostgreSQL with the queue's schema."""

import asyncio
import uuid

import asyncpg
import pytest

from fitmint.txqueue.schema import create_schema
from tests.support.databases import admin_dsn, create_databases, drop_databases
from tests.support.stackenv import stack_settings
from tests.support.txqueue import Anvil


@pytest.fixture(scope="session")
def stack():
    return stack_settings()


@pytest.fixture
def make_anvil():
    started = []

    def make(*flags: str) -> Anvil:
        started.append(Anvil(*flags))
        return started[-1]

    yield make
    for anvil in started:
        anvil.stop()


@pytest.fixture
def postgres(stack):
    """asyncpg.connect's arguments for a fresh database holding the queue's tables."""
    owner = admin_dsn(stack)
    name = f"txqueue_test_{uuid.uuid4().hex[:10]}"

    async def create():
        await create_databases([name], **owner)
        connection = await asyncpg.connect(**owner, database=name)
        try:
            await create_schema(connection)
        finally:
            await connection.close()

    asyncio.run(create())
    yield {**owner, "database": name}
    asyncio.run(drop_databases([name], **owner))


