"""EmailBatchReady -> SMTP: the `fitmint-email` consumer group over `fitmint.email`, run only by workers
that send (not with `--no-senders`).

Each batch goes out over one SMTP session (deliveries.send_email_batch): its rows still 'pending' are
claimed one at a time and sent, each outcome recorded as it happens (sent; SMTP 4xx or the server
unreachable: back to pending with backoff, out of the batch, for the senders' loop to announce again;
5xx: failed with the reason; connection lost while the data was in flight: failed, never resent). The
sends are the after-commit step of fitmint.consumer (there is nothing to apply in one transaction: each
message is its own claim), so the offsets are committed only once the batch is done.

Idempotent by event id: the event id is the batch id, and a batch sends only what it still owes, its
rows still 'pending' with that batch id. The same event again (published twice, or read again after a
crash or a rebalance) sends nothing that was sent, and a batch interrupted by a crash (at most its
message in flight left 'sending', which the stale sweep reports failed) is finished by the event coming
again.
"""

import logging

from backend.app.notifications import deliveries
from backend.app.notifications.consumer import received_of
from backend.app.notifications.email import EmailSender
from fitmint import events as ev
from fitmint.consumer import ConsumerLoop, on_behalf_of

log = logging.getLogger("worker.email")
EVENTS_PER_POLL = 4  # batches per poll: each is up to email_batch_size messages over SMTP


class EmailConsumer:
    def __init__(self, pool, settings, *, email_sender: EmailSender | None = None):
        self.pool = pool
        self.settings = settings
        self.sender = email_sender or EmailSender(settings)
        self.topics = [settings.kafka_topic_prefix + ev.EMAIL_BATCH_READY.topic]
        self.name = settings.email_consumer_group
        self.sent = 0  # emails sent by this process

    async def run(self, stop) -> None:
        """Consumes until `stop` is set, through outages of Kafka and PostgreSQL (fitmint.consumer)."""
        log.info("sending email batches via %s:%s", self.settings.smtp_host, self.settings.smtp_port)
        loop = ConsumerLoop(name="worker.email", group_id=self.name, topics=self.topics,
                            bootstrap=self.settings.bootstrap, apply=self._apply, batch_size=EVENTS_PER_POLL,
                            log=log)
        await loop.run(stop)

    async def _apply(self, records):
        batches = self.batches_of(records)
        return (lambda: self.send(batches)) if batches else None

    @staticmethod
    def batches_of(records) -> dict[str, str | None]:
        """The batch ids the records announce, once each, in order, with the trace each is sent in."""
        batches = {}
        for record, event in received_of(records, ev.readable(ev.EMAIL_BATCH_READY)):
            if event.id not in batches:
                batches[event.id] = on_behalf_of(record)
        return batches

    async def send(self, batches: dict[str, str | None]) -> deliveries.Tally:
        total = deliveries.Tally()
        for batch_id, traceparent in batches.items():
            total.add(await deliveries.send_email_batch(self.pool, self.sender, batch_id, traceparent=traceparent))
        self.sent += total.sent
        return total
