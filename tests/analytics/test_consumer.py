"""The `fitmint-analytics` consumer on the stack's Kafka: the synthetic platform's events published to
topics of the test's own (some twice), consumed into a store; its live projections equal a rebuild of
that store, and a store built from Kafka's first offsets alone (python -m analytics replay's path)."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from analytics import rebuild
from analytics.service import AnalyticsConsumer
from fitmint import events as ev
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.analyticsstore import snapshot
from tests.support.waiting import until


async def _publish(bootstrap, prefix, events):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for event in events:
            await producer.send(prefix + event.topic, event.value, key=event.key.encode())
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def kafka_settings(settings):
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    settings = settings.model_copy(update={"kafka_topic_prefix": prefix, "analytics_batch_size": 100,
                                           "analytics_consumer_group": f"analytics-{prefix}"})
    asyncio.run(ensure_topics(settings.bootstrap, [prefix + t for t in ev.ALL_TOPICS], 3))
    yield settings
    asyncio.run(delete_topics_with_prefix(settings.bootstrap, prefix))


def test_consumed_live_equals_rebuilt_and_replayed(stores, kafka_settings, plan_events):
    settings = kafka_settings
    unique = len({event.value for event in plan_events})

    async def run():
        live_pool = await stores.new(settings, min_size=1, max_size=2)
        stop = asyncio.Event()
        consumer = asyncio.create_task(AnalyticsConsumer(live_pool, settings).run(stop))
        try:
            await _publish(settings.bootstrap, settings.kafka_topic_prefix, plan_events)
            await _publish(settings.bootstrap, settings.kafka_topic_prefix, plan_events[::10])  # again
            await until(lambda: _count(live_pool, unique), timeout=120, interval=0.2,
                        what="every published event stored")
        finally:
            stop.set()
            await consumer
        live = await snapshot(live_pool)
        state = await live_pool.fetchrow("SELECT applied_events FROM store_state")
        await rebuild.from_store(live_pool, progress=lambda _: None)
        rebuilt = await snapshot(live_pool)
        await live_pool.close()

        replayed_pool = await stores.new(settings, min_size=1, max_size=2)
        topics = [settings.kafka_topic_prefix + t for t in ev.ALL_TOPICS]
        stored = await rebuild.replay_kafka(replayed_pool, settings.bootstrap, topics, progress=lambda _: None)
        await rebuild.from_store(replayed_pool, progress=lambda _: None)
        replayed = await snapshot(replayed_pool)
        await replayed_pool.close()
        return live, rebuilt, replayed, state["applied_events"], stored

    live, rebuilt, replayed, applied, stored = asyncio.run(run())
    assert applied == unique and stored == unique
    assert all(live.values())
    assert live == rebuilt
    assert live == replayed


async def _count(pool, expected: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM events") >= expected
