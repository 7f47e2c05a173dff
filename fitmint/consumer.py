"""A Kafka consumer group whose records take effect in PostgreSQL: effect first, offsets after.

Each poll's records go to `apply(records)`, which applies them in one PostgreSQL transaction (and is
idempotent by event id: a record seen again after a crash or a rebalance changes nothing). It may return
an after-commit step (a live push, sending a batch of emails): what must follow the committed effect but
cannot be part of its transaction. That step runs next, and only once it has returned are the offsets
committed. So a crash anywhere before the offsets are committed brings the same records again: `apply`
finds them applied and changes nothing, and the step it returns for them runs again, so it must be
idempotent (the live push is deduplicated by notification id, an email batch sends only what it still
owes). A record is never skipped; an after-commit step is never lost to a crash between the commit and
the step. If `apply` or the step fails, the records are read again after a backoff.

Kafka or PostgreSQL down: the records are read again after a backoff (fitmint.resilience), the outage is
said once and its end once. A consumer reads nothing while the broker is gone and aiokafka raises
nothing, so an idle consumer probes the broker's metadata every `probe_seconds`.

Traces: a record published in a sampled trace (its `traceparent` header, fitmint/outbox/relay.py) gets a
CONSUMER span "process <topic>", its child, covering `apply` and the step. A poll mixes traces, so that
span is the current one only when the poll holds that one record; `apply` stamps what it does on a
record's behalf (the events it writes, a push) with `on_behalf_of(record)`. Untraced records cost a
look at their headers.
"""

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from fitmint.consumerlag import ConsumerLag
from fitmint.resilience import Retrier
from fitmint.telemetry import end_spans, tracer
from fitmint.telemetry.propagation import record_traceparent, sampled_context, traceparent_of

KAFKA_TIMEOUT = 30
AfterCommit = Callable[[], Awaitable[None]] | None
Apply = Callable[[list], Awaitable[AfterCommit]]
# id(record) -> the traceparent of its process span, for the records of the poll being applied
_PROCESSING: contextvars.ContextVar[dict[int, str] | None] = contextvars.ContextVar("fitmint_processing",
                                                                                    default=None)


def on_behalf_of(record) -> str | None:
    """The trace context of work done for `record` in the poll being applied (its process span's
    traceparent), for what it writes (fitmint.outbox.append.Outgoing.traceparent) or sends; None if the
    record is not traced."""
    processing = _PROCESSING.get()
    return processing.get(id(record)) if processing else None


def process_spans(records: list, group_id: str) -> dict[int, trace.Span]:
    """id(record) -> a started "process <topic>" span, for each record carrying a sampled traceparent."""
    spans = {}
    for record in records:
        parent = sampled_context(record_traceparent(record)) if record.headers else None
        if parent is None:
            continue
        spans[id(record)] = tracer().start_span(f"process {record.topic}", context=parent, kind=SpanKind.CONSUMER,
                                                attributes={
                                                    "messaging.system": "kafka",
                                                    "messaging.operation.type": "process",
                                                    "messaging.destination.name": record.topic,
                                                    "messaging.destination.partition.id": str(record.partition),
                                                    "messaging.kafka.offset": record.offset,
                                                    "messaging.consumer.group.name": group_id,
                                                })
    return spans


@contextlib.contextmanager
def processing(records: list, group_id: str):
    """The process spans of a poll's traced records, open while the poll is applied (and its step run),
    then ended (with the error, if applying failed)."""
    spans = process_spans(records, group_id)
    if not spans:
        yield
        return
    token = _PROCESSING.set({key: traceparent_of(span.get_span_context()) for key, span in spans.items()})
    current = trace.use_span(next(iter(spans.values())), end_on_exit=False) if len(records) == 1 else (
        contextlib.nullcontext())
    try:
        with current:
            yield
    except BaseException as exc:
        end_spans(spans.values(), exc)
        raise
    else:
        end_spans(spans.values())
    finally:
        _PROCESSING.reset(token)


class ConsumerLoop:
    def __init__(self, *, name: str, group_id: str, topics: list[str], bootstrap: str, apply: Apply,
                 batch_size: int = 500, probe_seconds: float = 5.0, log: logging.Logger | None = None,
                 dependencies: tuple[str, ...] = ("kafka", "postgres")):
        self.name = name
        self.group_id = group_id
        self.topics = topics
        self.bootstrap = bootstrap
        self.apply = apply
        self.batch_size = batch_size
        self.probe_seconds = probe_seconds
        self.log = log or logging.getLogger(name)
        # What `apply` and its step talk to besides Kafka (e.g. Redis for a live push): their outages
        # are said once too, instead of a traceback per retry.
        self.health = Retrier(name, dependencies, log=self.log)
        self.lag = ConsumerLag(group_id)

    def _kafka(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group_id, isolation_level="read_committed",
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=self.batch_size,
            session_timeout_ms=10_000, heartbeat_interval_ms=1_000, request_timeout_ms=15_000)

    async def run(self, stop: asyncio.Event) -> None:
        """Consumes until `stop` is set, through any number of outages."""
        while not stop.is_set():
            consumer = self._kafka()
            try:
                await asyncio.wait_for(consumer.start(), KAFKA_TIMEOUT)
                consumer.subscribe(self.topics, listener=_LogAssignments(self.log))
                self.health.progressed("kafka")
                self.log.info("%s: consuming %s as group %s", self.name, ", ".join(self.topics), self.group_id)
                await self._poll(consumer, stop)
            except Exception as exc:  # noqa: BLE001 - Kafka gone (or a bug, logged): reconnect after a backoff
                await self.health.failed(exc, stop)
            finally:
                await stop_quietly(consumer)

    async def _poll(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        quiet_since = time.monotonic()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
            await self.lag.update(consumer)
            if not batch:
                if time.monotonic() - quiet_since > self.probe_seconds:
                    await asyncio.wait_for(consumer.topics(), 5)  # raises (times out) while the broker is down
                    self.health.progressed("kafka")
                    quiet_since = time.monotonic()
                continue
            quiet_since = time.monotonic()
            records = [record for records in batch.values() for record in records]
            try:
                with processing(records, self.group_id):
                    after = await self.apply(records)
                    if after is not None:
                        await after()
            except Exception as exc:  # noqa: BLE001 - no offset committed: the same records come again
                for tp, items in batch.items():
                    consumer.seek(tp, items[0].offset)
                await self.health.failed(exc, stop)
                continue
            # apply reached PostgreSQL; a step that ran reached whatever else it needs.
            self.health.progressed(*([d for d in self.health.dependencies if d != "kafka"] if after else ["postgres"]))
            try:
                await asyncio.wait_for(consumer.commit({tp: items[-1].offset + 1 for tp, items in batch.items()}),
                                       KAFKA_TIMEOUT)
            except CommitFailedError:
                self.log.warning("%s: offset commit refused (rebalance): the records will come again, as no-ops",
                                 self.name)
            self.health.progressed("kafka")


async def stop_quietly(client, timeout: float = 10) -> None:
    """Stops an aiokafka consumer or producer of a broker that may be gone. aiokafka's stop() can hang,
    and can raise the CancelledError of its own fetch tasks: neither may end the caller's loop (unless
    the caller itself is being cancelled)."""
    try:
        await asyncio.wait_for(client.stop(), timeout)
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
    except Exception:  # noqa: BLE001 - a dead broker: nothing left to flush
        pass


class _LogAssignments(ConsumerRebalanceListener):
    def __init__(self, log: logging.Logger):
        self.log = log

    async def on_partitions_revoked(self, revoked):
        if revoked:
            self.log.info("partitions revoked: %s", _names(revoked))

    async def on_partitions_assigned(self, assigned):
        self.log.info("partitions assigned: %s", _names(assigned) or "none (more consumers than partitions)")


def _names(partitions) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))
