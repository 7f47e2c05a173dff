"""Fixtures for indexer tests: a private Anvil with the contracts (tests/indexer/scenario.py), a
fresh database in the stack's PostgreSQL, and Kafka topics of the test's own on the stack's broker."""

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from indexer import events as ev
from indexer.settings import Settings
from bench.chain import ScenarioChain
from stackenv import stack_settings


@pytest.fixture(scope="session")
def stack():
    return stack_settings()


@pytest.fixture
def chain(tmp_path):
    scenario = ScenarioChain(tmp_path / "state")
    yield scenario
    scenario.stop()


def _admin_dsn(stack, secret_dir):
    password = (secret_dir / "postgres-password").read_text().strip()
    return dict(host="127.0.0.1", port=int(stack["POSTGRES_PORT"]), user=stack["POSTGRES_USER"], password=password)


@pytest.fixture
def make_indexer_settings(stack, chain):
    """Factory: settings for an indexer of `chain` into a database and Kafka topics of its own."""
    secrets = Path(stack["FITMINT_STATE_DIR"]) / "secrets"
    dsn = _admin_dsn(stack, secrets)
    bootstrap = f"127.0.0.1:{stack['KAFKA_PORT']}"
    created = []

    async def setup(database, prefix):
        connection = await asyncpg.connect(database="postgres", **dsn)
        await connection.execute(f'CREATE DATABASE "{database}"')
        await connection.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(prefix + topic, num_partitions=3, replication_factor=1)
                                   for topic in ev.TOPICS])
        await admin.close()

    def make(**overrides):
        database, prefix = f"idx_test_{uuid.uuid4().hex[:10]}", f"test-{uuid.uuid4().hex[:8]}."
        asyncio.run(setup(database, prefix))
        created.append((database, prefix))
        values = dict(fitmint_state_dir=Path(stack["FITMINT_STATE_DIR"]), fitmint_rpc_url=chain.url,
                      postgres_port=int(stack["POSTGRES_PORT"]), indexer_database=database,
                      kafka_port=int(stack["KAFKA_PORT"]), kafka_topic_prefix=prefix,
                      manifest=chain.manifest_path, initial_range=16, reorg_depth=16)
        return Settings(**{**values, **overrides})

    yield make

    async def teardown():
        connection = await asyncpg.connect(database="postgres", **dsn)
        for database, _ in created:
            await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await connection.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        existing = await admin.list_topics()
        doomed = [t for t in existing if any(t.startswith(prefix) for _, prefix in created)]
        if doomed:
            await admin.delete_topics(doomed)
        await admin.close()

    asyncio.run(teardown())


@pytest.fixture
def indexer_settings(make_indexer_settings):
    return make_indexer_settings()
