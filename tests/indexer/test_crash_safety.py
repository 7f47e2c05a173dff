"""kill -9 at random points of a backfill, many times, and a Kafka broker stopped mid-stream: the
final database and the set of event ids on Kafka equal a clean run's (0 lost, 0 duplicated). The broker
stopped is a Kafka of the test's own: stopping the stack's would cut off whatever else uses it meanwhile."""

import asyncio
import random
import signal

import pytest

from checks import assert_matches_chain, busy_chain, caught_up, consume_all, cursor_of, db, index_to_head, snapshot
from checks import indexer_process as run_indexer
from tests.support.privatestack import PrivateStack
from tests.support.processes import stop_group
from tests.support.scenario import ScenarioChain
from tests.support.waiting import wait_until


def indexer_process(settings, **extra):
    return run_indexer(settings, relay_batch=7, **extra)  # small relay batches: kills land between them


def test_kill_9_at_random_points_loses_and_duplicates_nothing(chain, make_indexer_settings):
    busy_chain(chain)
    head = chain.head()
    clean = make_indexer_settings()
    asyncio.run(index_to_head(clean))

    crashed = make_indexer_settings()
    rng = random.Random(20261127)
    killed_at = []  # the cursor each kill left behind
    # Kill when the cursor passes random blocks (not after random times: how far a second gets depends on
    # the machine), plus once before the schema may exist. Each kill lands wherever the indexer is then.
    for target in [None, *sorted(rng.sample(range(5, head - 5), 6))]:
        process = indexer_process(crashed, initial_range=1, max_range=1)
        if target is not None:
            wait_until(lambda process=process, target=target: (process.poll() is not None
                                                               or (cursor_of(crashed) or 0) >= target),
                       timeout=120, interval=0.005, what=f"the indexer at block {target}")
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())
        stop_group(process, signal.SIGKILL)
        killed_at.append(cursor_of(crashed))
    process = indexer_process(crashed, initial_range=1, max_range=1)
    try:
        wait_until(lambda: caught_up(crashed, head), timeout=120, what="the restarted indexer to catch up")
    finally:
        stop_group(process)
    mid_backfill = {block for block in killed_at if block is not None and block < head}
    assert len(mid_backfill) >= 3, f"too few kills landed mid-backfill: {killed_at} (head {head})"

    assert snapshot(crashed) == snapshot(clean)
    assert_matches_chain(chain, crashed)
    published = asyncio.run(consume_all(crashed))
    ids = [record["id"] for record in published]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicate event ids on Kafka"
    assert set(ids) == {str(row[0]) for row in snapshot(clean)["outbox"]}


@pytest.fixture(scope="module")  # outlives make_indexer_settings, whose teardown deletes the test's topics on it
def own_kafka():
    stack = PrivateStack()
    try:
        stack("up", "kafka", check=True)
        yield stack
    finally:
        stack("purge")


def test_kafka_down_mid_stream_loses_nothing(own_kafka, chain, make_indexer_settings):
    settings = make_indexer_settings(kafka_port=own_kafka.port("KAFKA_PORT"))
    busy_chain(chain, rounds=10)
    process = indexer_process(settings)
    try:
        wait_until(lambda: caught_up(settings, chain.head()), timeout=120, what="the first catch-up")
        own_kafka("down", "kafka", check=True)
        try:
            busy_chain(chain, rounds=5)  # events arrive while Kafka is down: they wait in the outbox
            wait_until(lambda: db(settings, "SELECT block_number FROM indexer_cursor")[0]["block_number"]
                       == chain.head(), timeout=120, what="indexing without Kafka")
            assert not caught_up(settings, chain.head())
        finally:
            own_kafka("up", "kafka", check=True)
        wait_until(lambda: caught_up(settings, chain.head()), timeout=180, what="the relay after Kafka returned")
    finally:
        stop_group(process)
    outbox = {str(row["id"]) for row in db(settings, "SELECT id FROM outbox")}
    published = asyncio.run(consume_all(settings))
    ids = [record["id"] for record in published]
    assert len(ids) == len(set(ids))
    assert set(ids) == outbox


def test_a_restarted_chain_is_indexed_afresh_not_refused(chain, make_indexer_settings, tmp_path):
    """`make down && make up`: Anvil starts a new chain and the contracts are deployed again, while the
    indexer's database still holds the old chain. The indexer starts over instead of stopping at a
    "reorg" deeper than its window."""
    busy_chain(chain, rounds=20)
    settings = make_indexer_settings()
    asyncio.run(index_to_head(settings))
    chain.stop()
    restarted = ScenarioChain(tmp_path / "restarted")
    try:
        busy_chain(restarted, rounds=5)
        again = settings.model_copy(update={"fitmint_rpc_url": restarted.url, "manifest": restarted.manifest_path})
        process = indexer_process(again)
        try:
            wait_until(lambda: caught_up(again, restarted.head()), timeout=120,
                       what="the indexer on the restarted chain")
        finally:
            stop_group(process)
        assert "indexed from another deployment" in process.stderr.read().decode()
        assert_matches_chain(restarted, again)
    finally:
        restarted.stop()
