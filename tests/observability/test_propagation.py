"""How a trace context crosses what is ours, piece by piece (spans recorded in memory; the outbox on the
stack's PostgreSQL, the relay's records on its Kafka): an outbox row keeps the context it was written
in; the relay publishes a traced row in a span whose context rides on the record (header and CloudEvents
extension); a consumer's span is the child of the record's; the indexer names a transaction's trace by its
hash; the live push carries its span's context in the Redis message."""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec
import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from fitmint import events as ev
from fitmint import telemetry
from fitmint.consumer import on_behalf_of, processing
from fitmint.outbox.append import Outgoing, append, append_copy
from fitmint.outbox.relay import Relay
from fitmint.telemetry.propagation import chain_trace_id, context_of, current_traceparent, traceparent_of
from indexer.decode import Event
from indexer.projections import Projection, Projector
from indexer.tracing import start_transaction_spans
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.databases import admin_dsn, create_database, drop_database, kernel_outbox_database
from tests.support.spans import recorded_spans

UNSAMPLED = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-00"


@pytest.fixture
def spans():
    with recorded_spans() as exporter:
        yield exporter


@pytest.fixture
def outbox_database(settings):
    """A database holding only the kernel's outbox: (connection arguments)."""
    with kernel_outbox_database(settings) as name:
        yield dict(**admin_dsn(settings), database=name)


def _minted(tx_hash: str | None = None, **overrides) -> Outgoing:
    tx_hash = tx_hash or "0x" + uuid.uuid4().hex * 2
    payload = ev.TokenMinted(account="0x" + "ab" * 20, amount="1", block_number=7, block_hash="0x" + "11" * 32,
                             tx_hash=tx_hash, log_index=0)
    return Outgoing(**{"id": str(uuid.uuid4()), "type": ev.TOKEN_MINTED, "payload": payload,
                       "time": datetime.now(UTC), **overrides})


def test_an_outbox_row_keeps_the_context_it_was_written_in(spans, outbox_database):
    given = "00-" + "12" * 16 + "-" + "34" * 8 + "-01"

    async def scenario():
        connection = await asyncpg.connect(**outbox_database)
        try:
            untraced, own = _minted(), _minted(traceparent=given)
            await append(connection, [untraced])  # outside any span: no context
            with telemetry.tracer().start_as_current_span("request"):
                current = current_traceparent()
                inside, copied = _minted(), _minted()
                await append(connection, [inside, own])
                await append_copy(connection, [copied])
            rows = {str(r["id"]): r["traceparent"]
                    for r in await connection.fetch("SELECT id, traceparent FROM outbox")}
            return rows, current, {"untraced": untraced.id, "own": own.id, "inside": inside.id, "copied": copied.id}
        finally:
            await connection.close()

    rows, current, ids = asyncio.run(scenario())
    assert rows[ids["untraced"]] is None
    assert rows[ids["inside"]] == rows[ids["copied"]] == current  # the writer's span
    assert rows[ids["own"]] == given  # an event's own context wins (a consumer's batch mixes traces)


def test_the_relay_publishes_a_traced_row_in_a_span_whose_context_rides_on_the_record(spans, outbox_database,
                                                                                     settings):
    bootstrap, prefix = f"127.0.0.1:{settings['KAFKA_PORT']}", f"test-{uuid.uuid4().hex[:8]}."
    topic = prefix + ev.TOKEN_MINTED.topic
    asyncio.run(ensure_topics(bootstrap, [topic], 1))

    async def scenario():
        with telemetry.tracer().start_as_current_span("request") as request:
            traced = _minted()
            parent = request.get_span_context()
        untraced, unsampled = _minted(), _minted(traceparent=UNSAMPLED)
        connection = await asyncpg.connect(**outbox_database)
        await connection.execute("CREATE TABLE outbox_meta (generation uuid DEFAULT gen_random_uuid())")
        await connection.execute("INSERT INTO outbox_meta DEFAULT VALUES")
        async with connection.transaction():
            await append(connection, [untraced])
            await append(connection, [_with(traced, traceparent_of(parent)), unsampled])
        await connection.close()
        pool = await asyncpg.create_pool(**outbox_database, min_size=1, max_size=2)
        relay = Relay(pool=pool, bootstrap=bootstrap, chain_id=31337, batch_size=100, topic_prefix=prefix,
                      producer="api")
        try:
            await relay._connect()
            while await relay.publish_once() == 0:
                await asyncio.sleep(0.01)
        finally:
            await relay._disconnect()
            await pool.close()
        return parent, {untraced.id: "untraced", traced.id: "traced", unsampled.id: "unsampled"}, \
            await _records(bootstrap, topic, 3)

    try:
        parent, names, records = asyncio.run(scenario())
    finally:
        asyncio.run(delete_topics_with_prefix(bootstrap, prefix))
    by_name = {names[orjson.loads(r.value)["id"]]: r for r in records}
    (publish,) = [s for s in spans.get_finished_spans() if s.name.startswith("publish ")]
    assert publish.name == f"publish {topic}" and publish.kind == SpanKind.PRODUCER
    assert publish.parent.span_id == parent.span_id and publish.context.trace_id == parent.trace_id
    assert publish.attributes["messaging.system"] == "kafka"
    assert publish.attributes["messaging.destination.name"] == topic
    assert publish.attributes["cloudevents.event_type"] == ev.TOKEN_MINTED.ce_type
    assert publish.attributes["fitmint.outbox.wait_ms"] >= 0 and publish.attributes["fitmint.outbox.seq"] > 0
    own = traceparent_of(publish.context)
    assert dict(by_name["traced"].headers)["traceparent"] == own.encode()
    assert ev.parse(by_name["traced"].value).traceparent == own  # the CloudEvents extension, the same context
    for name in ("untraced", "unsampled"):
        assert "traceparent" not in dict(by_name[name].headers)
        assert ev.parse(by_name[name].value).traceparent is None


def _with(event: Outgoing, traceparent: str) -> Outgoing:
    return msgspec.structs.replace(event, traceparent=traceparent)


async def _records(bootstrap: str, topic: str, count: int) -> list:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, isolation_level="read_committed",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        records = []
        while len(records) < count:
            for batch in (await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 15)).values():
                records += batch
        return records
    finally:
        await consumer.stop()


def _record(offset: int, traceparent: str | None) -> ConsumerRecord:
    headers = [("ce_id", b"x")] + ([("traceparent", traceparent.encode())] if traceparent else [])
    return ConsumerRecord(topic="fitmint.orders", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=b"k", value=b"{}", checksum=None, serialized_key_size=1, serialized_value_size=2,
                          headers=headers)


def test_a_consumers_span_is_the_child_of_the_records_and_stamps_its_work(spans):
    with telemetry.tracer().start_as_current_span("publish") as publish:
        sent = traceparent_of(publish.get_span_context())

    lone = _record(1, sent)
    with processing([lone], "group"):
        work = on_behalf_of(lone)
        current = current_traceparent()  # a poll of one record: its span is the current one (library spans nest)
    mixed = [_record(2, sent), _record(3, None), _record(4, UNSAMPLED)]
    with processing(mixed, "group"):
        stamped = [on_behalf_of(record) for record in mixed]
        outside = current_traceparent()  # a poll mixing traces: no current span
    assert on_behalf_of(lone) is None  # only while the poll is applied

    first, second = [s for s in spans.get_finished_spans() if s.name == "process fitmint.orders"]
    for span in (first, second):
        assert span.kind == SpanKind.CONSUMER and span.parent.span_id == publish.get_span_context().span_id
        assert span.context.trace_id == publish.get_span_context().trace_id
        assert span.attributes["messaging.consumer.group.name"] == "group"
    assert work == current == traceparent_of(first.context)
    assert stamped == [traceparent_of(second.context), None, None] and outside is None


def test_a_failed_apply_ends_its_spans_as_errors(spans):
    with telemetry.tracer().start_as_current_span("publish") as publish:
        sent = traceparent_of(publish.get_span_context())
    with pytest.raises(RuntimeError), processing([_record(1, sent), _record(2, sent)], "group"):
        raise RuntimeError("PostgreSQL is down")
    failed = [s for s in spans.get_finished_spans() if s.name.startswith("process ")]
    assert len(failed) == 2 and all(not s.status.is_ok for s in failed)


def test_a_chain_transactions_trace_is_named_by_its_hash(spans):
    projector, projection = Projector(31337), Projection()
    first, second = "0x" + "a1" * 32, "0x" + "b2" * 32
    for index, tx_hash in enumerate((first, first, second)):
        projector.add(projection, Event(9, "0x" + "cc" * 32, 1_700_000_000, tx_hash, index, "FitToken", "Transfer",
                                        {"from": "0x" + "00" * 20, "to": "0x" + "ab" * 20, "value": 5}))
    started = start_transaction_spans(projection, 31337)
    for span in started:
        span.end()

    chain = {s.attributes["fitmint.chain.tx.hash"]: s for s in spans.get_finished_spans()}
    assert set(chain) == {first, second}
    for tx_hash, span in chain.items():
        assert span.name == "chain tx" and span.parent is None
        assert span.context.trace_id == chain_trace_id(tx_hash) == int(tx_hash[2:34], 16)
        assert span.attributes["fitmint.chain.block.number"] == 9
    assert list(chain[first].attributes["fitmint.chain.log_indexes"]) == [0, 1]
    assert list(chain[first].attributes["fitmint.chain.events"]) == ["FitToken.Transfer"] * 2
    # Each mint's outbox row continues its own transaction's trace.
    stamped = {event.payload.log_index: context_of(event.traceparent) for event in projection.outbox}
    assert {i: trace.get_current_span(c).get_span_context().span_id for i, c in stamped.items()} == {
        0: chain[first].context.span_id, 1: chain[first].context.span_id, 2: chain[second].context.span_id}


def test_the_live_push_carries_its_spans_context_in_the_redis_message(spans, settings):
    import redis.asyncio as aioredis

    from backend.app.notifications.store import PUSH_CHANNEL, TRACEPARENT_KEY, push_live

    with telemetry.tracer().start_as_current_span("process") as process:
        record = traceparent_of(process.get_span_context())
    user = str(uuid.uuid4())
    traced = {"id": str(uuid.uuid4()), "kind": "order.created", "title": "t", "body": "b"}
    plain = {"id": str(uuid.uuid4()), "kind": "token.minted", "title": "t", "body": "b"}

    async def scenario():
        client = aioredis.Redis(host="127.0.0.1", port=int(settings["REDIS_PORT"]))
        pubsub = client.pubsub()
        await pubsub.subscribe(PUSH_CHANNEL + user)
        try:
            assert await push_live(client, [(user, traced, record), (user, plain, None)]) == 2
            while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)) is None:
                pass
            return orjson.loads(message["data"])
        finally:
            await pubsub.aclose()
            await client.aclose()

    first, second = asyncio.run(scenario())
    (push,) = [s for s in spans.get_finished_spans() if s.name == "websocket push"]
    assert push.parent.span_id == process.get_span_context().span_id
    assert first[TRACEPARENT_KEY] == traceparent_of(push.context) and TRACEPARENT_KEY not in second
    assert {k: v for k, v in first.items() if k != TRACEPARENT_KEY} == traced


def test_a_scheduled_job_run_is_a_trace_and_what_it_writes_continues_it(spans, settings, tmp_path):
    from apscheduler.triggers.cron import CronTrigger

    from backend.app.core.db import create_pool, migrate
    from backend.app.notifications.scheduler import ScheduledJob, Scheduler
    from tests.support.api import api_settings
    from tests.support.waiting import until

    database = create_database(settings)
    api = api_settings(settings, tmp_path, database)
    migrate(api)
    written = []

    async def probe(pool, _settings, _now):
        event = _minted()
        async with pool.acquire() as connection, connection.transaction():
            await append(connection, [event])
        written.append(event.id)

    async def broken(pool, _settings, _now):
        raise RuntimeError("a bug")

    async def scenario():
        pool = await create_pool(api, database, min_size=1, max_size=4)
        scheduler = Scheduler(pool, api, retry_seconds=0.2, jobs=[
            ScheduledJob("probe", probe, CronTrigger(second="*", timezone=UTC)),
            ScheduledJob("broken", broken, CronTrigger(second="*", timezone=UTC))])
        try:
            await scheduler.start()
            await until(lambda: written, 10)
            await scheduler.stop()
            return await pool.fetchval("SELECT traceparent FROM outbox WHERE id = $1::uuid", written[0])
        finally:
            await pool.close()

    try:
        stored = asyncio.run(scenario())
    finally:
        drop_database(settings, database)
    runs = {s.name: s for s in spans.get_finished_spans() if s.name.startswith("job ")}
    probe_run = runs["job probe"]
    assert probe_run.parent is None and probe_run.attributes["fitmint.job.name"] == "probe"
    assert context_of(stored) is not None
    assert trace.get_current_span(context_of(stored)).get_span_context().trace_id == probe_run.context.trace_id
    assert not runs["job broken"].status.is_ok and runs["job broken"].events[0].name == "exception"
