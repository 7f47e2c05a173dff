"""EmailBatchReady across the stack's Kafka to the `fitmint-email` consumer group of a real worker, which
sends to a real SMTP server (aiosmtpd, answering slowly) and is SIGKILLed twice mid-batch.

Notifications are stored as the consumers and jobs store them (with NotificationQueued); the worker's
relay publishes the outbox, its deliveries group creates the email deliveries and their batches, the
relay publishes the EmailBatchReady events, and its email group sends them. After the kills: every
message reached the server at most once (by Message-ID), and every delivery is either sent (and at the
server) or failed with the reason (the message a kill left in flight), none pending or silently lost.
The same EmailBatchReady published again sends nothing."""

import asyncio
import uuid

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from backend.app.core.db import dsn, migrate
from backend.app.notifications import store
from backend.app.notifications.store import Draft
from backend.app.users.models import Preferences
from fitmint import events as ev
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.kafka import wait_consumed
from tests.support.mailsink import serving_mailbox
from tests.support.outboxfeed import as_published
from tests.support.processes import start_worker
from tests.support.stackenv import stack_settings
from tests.support.waiting import wait_until

MEMBERS = 200


@pytest.fixture
def mailbox():
    with serving_mailbox() as box:
        box.answer_delay = 0.02  # 200 messages take 4 s or more: time to kill the worker mid-batch
        yield box


@pytest.fixture
def email_env(tmp_path, mailbox):
    stack = stack_settings()
    database = create_database(stack)
    settings = api_settings(stack, tmp_path, database, kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
                            relay_enabled=True, smtp_port=mailbox.port, email_batch_size=40,
                            notifications_batch_size=100, delivery_stale_after_seconds=3,
                            sms_sink_file=tmp_path / "sms.jsonl")
    migrate(settings)
    asyncio.run(ensure_topics(settings.bootstrap, [settings.kafka_topic_prefix + t for t in ev.ALL_TOPICS], 3))
    try:
        yield settings
    finally:
        asyncio.run(delete_topics_with_prefix(settings.bootstrap, settings.kafka_topic_prefix))
        drop_database(stack, database)


async def store_notifications(settings) -> list[str]:
    """MEMBERS members who want email, a notification each (with its NotificationQueued event)."""
    connection = await asyncpg.connect(dsn(settings, settings.backend_database))
    try:
        tenant = str(await connection.fetchval("INSERT INTO tenants (slug, name) VALUES ('mail', 'Mail') RETURNING id"))
        ids = []
        async with connection.transaction():
            for i in range(MEMBERS):
                preferences = {"notification_channels": ["email"], "email": f"m{i}@example.org"}
                user = await connection.fetchval(
                    "INSERT INTO users (tenant_id, preferences) VALUES ($1::uuid, $2::jsonb) RETURNING id::text",
                    tenant, orjson.dumps(preferences).decode())
                queued = await store.queue(connection, tenant_id=tenant, user_id=user, source_event=str(uuid.uuid4()),
                                           draft=Draft("note", f"Note {i}", "Hello."),
                                           preferences=Preferences.model_validate(preferences))
                ids.append(queued.notification["id"])
        return ids
    finally:
        await connection.close()


def test_email_batches_cross_kafka_at_most_once_through_sigkills(email_env, mailbox, tmp_path):
    settings = email_env
    ids = asyncio.run(store_notifications(settings))
    worker = start_worker(settings, tmp_path, "--no-scheduler")  # sends: joins fitmint-email
    try:
        kills = 0
        for reached in (10, 80):  # killed twice, mid-batch, at whatever message it is sending
            wait_until(lambda reached=reached: len(mailbox.messages) >= reached, timeout=60, interval=0.005,
                       what=f"{reached} messages at the server")
            worker.kill()
            kills += 1
            assert len(mailbox.messages) < MEMBERS, "the worker finished before it could be killed"
            worker = start_worker(settings, tmp_path, "--no-scheduler")

        def settled():
            return db(settings, "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')")[0][0] == 0 \
                and db(settings, "SELECT count(*) FROM deliveries")[0][0] == MEMBERS

        wait_until(settled, timeout=90, what="every delivery sent or failed")
        at_server = [m["Message-ID"] for _, _, _, m in mailbox.messages]
        rows = {r["id"]: r for r in db(settings, "SELECT notification_id::text AS id, status, last_error "
                                                 "FROM deliveries")}

        # The same EmailBatchReady events again, as the relay published them: nothing is sent again.
        again = db(settings, "SELECT id, type, aggregateid, payload::text, event_time FROM outbox WHERE type = $1",
                   ev.EMAIL_BATCH_READY.ce_type)
        last = asyncio.run(publish(settings, again))
        # The group commits a batch's offset once its emails are sent: past `last`, any resend has happened.
        wait_consumed(settings.bootstrap, settings.email_consumer_group, {tp: o + 1 for tp, o in last.items()})
        assert [m["Message-ID"] for _, _, _, m in mailbox.messages] == at_server
    finally:
        worker.stop()

    domain = "fitmint.localhost"
    assert len(at_server) == len(set(at_server)), "a message reached the server twice"
    assert set(rows) == set(ids)
    sent = {i for i, r in rows.items() if r["status"] == "sent"}
    failed = {i: r["last_error"] for i, r in rows.items() if r["status"] == "failed"}
    assert len(sent) + len(failed) == MEMBERS  # nothing silently lost
    assert {f"<{i}@{domain}>" for i in sent} <= set(at_server)
    assert len(failed) <= kills  # at most the message in flight at each kill
    for reason in failed.values():
        assert "never confirmed" in reason and "not resent" in reason, reason
    print(f"{len(sent)} sent, {len(failed)} reported failed after {kills} kills; {len(at_server)} at the server")


async def publish(settings, rows) -> dict:
    """Publishes the outbox rows to the email topic as the relay would; returns the last offset written to
    each partition."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        sent = []
        for row in rows:
            sent.append(await producer.send(settings.kafka_topic_prefix + ev.EMAIL_BATCH_READY.topic,
                                            as_published(row, settings.chain_id),
                                            key=row["aggregateid"].encode()))
        last = {}
        for metadata in await asyncio.gather(*sent):
            last[metadata.topic_partition] = max(last.get(metadata.topic_partition, -1), metadata.offset)
        return last
    finally:
        await producer.stop()
