"""Consumer lag (fitmint/consumerlag.py): the arithmetic, and the gauge of a real ConsumerLoop on the
stack's Kafka reading a transactional producer's records, as the relays write them: behind while it has
records to read, 0 once caught up and idle (a transaction's commit marker takes an offset after the last
record: it must not read as one record behind), and 0 again for a member that starts from the committed
offsets, which point at that marker."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from fitmint.consumer import ConsumerLoop
from fitmint.consumerlag import LAG, lag
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.stackenv import stack_settings
from tests.support.waiting import until

RECORDS = 60
BATCH = 10


def test_lag_is_the_records_between_position_and_end():
    assert lag(100, 40) == 60
    assert lag(100, 100) == 0
    assert lag(100, 101) == 0  # a position past a stale end (the end comes with the last fetch)
    assert lag(None, 5) is None  # no fetch yet
    assert lag(-1, 5) is None  # read_uncommitted's "no last stable offset"


def _lag(group: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value("fitmint_consumer_lag_records",
                                     {"group": group, "topic": topic, "partition": str(partition)})


@pytest.fixture
def topic():
    bootstrap = f"127.0.0.1:{stack_settings()['KAFKA_PORT']}"
    prefix = f"test-lag-{uuid.uuid4().hex[:8]}."
    yield bootstrap, prefix + "records"
    asyncio.run(delete_topics_with_prefix(bootstrap, prefix))


async def _publish_in_one_transaction(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-producer",
                                enable_idempotence=True, acks="all")
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(count):
                await producer.send(topic, f"record {i}".encode(), key=b"one-key", partition=0)
    finally:
        await producer.stop()


def test_a_caught_up_idle_consumer_shows_no_lag(topic):
    bootstrap, name = topic
    group = f"{name}-group"

    async def run():
        await ensure_topics(bootstrap, [name], 1)
        await _publish_in_one_transaction(bootstrap, name, RECORDS)
        applied, release = [], asyncio.Event()

        async def apply(records):
            applied.extend(records)
            await release.wait()  # holds the first batch: the rest is lag meanwhile

        stop = asyncio.Event()
        loop = ConsumerLoop(name="lag-test", group_id=group, topics=[name], bootstrap=bootstrap, apply=apply,
                            batch_size=BATCH)
        task = asyncio.create_task(loop.run(stop))
        try:
            await until(lambda: _lag(group, name, 0) is not None, timeout=60, what="a lag reported")
            behind = _lag(group, name, 0)
            assert RECORDS - BATCH <= behind <= RECORDS - BATCH + 1  # + the commit marker, while behind
            release.set()
            await until(lambda: len(applied) == RECORDS, timeout=60, what="every record applied")
            await until(lambda: _lag(group, name, 0) == 0, timeout=10, what="lag 0 once caught up")
            await asyncio.sleep(2)  # idle polls: still 0
            assert _lag(group, name, 0) == 0
        finally:
            stop.set()
            await task

        # A new member resumes from the committed offset (the last record + 1: the marker's offset).
        stop = asyncio.Event()
        loop = ConsumerLoop(name="lag-test", group_id=group, topics=[name], bootstrap=bootstrap, apply=apply,
                            batch_size=BATCH)
        LAG.remove(group, name, "0")  # what the first member reported: the new one must report its own
        task = asyncio.create_task(loop.run(stop))
        try:
            await until(lambda: _lag(group, name, 0) is not None, timeout=60, what="a lag reported after restart")
            await asyncio.sleep(2)
            assert _lag(group, name, 0) == 0
            assert len(applied) == RECORDS  # nothing read again
        finally:
            stop.set()
            await task

    asyncio.run(run())
