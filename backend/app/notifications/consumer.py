"""Kafka -> notifications: the `fitmint-notifications` consumer group over the token, rewards and orders
topics (TokenMinted, FitnessReward claimed, FitnessRewardIssued, OrderCreated, and the `...reverted.v1`
of the chain's events).

Each poll's records are applied in one PostgreSQL transaction, and only then are their offsets
committed (effect first, offset after). A record seen again (a crash between the two, a rebalance)
finds its event id in `consumed_events` and changes nothing, so a member is notified at most once per
event; a record is never skipped, because its offset moves only after its effect is committed.
A `...reverted.v1` event (a chain reorganisation) gives every member told of the original a correction.

What it stores, in that transaction: each member's notification (the inbox), an order's receipt, and
each notification's NotificationQueued event (the outbox). Delivering them (WebSocket, email, SMS,
DIDComm) is the `fitmint-deliveries` group's work (dispatch.py), which consumes NotificationQueued.
"""

import logging
from collections import defaultdict

import msgspec

from backend.app.notifications import events as notes
from backend.app.notifications.receipts import receipt_for
from backend.app.notifications.store import Pending, Queued, preferences_of, queue_many, wire
from fitmint import events as ev
from fitmint.consumer import ConsumerLoop, on_behalf_of

log = logging.getLogger("worker.consumer")


def received_of(records, types: set[str]) -> list[tuple]:
    """(record, fitmint.events.Received) of each record that is an event of one of `types` (CloudEvents
    types), its payload validated (and upcast from a legacy version). Records that are not CloudEvents,
    or whose payload does not match its type, are logged and skipped; other types on the topic are
    passed over."""
    received = []
    for record in records:
        try:
            event = ev.parse(record.value)
        except (msgspec.DecodeError, TypeError):
            log.error("skipping a record that is not a CloudEvent: %s[%d]@%d", record.topic, record.partition,
                      record.offset)
            continue
        if event.type not in types:
            continue
        try:
            received.append((record, ev.read(event)))
        except ev.MalformedEvent as exc:
            log.error("event %s (%s) is malformed, skipped: %s", event.id, event.type, exc)
    return received


async def record_consumed(connection, consumer: str, received: list[tuple]) -> set[str]:
    """Records the events as applied by `consumer` (in the caller's transaction); returns the ids that
    were not recorded before: the ones to apply."""
    if not received:
        return set()
    return set(await connection.fetchval(
        "WITH inserted AS (INSERT INTO consumed_events (consumer, event_id, topic, kafka_partition, kafka_offset) "
        "  SELECT DISTINCT ON (event_id) $1, * FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) "
        "  AS c(event_id, topic, kafka_partition, kafka_offset) ON CONFLICT DO NOTHING RETURNING event_id) "
        "SELECT coalesce(array_agg(event_id::text), '{}') FROM inserted",
        consumer, [e.id for _, e in received], [r.topic for r, _ in received], [r.partition for r, _ in received],
        [r.offset for r, _ in received]))


class NotificationConsumer:
    def __init__(self, pool, settings):
        self.pool = pool
        self.settings = settings
        self.batch_size = settings.notifications_batch_size
        self.topics = [settings.kafka_topic_prefix + topic for topic in notes.TOPICS]
        self.name = settings.notifications_consumer_group
        self.applied = 0  # events applied by this process (metrics, the benchmark)

    async def run(self, stop) -> None:
        """Consumes until `stop` is set, through outages of Kafka and PostgreSQL (fitmint.consumer)."""
        loop = ConsumerLoop(name="worker.notifications", group_id=self.name, topics=self.topics,
                            bootstrap=self.settings.bootstrap, apply=self._apply, batch_size=self.batch_size,
                            log=log)
        await loop.run(stop)

    async def _apply(self, records):
        await self.apply(records)
        return None  # nothing after the commit: the NotificationQueued events carry the rest

    async def apply(self, records) -> list[Queued]:
        """Applies records in one transaction; returns the notifications it stored."""
        received = received_of(records, notes.TYPES)
        queued = []
        async with self.pool.acquire() as connection, connection.transaction():
            fresh = await record_consumed(connection, self.name, received)
            todo = []
            for record, event in received:
                if event.id in fresh:
                    fresh.discard(event.id)  # an id twice in one batch is applied once
                    todo.append((event, on_behalf_of(record)))
            members = await _members(connection, {a for event, _ in todo for a in _addresses(event)})
            pending: list[Pending] = []
            for event, traceparent in todo:
                if event.type in notes.REVERTED and pending:
                    queued += await queue_many(connection, pending)  # a correction looks its original up
                    pending = []
                pending += await self._pending(connection, event, members, traceparent)
            queued += await queue_many(connection, pending)
        self.applied += len(todo)
        return queued

    async def _pending(self, connection, event: ev.Received, members, traceparent: str | None) -> list[Pending]:
        """The notifications one event gives (stored by the caller, in the event's trace), and its receipt
        if it is an order."""
        payload = event.payload
        if (make := notes.SIMPLE.get(event.type)) is not None:
            recipients = members.get(payload.account.lower(), [])
            if event.type == ev.REWARD_ISSUED:  # the API names the member who earned it
                recipients = [m for m in recipients if m["id"] == payload.user_id]
            return _for(recipients, event.id, make(payload), traceparent)
        if event.type == notes.ORDER:
            receipt = await receipt_for(connection, event.id, payload)
            return (_for(members.get(payload.buyer.lower(), []), event.id, notes.order_bought(payload, receipt),
                         traceparent)
                    + _for(members.get(payload.seller.lower(), []), event.id, notes.order_sold(payload, receipt),
                           traceparent))
        if event.type in notes.REVERTED:
            await connection.execute("UPDATE order_receipts SET status = 'reverted' WHERE event_id = $1::uuid",
                                     payload.reverts)
            told = await connection.fetch(
                "SELECT n.*, u.preferences::text AS preferences FROM notifications n JOIN users u ON u.id = n.user_id "
                "WHERE n.source_event = $1::uuid", payload.reverts)
            return [Pending(str(row["tenant_id"]), str(row["user_id"]), event.id,
                            notes.correction(wire(row), payload.reverts), preferences_of(row["preferences"]),
                            traceparent)
                    for row in told]
        return []  # an event type nobody is notified of


def _for(recipients: list[dict], event_id: str, draft, traceparent: str | None) -> list[Pending]:
    return [Pending(m["tenant_id"], m["id"], event_id, draft, m["preferences"], traceparent) for m in recipients]


def _addresses(event: ev.Received) -> list[str]:
    """The addresses whose members the event may concern."""
    if event.type == notes.ORDER:
        return [event.payload.buyer.lower(), event.payload.seller.lower()]
    if event.type in notes.SIMPLE:
        return [event.payload.account.lower()]
    return []


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
