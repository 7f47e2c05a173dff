"""Kafka -> notifications: the worker's consumer group over the token, rewards and orders topics.

Each poll's records are applied in one PostgreSQL transaction, and only then are their offsets
committed (effect first, offset after). A record seen again (a crash between the two, a rebalance)
finds its event id in `consumed_events` and changes nothing, so a member is notified at most once per
event; a record is never skipped, because its offset moves only after its effect is committed.
A `...reverted.v1` event (a chain reorganisation) gives every member told of the original a correction.
"""

import asyncio
import logging
import uuid
from collections import defaultdict
from datetime import datetime, timezone

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError

from backend.app.core.background import pause
from backend.app.notifications import events as notes
from backend.app.notifications.receipts import receipt_for
from backend.app.notifications.store import (Pending, Queued, email_batch_ready, preferences_of, push_all, queue_many,
                                             wire)

log = logging.getLogger("worker.consumer")
KAFKA_TIMEOUT = 30


class NotificationConsumer:
    def __init__(self, pool, redis, settings):
        self.pool = pool
        self.redis = redis
        self.settings = settings
        self.batch_size = settings.notifications_batch_size
        self.topics = [settings.kafka_topic_prefix + topic for topic in notes.TOPICS]
        self.name = settings.notifications_consumer_group
        self.applied = 0  # events applied by this process (metrics, the benchmark)

    def _kafka(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap, group_id=self.name,
            isolation_level="read_committed", enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=self.batch_size, session_timeout_ms=10_000, heartbeat_interval_ms=1_000)

    async def run(self, stop: asyncio.Event) -> None:
        """Consumes until `stop` is set; reconnects after Kafka or PostgreSQL errors."""
        while not stop.is_set():
            consumer = self._kafka()
            try:
                await asyncio.wait_for(consumer.start(), KAFKA_TIMEOUT)
                consumer.subscribe(self.topics, listener=_LogAssignments())
                log.info("consuming %s as group %s", ", ".join(self.topics), self.name)
                while not stop.is_set():
                    batch = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
                    if not batch:
                        continue
                    try:
                        queued = await self.apply([r for records in batch.values() for r in records])
                    except Exception:
                        # Nothing committed: rewind so the same records come again after a pause.
                        log.exception("applying %d records failed; retrying", sum(map(len, batch.values())))
                        for tp, records in batch.items():
                            consumer.seek(tp, records[0].offset)
                        await pause(stop, 2)
                        continue
                    try:
                        await asyncio.wait_for(
                            consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()}),
                            KAFKA_TIMEOUT)
                    except CommitFailedError:
                        log.warning("offset commit refused (rebalance): the records will come again, as no-ops")
                    await push_all(self.redis, queued)
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                log.warning("kafka: %r; reconnecting", exc)
                await pause(stop, 2)
            finally:
                try:
                    await asyncio.wait_for(consumer.stop(), KAFKA_TIMEOUT)
                except Exception:  # noqa: BLE001 - stopping a consumer of a dead broker
                    pass

    async def apply(self, records) -> list[Queued]:
        """Applies records in one transaction; returns the notifications it stored (to push live)."""
        envelopes = []
        for record in records:
            try:
                envelope = orjson.loads(record.value)
                envelopes.append((record, envelope, str(envelope["id"])))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.error("skipping a record that is not a CloudEvent: %s[%d]@%d", record.topic, record.partition,
                          record.offset)
        queued = []
        async with self.pool.acquire() as connection, connection.transaction():
            fresh = set(await connection.fetchval(
                "WITH inserted AS (INSERT INTO consumed_events (consumer, event_id, topic, kafka_partition, kafka_offset) "
                "  SELECT DISTINCT ON (event_id) $1, * FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) "
                "  AS c(event_id, topic, kafka_partition, kafka_offset) ON CONFLICT DO NOTHING RETURNING event_id) "
                "SELECT coalesce(array_agg(event_id::text), '{}') FROM inserted",
                self.name, [e[2] for e in envelopes], [e[0].topic for e in envelopes],
                [e[0].partition for e in envelopes], [e[0].offset for e in envelopes]))
            todo = []
            for _, envelope, event_id in envelopes:
                if event_id in fresh:
                    fresh.discard(event_id)  # an id twice in one batch is applied once
                    todo.append((envelope, event_id))
            addresses = {a for envelope, _ in todo for a in _addresses(envelope)}
            members = await _members(connection, addresses)
            pending: list[Pending] = []
            batch_id = str(uuid.uuid4())  # this poll's emails: one EmailBatchReady (applied once, with the poll)
            for envelope, event_id in todo:
                if envelope.get("type") in notes.REVERTED and pending:
                    queued += await queue_many(connection, pending)  # a correction looks its original up
                    pending = []
                try:
                    pending += await self._pending(connection, envelope, event_id, members, batch_id)
                except (KeyError, TypeError, ValueError) as exc:
                    log.error("event %s (%s) is malformed, skipped: %r", event_id, envelope.get("type"), exc)
            queued += await queue_many(connection, pending)
            emails = sum(q.email for q in queued)
            if emails:
                await email_batch_ready(connection, batch_id, {"count": emails, "source": "consumer"},
                                        datetime.now(timezone.utc))
        self.applied += len(todo)
        return queued

    async def _pending(self, connection, envelope: dict, event_id: str, members, batch_id: str) -> list[Pending]:
        """The notifications one event gives (stored by the caller), and its receipt if it is an order."""
        kind, data = envelope["type"], envelope["data"]
        if kind in notes.SIMPLE:
            make, field = notes.SIMPLE[kind]
            recipients = members.get(data[field].lower(), [])
            if kind == notes.ev.REWARD_ISSUED.ce_type:  # the API names the member who earned it
                recipients = [m for m in recipients if m["id"] == str(data["user_id"])]
            return _for(recipients, event_id, make(data), batch_id)
        if kind == notes.ORDER:
            receipt = await receipt_for(connection, event_id, data)
            return (_for(members.get(data["buyer"].lower(), []), event_id, notes.order_bought(data, receipt), batch_id)
                    + _for(members.get(data["seller"].lower(), []), event_id, notes.order_sold(data, receipt),
                           batch_id))
        if kind in notes.REVERTED:
            original_id = str(data["reverts"])
            await connection.execute("UPDATE order_receipts SET status = 'reverted' WHERE event_id = $1::uuid",
                                     original_id)
            told = await connection.fetch(
                "SELECT n.*, u.preferences::text AS preferences FROM notifications n JOIN users u ON u.id = n.user_id "
                "WHERE n.source_event = $1::uuid", original_id)
            return [Pending(str(row["tenant_id"]), str(row["user_id"]), event_id,
                            notes.correction(wire(row), original_id), preferences_of(row["preferences"]), batch_id)
                    for row in told]
        return []  # events nobody is notified of (e.g. item metadata)


def _for(recipients: list[dict], event_id: str, draft, batch_id: str) -> list[Pending]:
    return [Pending(m["tenant_id"], m["id"], event_id, draft, m["preferences"], batch_id)
            for m in recipients]


class _LogAssignments(ConsumerRebalanceListener):
    async def on_partitions_revoked(self, revoked):
        if revoked:
            log.info("partitions revoked: %s", _names(revoked))

    async def on_partitions_assigned(self, assigned):
        log.info("partitions assigned: %s", _names(assigned) or "none (more consumers than partitions)")


def _names(partitions) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))


def _addresses(envelope: dict) -> list[str]:
    data = envelope.get("data") or {}
    return [str(data[k]).lower() for k in ("account", "buyer", "seller") if isinstance(data.get(k), str)]


async def _members(connection, addresses: set[str]) -> dict[str, list[dict]]:
    """Address -> the members (any tenant) who linked it, preferences parsed once per poll."""
    if not addresses:
        return {}
    rows = await connection.fetch(
        "SELECT w.address, u.id::text AS id, u.tenant_id::text AS tenant_id, u.preferences::text AS preferences "
        "FROM wallet_links w JOIN users u ON u.id = w.user_id WHERE w.address = ANY($1::text[])", list(addresses))
    members = defaultdict(list)
    for row in rows:
        members[row["address"]].append({**row, "preferences": preferences_of(row["preferences"])})
    return members

