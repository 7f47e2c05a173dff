"""The notifications worker rides out outages of PostgreSQL, Kafka and Redis (15 s each) on a stack of the
test's own: it never exits, says once per outage that a dependency is down and once that it is back,
shows the state on its metrics endpoint, and in the end every event became exactly one notification
and every NotificationQueued of its outbox reached Kafka exactly once (the API relay it runs)."""

import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from backend.app.core.db import migrate
from fitmint import events as ev
from scripts.stack.kafka_topics import ensure_topics
from tests.support.api import api_settings, db
from tests.support.kafka import event_ids
from tests.support.outagelog import all_back, assert_said_once
from tests.support.privatestack import PrivateStack
from tests.support.processes import free_port, start_worker
from tests.support.waiting import wait_until

OUTAGE_SECONDS = 15
PER_ROUND = 50


@pytest.fixture(scope="module")
def private():
    stack = PrivateStack()
    try:
        stack("up", "postgres", "redis", "kafka", check=True)
        yield stack
    finally:
        stack("purge")


@pytest.fixture
def worker_env(private, tmp_path):
    database = f"api_test_{uuid.uuid4().hex[:10]}"
    private.sql(f'CREATE DATABASE "{database}"')
    settings = api_settings(private.env, tmp_path, database, relay_enabled=True, worker_metrics_port=free_port(),
                            kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.")
    migrate(settings)
    asyncio.run(ensure_topics(settings.bootstrap, [settings.kafka_topic_prefix + t for t in ev.ALL_TOPICS], 3))
    address = "0x" + uuid.uuid4().hex[:8] * 5
    tenant = db(settings, "INSERT INTO tenants (slug, name) VALUES ('outages', 'Outages') RETURNING id")[0]["id"]
    user = db(settings, "INSERT INTO users (tenant_id, preferences) VALUES ($1, $2::jsonb) RETURNING id", tenant,
              orjson.dumps({"notification_channels": ["websocket"]}).decode())[0]["id"]
    db(settings, "INSERT INTO wallet_links (tenant_id, address, user_id) VALUES ($1, $2, $3)", tenant, address, user)
    yield settings, address, tmp_path


def minted(address: str, amount: int) -> tuple[str, bytes]:
    block_hash = "0x" + uuid.uuid4().hex * 2
    event_id = ev.event_id(31337, block_hash, 0, ev.TOKEN_MINTED)
    data = {"account": address, "amount": str(amount), "blockNumber": 7, "blockHash": block_hash,
            "txHash": "0x" + uuid.uuid4().hex * 2, "logIndex": 0}
    return event_id, ev.envelope(id=event_id, ce_type=ev.TOKEN_MINTED.ce_type, chain_id=31337, subject=address,
                                 time=datetime.now(UTC), data=data)


def publish(settings, address: str, count: int) -> list[str]:
    events = [minted(address, i + 1) for i in range(count)]

    async def send():
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for _, body in events:
                await producer.send(settings.kafka_topic_prefix + ev.TOKEN_MINTED.topic, body, key=address.encode())
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())
    return [event_id for event_id, _ in events]


def notified(settings) -> int:
    return db(settings, "SELECT count(DISTINCT source_event) AS n FROM notifications")[0]["n"]


def queued_on_kafka(settings) -> list[str]:
    return event_ids(settings.bootstrap, settings.kafka_topic_prefix + ev.NOTIFICATION_QUEUED.topic,
                     ev.NOTIFICATION_QUEUED.ce_type)


def test_the_worker_rides_out_postgres_kafka_and_redis_outages(private, worker_env):
    settings, address, log_dir = worker_env
    worker = start_worker(settings, log_dir, "--no-scheduler")
    try:
        published = publish(settings, address, PER_ROUND)
        wait_until(lambda: notified(settings) == PER_ROUND, timeout=60, what="the first round")

        for service in ("postgres", "kafka", "redis"):
            private("down", service, check=True)
            if service != "kafka":  # events keep coming while the worker cannot apply (or push) them
                published += publish(settings, address, PER_ROUND)
            time.sleep(OUTAGE_SECONDS)
            assert worker.process.poll() is None, f"the worker exited during the {service} outage:\n{worker.log}"
            private("up", service, check=True)
            published += publish(settings, address, PER_ROUND)  # and after: what failed meanwhile works again
            wait_until(lambda published=published: notified(settings) == len(published), timeout=120,
                       what=f"every notification after the {service} outage")

        dependencies = ("postgres", "kafka", "redis")
        wait_until(lambda: all_back(worker.log, dependencies), timeout=30,
                   what="the worker to say each dependency is back")
        for dependency in dependencies:
            assert_said_once(worker.log, dependency)
        metrics = httpx.get(f"http://127.0.0.1:{settings.worker_metrics_port}/metrics").text
        states = [line for line in metrics.splitlines() if line.startswith("fitmint_dependency_up{")]
        assert states and all(line.endswith(" 1.0") for line in states), states

        rows = db(settings, "SELECT count(*) AS n, count(DISTINCT source_event) AS events FROM notifications")[0]
        assert (rows["n"], rows["events"]) == (len(published), len(published))  # each once, none lost
        outbox = {str(row["id"]) for row in db(settings, "SELECT id FROM outbox WHERE type = $1",
                                                ev.NOTIFICATION_QUEUED.ce_type)}
        assert len(outbox) == len(published)
        wait_until(lambda: len(queued_on_kafka(settings)) >= len(outbox), timeout=60, what="the relay to finish")
        ids = queued_on_kafka(settings)
        assert len(ids) == len(set(ids)) and set(ids) == outbox  # the API relay: each once, none lost
    finally:
        worker.stop()
