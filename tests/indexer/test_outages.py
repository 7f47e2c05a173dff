"""The indexer rides out faults of what it depends on, under `make up`'s own script and supervisor, on a
stack of the test's own (tests/privatestack.py): PostgreSQL stopped for 15 s mid-backfill, Kafka stopped
mid-relay, the node answering 502s and then hanging connections, and the indexer SIGKILLed. Each run ends
with the same rows and the same set of event ids on Kafka (each once) as a clean run of the same chain,
and says once that a dependency went down and once that it came back."""

import asyncio
import os
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from checks import busy_chain, caught_up, consume_all, cursor_of, db, index_to_head, snapshot
from fitmint import events as ev
from indexer.settings import Settings as IndexerSettings
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.databases import admin_dsn
from tests.support.faultproxy import FaultProxy
from tests.support.indexer_targets import create_targets, drop_targets
from tests.support.outagelog import assert_said_once
from tests.support.paths import ROOT
from tests.support.privatestack import PrivateStack
from tests.support.processes import Service
from tests.support.scenario import ScenarioChain
from tests.support.waiting import wait_until

OUTAGE_SECONDS = 15


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    scenario = ScenarioChain(tmp_path_factory.mktemp("outages") / "state")
    busy_chain(scenario, rounds=25)
    yield scenario
    scenario.stop()


@pytest.fixture(scope="module")
def clean(chain, stack):
    """The rows and event ids of a clean run over the same chain (in the shared stack's PostgreSQL)."""
    settings = IndexerSettings(fitmint_state_dir=Path(stack["FITMINT_STATE_DIR"]), fitmint_rpc_url=chain.url,
                               postgres_port=int(stack["POSTGRES_PORT"]), kafka_port=int(stack["KAFKA_PORT"]),
                               indexer_database=f"idx_clean_{uuid.uuid4().hex[:8]}", manifest=chain.manifest_path,
                               kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.")
    asyncio.run(create_targets(settings, admin_dsn(stack)))
    try:
        asyncio.run(index_to_head(settings))
        rows = snapshot(settings)
    finally:
        asyncio.run(drop_targets(settings, admin_dsn(stack)))
    return rows


@pytest.fixture(scope="module")
def private(chain):
    """PostgreSQL and Kafka of this module's own, and the chain's deployment where `make up` keeps it."""
    stack = PrivateStack()
    try:
        stack("up", "postgres", "kafka", check=True)
        shutil.copytree(chain.manifest_path.parent, stack.state / "deployments")
        yield stack
    finally:
        stack("purge")


@pytest.fixture(scope="module")
def proxy(chain):
    with FaultProxy(chain.url) as running:
        running.latency = 0.01  # with one block a range, the backfill lasts long enough to hit it mid-way
        yield running


@pytest.fixture
def indexer(private, proxy, chain):
    """Starts `make up`'s indexer service (stack.sh, under its supervisor) on a database and topics of the
    test's own, reading the chain through the fault proxy; returns settings to inspect what it wrote."""
    started = []

    def start() -> IndexerSettings:
        settings = IndexerSettings(
            fitmint_state_dir=private.state, fitmint_rpc_url=proxy.url, postgres_port=private.port("POSTGRES_PORT"),
            kafka_port=private.port("KAFKA_PORT"), indexer_database=f"idx_{uuid.uuid4().hex[:10]}",
            kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.", manifest=chain.manifest_path)
        private.sql(f'CREATE DATABASE "{settings.indexer_database}"')
        asyncio.run(ensure_topics(settings.bootstrap, [settings.kafka_topic_prefix + t for t in ev.TOPICS], 3))
        private("up", "indexer", check=True, env={
            "FITMINT_RPC_URL": proxy.url, "INDEXER_DATABASE": settings.indexer_database,
            "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix, "INITIAL_RANGE": "1", "MAX_RANGE": "1",
            "RELAY_BATCH": "7", "RPC_TIMEOUT_SECONDS": "2"})
        started.append(settings)
        return settings

    yield start
    private("down", "indexer")
    proxy.fault = None
    for settings in started:
        private.sql(f'DROP DATABASE IF EXISTS "{settings.indexer_database}" WITH (FORCE)')
        asyncio.run(delete_topics_with_prefix(settings.bootstrap, settings.kafka_topic_prefix))


def this_run(log: str) -> str:
    """The part of a service's log since `stack.sh up` last started it (the tests share the private stack)."""
    return log[log.rfind("=== fitmint start"):]


def assert_same_as_clean(settings, clean):
    assert snapshot(settings) == clean
    ids = [record["id"] for record in asyncio.run(consume_all(settings))]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} event ids published twice"
    assert set(ids) == {str(row[0]) for row in clean["outbox"]}


def relayed(settings) -> int:
    """The seq of the last outbox row the relay published (0: none yet, or no schema yet)."""
    try:
        rows = db(settings, "SELECT seq FROM relay_position")
    except asyncpg.UndefinedTableError:
        return 0
    return rows[0]["seq"] if rows else 0


def wait_for_cursor(settings, block: int, timeout: float = 120) -> int:
    return wait_until(lambda: (c := cursor_of(settings)) is not None and c >= block and c, timeout=timeout,
                      interval=0.05, what=f"the indexer past block {block}")


def test_postgres_stopped_for_15_s_mid_backfill(indexer, private, chain, clean):
    settings = indexer()
    head = chain.head()
    before = wait_for_cursor(settings, head // 4)
    private("down", "postgres", check=True)
    time.sleep(OUTAGE_SECONDS)
    private("up", "postgres", check=True)
    wait_until(lambda: caught_up(settings, head), timeout=120, what="the indexer caught up after PostgreSQL")
    assert before < head, "the outage did not fall mid-backfill"
    assert private.supervisor("indexer")["restarts"] == 0, "the indexer died instead of waiting"
    assert_said_once(this_run(private.log("indexer")), "postgres")
    assert_same_as_clean(settings, clean)


def test_kafka_stopped_mid_relay(indexer, private, chain, clean):
    settings = indexer()
    head = chain.head()
    wait_until(lambda: relayed(settings) > 0, timeout=120, interval=0.05, what="the relay's first batch")
    assert not caught_up(settings, head), "everything was published before Kafka could be stopped"
    private("down", "kafka", check=True)
    time.sleep(OUTAGE_SECONDS)
    private("up", "kafka", check=True)
    wait_until(lambda: caught_up(settings, head), timeout=180, what="the relay caught up after Kafka")
    assert private.supervisor("indexer")["restarts"] == 0
    assert_said_once(this_run(private.log("indexer")), "kafka")
    assert_same_as_clean(settings, clean)


def test_node_answering_502_then_hanging(indexer, private, proxy, chain, clean):
    """15 s of faults: 502 Bad Gateway from the proxy, then connections that never answer (the test's
    RPC timeout is 2 s)."""
    settings = indexer()
    head = chain.head()
    wait_for_cursor(settings, head // 4)
    proxy.fault = "502"
    time.sleep(OUTAGE_SECONDS / 2)
    proxy.fault = "hang"
    time.sleep(OUTAGE_SECONDS / 2)
    stalled_at = cursor_of(settings)
    proxy.fault = None
    wait_until(lambda: caught_up(settings, head), timeout=120, what="the indexer caught up after the node")
    assert stalled_at < head and proxy.faulted > 0
    assert private.supervisor("indexer")["restarts"] == 0
    log = this_run(private.log("indexer"))
    assert_said_once(log, "rpc")
    assert "Traceback" not in log
    assert_same_as_clean(settings, clean)


def test_sigkilled_indexer_is_restarted_by_the_supervisor(indexer, private, chain, clean):
    settings = indexer()
    head = chain.head()
    first = private.child_pid("indexer")
    wait_for_cursor(settings, head // 3)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: private.supervisor("indexer")["restarts"] == 1, timeout=30, what="the supervisor's restart")
    wait_until(lambda: caught_up(settings, head), timeout=120, what="the restarted indexer caught up")
    assert private.child_pid("indexer") != first and cursor_of(settings) == head
    status = wait_until(lambda: (result := private("status", "indexer")).returncode == 0 and result, timeout=30,
                        interval=1, what="`make status` to show the restarted indexer healthy")
    assert "indexer: last restart after killed by SIGKILL" in status.stdout
    assert_same_as_clean(settings, clean)


def test_a_second_indexer_on_the_same_database_waits_and_takes_over(indexer, private, proxy, chain, clean, tmp_path):
    settings = indexer()
    head = chain.head()
    wait_for_cursor(settings, head // 4)
    env = dict(private.env, FITMINT_RPC_URL=proxy.url, INDEXER_DATABASE=settings.indexer_database,
               KAFKA_TOPIC_PREFIX=settings.kafka_topic_prefix, INDEXER_METRICS_PORT="0", INITIAL_RANGE="1",
               MAX_RANGE="1", PYTHONPATH=str(ROOT))
    second = Service("second-indexer", [sys.executable, "-m", "indexer", "run"], env, tmp_path / "second.log").start()
    try:
        second.wait_for(lambda: "another indexer writes" in second.log, timeout=30, what="waiting for the lock")
        assert "fitmint-indexer pid" in second.log  # it says which process holds the database
        private("down", "indexer", check=True)  # the first one stops: the second takes over
        second.wait_for(lambda: "took over writing" in second.log, timeout=30, what="taking over")
        wait_until(lambda: caught_up(settings, head), timeout=120, what="the second indexer caught up")
    finally:
        second.stop()
    assert second.log.count("another indexer writes") == 1  # said once, not per attempt
    assert_same_as_clean(settings, clean)
