"""Fixtures for indexer tests: a private Anvil with the contracts (bench/chain.py), a
fresh database in the stack's PostgreSQL, and Kafka topics of the test's own on the stack's broker."""

import asyncio
import uuid
from pathlib import Path

import pytest

from indexer.settings import Settings
from tests.support.databases import admin_dsn
from tests.support.indexer_targets import create_targets, drop_targets
from tests.support.scenario import ScenarioChain
from tests.support.stackenv import stack_settings


@pytest.fixture(scope="session")
def stack():
    return stack_settings()


@pytest.fixture
def chain(tmp_path):
    scenario = ScenarioChain(tmp_path / "state")
    yield scenario
    scenario.stop()


@pytest.fixture
def make_indexer_settings(stack, chain):
    """Factory: settings for an indexer of `chain` into a database and Kafka topics of its own."""
    dsn = admin_dsn(stack)
    created = []

    def make(**overrides):
        values = dict(fitmint_state_dir=Path(stack["FITMINT_STATE_DIR"]), fitmint_rpc_url=chain.url,
                      postgres_port=int(stack["POSTGRES_PORT"]), indexer_database=f"idx_test_{uuid.uuid4().hex[:10]}",
                      kafka_port=int(stack["KAFKA_PORT"]), kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
                      manifest=chain.manifest_path, initial_range=16, reorg_depth=16)
        settings = Settings(**{**values, **overrides})
        asyncio.run(create_targets(settings, dsn))
        created.append(settings)
        return settings

    yield make
    for settings in created:
        asyncio.run(drop_targets(settings, dsn))


@pytest.fixture
def indexer_settings(make_indexer_settings):
    return make_indexer_settings()
