"""The API's outbox handed straight to the worker's consumer groups, as the relay and Kafka would hand it
to them: for tests of what a group does with its events without Kafka in between (each event crosses the
real Kafka in tests/backend/test_notifications.py and test_email_events.py).

`Flow` drives the delivery side in-process: `dispatch()` feeds the NotificationQueued events written
since its last call to the `fitmint-deliveries` consumer (deliveries, email batches, the live push, SMS),
`housekeeping()` runs the senders' loop pass (stale sweep, due email retries announced in new batches),
`mail()` feeds the EmailBatchReady events written since its last call to the `fitmint-email` consumer,
and `deliver()` does all three, returning how many emails were attempted."""

from dataclasses import dataclass

import orjson

from backend.app.notifications import deliveries
from backend.app.notifications.dispatch import DeliveriesConsumer
from backend.app.notifications.email import EmailSender
from backend.app.notifications.mailer import EmailConsumer
from backend.app.notifications.sms import sms_provider
from fitmint import events as ev
from tests.support.eventschemas import assert_matches_schema


@dataclass(frozen=True)
class Record:
    """What the consumers read of an aiokafka ConsumerRecord."""
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def as_published(row, chain_id: int = 31337) -> bytes:
    """An API outbox row (id, type, aggregateid, payload as text, event_time) as its relay publishes it."""
    return ev.envelope(id=row["id"], ce_type=row["type"], chain_id=chain_id, subject=row["aggregateid"],
                       time=row["event_time"], data=orjson.loads(row["payload"]), producer="api")


async def outbox_records(pool, event_type: ev.EventType, after_seq: int = 0) -> tuple[list[Record], int]:
    """The outbox's events of `event_type` after `after_seq`, rendered as the relay publishes them, and
    the last seq. Each payload must match its committed JSON Schema."""
    rows = await pool.fetch("SELECT seq, id, aggregatetype, aggregateid, type, payload::text AS payload, event_time "
                            "FROM outbox WHERE type = $1 AND seq > $2 ORDER BY seq", event_type.ce_type, after_seq)
    for row in rows:
        assert_matches_schema(row["type"], row["payload"])
    records = [Record(row["aggregatetype"], 0, row["seq"], row["aggregateid"].encode(), as_published(row))
               for row in rows]
    return records, (rows[-1]["seq"] if rows else after_seq)


async def consume(apply, records: list[Record]):
    """One poll of a consumer group: `apply`, then the after-commit step it returned. Returns the step's
    result (None if there was none)."""
    after = await apply(records)
    return await after() if after is not None else None


class Flow:
    def __init__(self, pool, redis, settings, *, senders: bool = True):
        self.pool, self.settings = pool, settings
        self.dispatcher = DeliveriesConsumer(pool, redis, settings, senders=senders,
                                             sms_provider=sms_provider(settings), agent=None)
        self.mailer = EmailConsumer(pool, settings, email_sender=EmailSender(settings))
        self.queued_seq = self.batches_seq = 0

    async def dispatch(self) -> int:
        """The NotificationQueued events written since the last call, as one poll; returns how many."""
        records, self.queued_seq = await outbox_records(self.pool, ev.NOTIFICATION_QUEUED, self.queued_seq)
        if records:
            await consume(self.dispatcher._apply, records)
        return len(records)

    async def housekeeping(self) -> None:
        await deliveries.sweep_stale(self.pool, deliveries.stale_after(self.settings))
        await deliveries.announce_due_emails(self.pool, self.settings)

    async def batch_events(self) -> list[Record]:
        """The EmailBatchReady events written since the last call."""
        records, self.batches_seq = await outbox_records(self.pool, ev.EMAIL_BATCH_READY, self.batches_seq)
        return records

    async def mail(self, records: list[Record] | None = None) -> int:
        """The given EmailBatchReady events (default: those written since the last call) as one poll of
        the email group; returns how many emails it attempted."""
        records = await self.batch_events() if records is None else records
        if not records:
            return 0
        tally = await consume(self.mailer._apply, records)
        return tally.claimed if tally is not None else 0

    async def deliver(self) -> int:
        await self.dispatch()
        await self.housekeeping()
        return await self.mail()
