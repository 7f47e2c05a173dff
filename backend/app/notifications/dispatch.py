"""NotificationQueued -> deliveries: the `fitmint-deliveries` consumer group over `fitmint.notifications`.

Per poll, in one PostgreSQL transaction (fitmint.consumer: effect first, offsets after): the events'
ids are recorded in `consumed_events` (a record seen again changes nothing), and for each new event the
stored notification gets a `deliveries` row per out-of-band channel the event names, addressed from the
member's preferences (email, phone) or their latest active DIDComm connection. The poll's email
deliveries go in batches of at most `settings.email_batch_size`, each announced by an EmailBatchReady
event in the same transaction (its id, the batch id, is derived from the notifications it holds: a
poll applied again cannot make a second batch); the `fitmint-email` group sends them.

After the commit, before the offsets: the live WebSocket push of the notifications whose event names
the websocket channel (Redis, deduplicated by notification id: the records coming again after a crash
push again only what was not pushed; notifications older than store.PUSH_MEMORY_SECONDS are not pushed
again), then, in a worker that sends, the SMS and DIDComm rows of these notifications (claimed at most
once: rows a crash left unsent are also picked up by the senders' loop).
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agent.controller.acapy import AcaPy
from backend.app.notifications import deliveries
from backend.app.notifications.consumer import received_of, record_consumed
from backend.app.notifications.sms import SmsProvider
from backend.app.notifications.store import PUSH_MEMORY_SECONDS, email_batch_ready, preferences_of, push_live, wire
from backend.app.users.models import Channel
from fitmint import events as ev
from fitmint.consumer import ConsumerLoop, on_behalf_of

log = logging.getLogger("worker.deliveries")
# The topic's one type (an EmailBatchReady written there before `fitmint.email` existed is passed over).
TYPES = ev.readable(ev.NOTIFICATION_QUEUED)


@dataclass
class Dispatched:
    """What follows a poll's commit: the live pushes, in order, and the notifications with texts to send."""
    pushes: list[tuple[str, dict, str | None]] = field(default_factory=list)  # user, notification, traceparent
    texts: list[str] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)  # notification id -> the traceparent of its record


class DeliveriesConsumer:
    def __init__(self, pool, redis, settings, *, senders: bool, sms_provider: SmsProvider | None = None,
                 agent: AcaPy | None = None):
        self.pool = pool
        self.redis = redis
        self.settings = settings
        self.senders = senders  # False: SMS/DIDComm rows are left to a sending worker's loop
        self.sms_provider = sms_provider
        self.agent = agent
        self.topics = [settings.kafka_topic_prefix + ev.NOTIFICATION_QUEUED.topic]
        self.name = settings.deliveries_consumer_group
        self.email_batch_size = max(1, settings.email_batch_size)
        self.applied = 0  # NotificationQueued events applied by this process
        self.pushed = 0  # notifications pushed live by this process

    async def run(self, stop) -> None:
        """Consumes until `stop` is set, through outages of Kafka and PostgreSQL (fitmint.consumer)."""
        loop = ConsumerLoop(name="worker.deliveries", group_id=self.name, topics=self.topics,
                            bootstrap=self.settings.bootstrap, apply=self._apply,
                            batch_size=self.settings.notifications_batch_size, log=log)
        await loop.run(stop)

    async def _apply(self, records):
        work = await self.apply(records)
        return (lambda: self.deliver(work)) if work.pushes or (work.texts and self.senders) else None

    async def apply(self, records) -> Dispatched:
        """Creates the new events' deliveries and email batches in one transaction; returns what the
        poll's events (new or seen before) still call for after the commit."""
        received = received_of(records, TYPES)
        work = Dispatched()
        if not received:
            return work
        async with self.pool.acquire() as connection, connection.transaction():
            fresh = await record_consumed(connection, self.name, received)
            events: list[tuple[ev.NotificationQueued, bool]] = []
            seen = set()
            for record, event in received:
                if event.id not in seen:  # an id twice in one poll is applied once
                    seen.add(event.id)
                    events.append((event.payload, event.id in fresh))
                    if (traceparent := on_behalf_of(record)) is not None:
                        work.traces[event.payload.notification_id] = traceparent
            ids = list({queued.notification_id for queued, _ in events})
            rows = {str(row["id"]): row for row in await connection.fetch(
                "SELECT n.id, n.user_id, n.kind, n.title, n.body, n.data::text AS data, n.corrects, n.created_at, "
                "       n.read_at, u.preferences::text AS preferences "
                "FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.id = ANY($1::uuid[])", ids)}
            didcomm_users = list({queued.user_id for queued, new in events
                                  if new and Channel.DIDCOMM in queued.channels})
            didcomm = {str(r["user_id"]): r["connection_id"] for r in await connection.fetch(
                "SELECT DISTINCT ON (user_id) user_id, connection_id FROM didcomm_connections "
                "WHERE user_id = ANY($1::uuid[]) AND state IN ('active', 'completed') "
                "ORDER BY user_id, updated_at DESC",
                didcomm_users)} if didcomm_users else {}
            emails, others, oldest_push = [], [], datetime.now(UTC) - timedelta(seconds=PUSH_MEMORY_SECONDS)
            for queued, new in events:
                row = rows.get(queued.notification_id)
                if row is None:
                    log.warning("notification %s is gone (its member was deleted): nothing to deliver",
                                queued.notification_id)
                    continue
                channels = set(queued.channels)
                if Channel.WEBSOCKET in channels and (new or row["created_at"] >= oldest_push):
                    work.pushes.append((str(row["user_id"]), wire(row), work.traces.get(queued.notification_id)))
                if channels & {Channel.SMS, Channel.DIDCOMM}:
                    work.texts.append(str(row["id"]))
                if not new or not channels & {Channel.EMAIL, Channel.SMS, Channel.DIDCOMM}:
                    continue
                preferences = preferences_of(row["preferences"])
                if Channel.EMAIL in channels and preferences.email:
                    emails.append((row["id"], preferences.email, queued.notification_id))
                if Channel.SMS in channels and preferences.phone:
                    others.append((row["id"], "sms", preferences.phone, None))
                if Channel.DIDCOMM in channels and str(row["user_id"]) in didcomm:
                    others.append((row["id"], "didcomm", didcomm[str(row["user_id"])], None))
            batches = [emails[i:i + self.email_batch_size] for i in range(0, len(emails), self.email_batch_size)]
            now = datetime.now(UTC)
            for batch in batches:
                batch_id = ev.email_batch_id("queued", [notification for _, _, notification in batch])
                others += [(row_id, "email", address, batch_id) for row_id, address, _ in batch]
                # A batch may hold several traces: it continues its first traced notification's.
                traceparent = next((work.traces[n] for _, _, n in batch if n in work.traces), None)
                await email_batch_ready(connection, batch_id, count=len(batch), source="deliveries", time=now,
                                        traceparent=traceparent)
            if others:
                await connection.execute(
                    "INSERT INTO deliveries (notification_id, channel, address, batch_id) "
                    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[]) ON CONFLICT DO NOTHING",
                    [d[0] for d in others], [d[1] for d in others], [d[2] for d in others], [d[3] for d in others])
        self.applied += len(fresh)
        return work

    async def deliver(self, work: Dispatched) -> None:
        """After the commit: the live pushes (idempotent), then this worker's SMS and DIDComm sends."""
        if work.pushes:
            self.pushed += await push_live(self.redis, work.pushes)
        if work.texts and self.senders:
            await deliveries.send_texts(self.pool, self.sms_provider, self.agent, limit=2 * len(work.texts),
                                        notification_ids=work.texts, after=deliveries.stale_after(self.settings),
                                        traces=work.traces)
