"""Every connection to Kafka goes through its proxy, not only the bootstrap one: the broker advertises the
proxy's address, so a client that bootstraps at the broker's own port is still cut off when the proxy is, and
a latency toxic on the proxy delays what a consumer receives."""

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from scripts.stack.kafka_topics import ensure_topics

LATENCY_MS = 400


async def round_trip(bootstrap: str, topic: str) -> float:
    """Seconds from sending a record to a consumer (already positioned at the end) receiving it."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                group_id=f"topology-{uuid.uuid4().hex[:8]}")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        for tp in consumer.assignment():
            await consumer.position(tp)  # positioned at the end before the send
        began = time.monotonic()
        await producer.send_and_wait(topic, b"ping")
        while not await consumer.getmany(timeout_ms=100):
            pass
        return time.monotonic() - began
    finally:
        await producer.stop()
        await consumer.stop()


async def produce(bootstrap: str, topic: str, timeout: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(producer.start(), timeout)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"bypass?"), timeout)
    finally:
        await asyncio.wait_for(producer.stop(), timeout)


def test_kafka_clients_reach_the_broker_only_through_its_proxy(proxied):
    kafka = proxied.proxies["kafka"]
    direct = f"127.0.0.1:{proxied.stack.port('KAFKA_PORT')}"
    topic = f"topology-{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(kafka.address, [topic], 1))

    plain = asyncio.run(round_trip(kafka.address, topic))
    with kafka.toxic("latency", latency=LATENCY_MS):
        delayed = asyncio.run(round_trip(kafka.address, topic))
    assert delayed >= plain + LATENCY_MS / 1000, (plain, delayed)

    asyncio.run(produce(direct, topic, timeout=5))  # the broker's own port works while the proxy does
    with kafka.disabled(), pytest.raises((KafkaError, TimeoutError)):
        asyncio.run(produce(direct, topic, timeout=5))  # ... and not without it: no bypass
