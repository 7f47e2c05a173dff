"""The `fitmint-analytics` consumer group: every topic of the bus, whole, into the store (store.apply),
one transaction per poll, offsets committed after it (fitmint.consumer). Freshness (the record's Kafka
timestamp to its projections' commit) and the store's progress are Prometheus metrics. A poll holding
traced records is a span "analytics projections" (with the counts) in their traces."""

import contextlib
import logging
import time

from opentelemetry import trace
from opentelemetry.trace import Link
from prometheus_client import Counter, Gauge, Histogram

from analytics import store
from analytics.incoming import from_record
from fitmint import events as ev
from fitmint.consumer import ConsumerLoop, on_behalf_of
from fitmint.telemetry import tracer
from fitmint.telemetry.propagation import context_of

log = logging.getLogger("analytics")

STORED = Counter("fitmint_analytics_events_stored_total", "Events appended to the store (new ids)")
DUPLICATES = Counter("fitmint_analytics_events_duplicate_total", "Records whose event was stored already")
FRESHNESS = Histogram("fitmint_analytics_freshness_seconds",
                      "From an event's record on Kafka to its projections committed",
                      buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
LAST_APPLIED = Gauge("fitmint_analytics_last_applied_timestamp_seconds", "When the last batch was committed")


class AnalyticsConsumer:
    def __init__(self, pool, settings, *, on_applied=None):
        self.pool = pool
        self.settings = settings
        self.topics = [settings.kafka_topic_prefix + topic for topic in ev.ALL_TOPICS]
        self.on_applied = on_applied  # (applied, records, committed_at): the benchmark's probe

    async def run(self, stop) -> None:
        loop = ConsumerLoop(name="analytics", group_id=self.settings.analytics_consumer_group, topics=self.topics,
                            bootstrap=self.settings.bootstrap, apply=self.apply_records,
                            batch_size=self.settings.analytics_batch_size, log=log)
        await loop.run(stop)

    async def apply_records(self, records) -> None:
        read = [(record, event) for record in records if (event := from_record(record)) is not None]
        with _projections_span([traceparent for record in records if (traceparent := on_behalf_of(record))]) as span:
            async with self.pool.acquire() as connection, connection.transaction():
                applied = await store.apply(connection, [event for _, event in read])
            if span is not None:
                span.set_attributes({"fitmint.analytics.records": len(records),
                                     "fitmint.analytics.stored": len(applied.stored),
                                     "fitmint.analytics.duplicates": len(read) - len(applied.stored)})
        committed_at = time.time()
        STORED.inc(len(applied.stored))
        DUPLICATES.inc(len(read) - len(applied.stored))
        LAST_APPLIED.set(committed_at)
        new = {event.id for event in applied.stored}
        for record, event in read:
            if event.id in new:
                FRESHNESS.observe(max(0.0, committed_at - record.timestamp / 1000))
        if self.on_applied is not None:
            self.on_applied(applied, records, committed_at)
        return None


@contextlib.contextmanager
def _projections_span(traced: list[str]):
    """A span "analytics projections" over a poll's store transaction, if the poll holds traced records:
    in the first one's trace, linked to the others' (a poll is one transaction for all its records)."""
    if not traced:
        yield None
        return
    links = [Link(trace.get_current_span(context_of(traceparent)).get_span_context()) for traceparent in traced[1:]]
    with tracer().start_as_current_span("analytics projections", context=context_of(traced[0]), links=links) as span:
        yield span
