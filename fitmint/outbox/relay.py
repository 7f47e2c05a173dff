"""Outbox -> Kafka, exactly once per event id, never skipping one.

Several transactions may write an outbox at once (API requests, worker replicas, scheduled jobs), and
one that took a lower `seq` can commit after a higher one was already published. So the relay never
publishes by `seq` alone: each row records the id of the transaction that wrote it (`txid`, from
`pg_current_xact_id()`), and a row is published only once its transaction is older than every
transaction still in progress in the outbox's database (`HORIZON`: those of other databases cannot write
it). Such a row's transaction has ended, so no row can ever appear below it again; rows go out in (txid, seq) order
(per partition, so per key), and the position is that pair.

Rows are published a batch per Kafka transaction, with records packed into Kafka batches by hand
(aiokafka's per-message send is the slow path). The same transaction writes the batch's last (txid,
seq) to the single-partition topic `fitmint.relay.position`, so Kafka itself records how far
publication got: after a crash, the relay reads that record (read_committed) and resumes after it. An
interrupted transaction is aborted when the next relay starts (same transactional id), so no event id
is ever visible twice. While Kafka is down, rows wait in the outbox.

When to look: with nothing to publish the relay waits `idle_sleep`, or less when woken: by an event its
own process sets after each commit (the indexer's writer), or, given `listen`, by PostgreSQL
notifications on that channel, which a trigger on the outbox sends when a writing transaction commits
(the API's outbox: any process may write it, and any may relay it). A woken relay that finds rows not
yet publishable (their transaction committed, an older one still runs) looks again after 2, 4, 8 ...
ms rather than after a whole `idle_sleep`.
"""

import asyncio
import logging
import time

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry.trace import SpanKind

from fitmint import events as ev
from fitmint.consumer import stop_quietly
from fitmint.outbox import metrics
from fitmint.resilience import Retrier
from fitmint.telemetry import end_spans, tracer
from fitmint.telemetry.propagation import HEADER, sampled_context, traceparent_of

log = logging.getLogger("fitmint.outbox.relay")

POSITION_TOPIC = "fitmint.relay.position"
TRANSACTIONAL_ID = "fitmint-outbox-relay"
KAFKA_TIMEOUT = 10  # aiokafka can hang forever on a dead broker: every call gets our own timeout (a healthy
# broker answers in milliseconds: 10 s without an answer is an outage, said and retried)
RECHECK_FIRST = 0.002  # seconds: the first look again at rows waiting for an older transaction
BACKLOG_EVERY = 1.0  # seconds: the backlog gauges' refresh while batches are being published


async def _with_timeout(awaitable, seconds=KAFKA_TIMEOUT):
    return await asyncio.wait_for(awaitable, seconds)


async def ensure_position_topic(bootstrap: str, topic: str):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await _with_timeout(admin.start(), 10)
    try:
        if topic not in await _with_timeout(admin.list_topics()):
            await _with_timeout(admin.create_topics([NewTopic(
                topic, num_partitions=1, replication_factor=1,
                topic_configs={"cleanup.policy": "compact"})]))
    finally:
        await _with_timeout(admin.close())


Position = tuple[int, int]  # (txid, seq) of the last published outbox row
START: Position = (0, 0)


def parse_position(record: str, generation: str) -> Position | None:
    """`generation:txid:seq` (or `generation:seq`, written before rows carried their txid: those rows
    have txid 0). None if the record belongs to another generation of the database."""
    recorded_generation, _, rest = record.partition(":")
    if recorded_generation != generation:
        return None
    txid, _, seq = rest.rpartition(":")
    return (int(txid or 0), int(seq))


async def published_position(bootstrap: str, topic: str, generation: str) -> Position:
    """The last (txid, seq) of this database's outbox committed to Kafka ((0, 0) if none: nothing
    published yet, or the record belongs to an earlier generation of the database)."""
    partition = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False)
    await _with_timeout(consumer.start())
    try:
        consumer.assign([partition])
        end = (await _with_timeout(consumer.end_offsets([partition])))[partition]
        window = 64
        while True:
            start = max(0, end - window)
            consumer.seek(partition, start)
            last = None
            while end > 0 and await _with_timeout(consumer.position(partition)) < end:
                batch = await _with_timeout(consumer.getmany(partition, timeout_ms=500))
                for record in batch.get(partition, []):
                    last = record.value.decode()
            if last is not None or start == 0:
                if last is None:
                    return START
                position = parse_position(last, generation)
                if position is None:
                    log.info("Kafka's relay position belongs to database generation %s, not %s: publishing "
                             "this outbox from the start (same event ids)", last.partition(":")[0], generation)
                    return START
                return position
            window *= 4
    finally:
        await _with_timeout(consumer.stop())


# The oldest transaction still running that could write this outbox: the snapshot's running transactions
# (pg_snapshot_xip) but those of sessions of other databases, which cannot write it (a long transaction in
# the API's database held the indexer's events back: hundreds of ms, measured by bench/freshness_bench.py).
# A running transaction whose session is not found (it ended since the snapshot, or it is a prepared one)
# counts: the horizon errs early, never late. None running: the snapshot's xmax.
HORIZON = (
    "(SELECT coalesce(min(x::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint) "
    " FROM pg_snapshot_xip(pg_current_snapshot()) AS x "
    " WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.backend_xid = x::xid "
    "                   AND a.datname IS DISTINCT FROM current_database()))")

# Rows whose writing transaction has ended before every transaction still running here began: nothing
# can appear below them any more. One statement, so the snapshot and the rows it filters agree.
# created_at only of a traced row (its publish span's outbox wait): an untraced one costs a NULL.
_PUBLISHABLE = (
    "SELECT txid, seq, id, aggregatetype, aggregateid, type, payload, event_time, traceparent, "
    "       CASE WHEN traceparent IS NOT NULL THEN created_at END AS created_at FROM outbox "
    f"WHERE (txid, seq) > ($1, $2) AND txid < {HORIZON} "
    "ORDER BY txid, seq LIMIT $3")


def publish_span(row, topic: str, partition: int):
    """The PRODUCER span "publish <topic>" of a row written in a sampled trace (its child), started now
    and ended by the caller once the Kafka transaction is committed; None for an unsampled context. Its
    traceparent goes on the record: the consumer's span is its child."""
    parent = sampled_context(row["traceparent"])
    if parent is None:
        return None
    start = time.time_ns()
    waited_ms = round(start / 1e6 - row["created_at"].timestamp() * 1e3, 3)
    return tracer().start_span(f"publish {topic}", context=parent, kind=SpanKind.PRODUCER, start_time=start,
                               attributes={
                                   "messaging.system": "kafka",
                                   "messaging.operation.type": "publish",
                                   "messaging.destination.name": topic,
                                   "messaging.destination.partition.id": str(partition),
                                   "messaging.message.id": str(row["id"]),
                                   "cloudevents.event_id": str(row["id"]),
                                   "cloudevents.event_type": row["type"],
                                   "fitmint.outbox.seq": row["seq"],
                                   # how long the row waited in the outbox: written -> published
                                   "fitmint.outbox.wait_ms": waited_ms,
                               })


class Relay:
    """`producer` names the outbox's owner: the indexer's (the defaults) or the API's, which has its own
    transactional id, position topic and generation table."""

    def __init__(self, *, pool, bootstrap: str, chain_id: int, batch_size: int, topic_prefix: str = "",
                 producer: str = "indexer", listen: str | None = None):
        self.pool = pool
        self.listen = listen  # a PostgreSQL notification channel announcing outbox commits
        self._listener = None  # the pool connection that LISTENs on it
        self._notified = None  # its callback
        self.waiting = False  # the last look found rows past the position that are not publishable yet
        self._backlog_read = 0.0  # time.monotonic() of the last backlog query
        self.prefix = topic_prefix
        self.producer_name = producer
        own = "" if producer == "indexer" else f".{producer}"
        self.position_topic = topic_prefix + POSITION_TOPIC + own
        self.transactional_id = topic_prefix + TRANSACTIONAL_ID + own.replace(".", "-")
        self.generation_query = ("SELECT generation FROM indexer_meta" if producer == "indexer"
                                 else "SELECT generation FROM outbox_meta")
        self.bootstrap = bootstrap
        self.chain_id = chain_id
        self.batch_size = batch_size
        self.producer: AIOKafkaProducer | None = None
        self.position: Position = START
        self.generation = ""  # the database's, read on connect
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()
        metrics.started(producer)

    async def _connect(self):
        await ensure_position_topic(self.bootstrap, self.position_topic)
        # linger_ms=0: the events go in batches built by hand (send_batch), so lingering only held back the
        # position record, and with it each transaction's commit (5 ms of every hop; measured 4-6 ms).
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap,
                                         transactional_id=self.transactional_id,
                                         enable_idempotence=True, acks="all", linger_ms=0,
                                         request_timeout_ms=15_000)
        await _with_timeout(self.producer.start())  # fences and aborts a predecessor's open transaction
        async with self.pool.acquire() as connection:
            self.generation = str(await connection.fetchval(self.generation_query))
        self.position = await published_position(self.bootstrap, self.position_topic, self.generation)
        async with self.pool.acquire() as connection:
            await connection.execute(
                "INSERT INTO relay_position (id, txid, seq) VALUES (1, $1, $2) "
                "ON CONFLICT (id) DO UPDATE SET txid = $1, seq = $2", *self.position)
        log.info("relay connected to %s; resuming after outbox (txid, seq) %s", self.bootstrap, self.position)

    async def _disconnect(self):
        if self.producer is not None:
            await stop_quietly(self.producer)
            self.producer = None
            self._partitions.clear()

    async def _partition(self, topic: str, key: bytes) -> int:
        """The partition Kafka's default partitioner (murmur2 of the key) picks: ordered per key."""
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await _with_timeout(self.producer.partitions_for(topic)))
        return self._partitioner(key, partitions, partitions)

    async def publish_once(self) -> int:
        """Publishes the next batch of outbox rows; returns how many."""
        async with self.pool.acquire() as connection:
            rows = await connection.fetch(_PUBLISHABLE, *self.position, self.batch_size)
            # The backlog gauges: on every look that finds nothing to publish (is something waiting?), else
            # at most once a second (a round trip less between a commit and its publication).
            if not rows or time.monotonic() - self._backlog_read >= BACKLOG_EVERY:
                backlog, oldest_age = await connection.fetchrow(metrics.BACKLOG_QUERY, *self.position)
                metrics.observed(self.producer_name, backlog, oldest_age)
                self._backlog_read = time.monotonic()
                self.waiting = not rows and backlog > 0
        if not rows:
            return 0
        self.waiting = False
        producer = self.producer
        spans = []  # the publish spans of traced rows, ended once their transaction is committed
        await _with_timeout(producer.begin_transaction())
        try:
            ready = []  # (builder, topic, partition) in order: a partition's batches go out in this order
            builders = {}
            for row in rows:
                topic, key = self.prefix + row["aggregatetype"], row["aggregateid"].encode()
                partition = await self._partition(topic, key)
                headers = [("ce_id", str(row["id"]).encode()), ("ce_type", row["type"].encode()),
                           ("content-type", b"application/cloudevents+json")]
                traceparent = None
                if row["traceparent"] is not None and (span := publish_span(row, topic, partition)) is not None:
                    spans.append(span)
                    traceparent = traceparent_of(span.get_span_context())
                    headers.append((HEADER, traceparent.encode()))
                value = ev.envelope(id=row["id"], ce_type=row["type"], chain_id=self.chain_id,
                                    subject=row["aggregateid"], time=row["event_time"],
                                    data=msgspec.Raw(row["payload"].encode()), producer=self.producer_name,
                                    traceparent=traceparent)
                builder = builders.get((topic, partition))
                if builder is None:
                    builder = builders[(topic, partition)] = producer.create_batch()
                if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    # Full: queue it and start another.
                    ready.append((builder, topic, partition))
                    builder = builders[(topic, partition)] = producer.create_batch()
                    builder.append(key=key, value=value, timestamp=None, headers=headers)
            ready.extend((builder, topic, partition) for (topic, partition), builder in builders.items())
            last = (rows[-1]["txid"], rows[-1]["seq"])
            futures = await _with_timeout(self._enqueue(ready, f"{self.generation}:{last[0]}:{last[1]}".encode()))
            await _with_timeout(asyncio.gather(*futures))
            await _with_timeout(producer.commit_transaction())
        except BaseException as exc:
            end_spans(spans, exc, failed="not published: ")
            try:
                await _with_timeout(producer.abort_transaction(), 10)
            except Exception:  # noqa: BLE001 - the producer is rebuilt anyway
                pass
            raise
        end_spans(spans)
        self.position = last
        async with self.pool.acquire() as connection:
            await connection.execute("UPDATE relay_position SET txid = $1, seq = $2 WHERE id = 1", *last)
        metrics.PUBLISHED.labels(self.producer_name).inc(len(rows))
        return len(rows)

    async def _enqueue(self, ready: list, position: bytes) -> list:
        """Hands the batches and the position record to the producer one after another, with nothing in
        between that yields to its sender task (no per-call wait_for task): it finds them all at once and
        sends one AddPartitionsToTxn and one Produce request, not one of each per partition (measured: ~5-15
        ms less from commit to Kafka)."""
        futures = [await self.producer.send_batch(builder, topic, partition=partition)
                   for builder, topic, partition in ready]
        futures.append(await self.producer.send(self.position_topic, value=position, key=b"position"))
        return futures

    async def run(self, stop: asyncio.Event | None = None, idle_sleep: float = 0.05,
                  wake: asyncio.Event | None = None):
        """Publishes until `stop`; with nothing to publish, waits `idle_sleep`, or less if `wake` is set
        (the writer of the outbox in this process sets it after each commit) or a notification arrives
        on `listen`. Kafka or PostgreSQL down: rows wait in the outbox, the relay retries with backoff
        and resumes from Kafka's position."""
        health = Retrier(f"{self.producer_name}.relay", ("kafka", "postgres"), log=log)
        wake = wake or (asyncio.Event() if self.listen else None)
        recheck = RECHECK_FIRST
        try:
            while not (stop and stop.is_set()):
                try:
                    if self.producer is None:
                        await self._connect()
                    if self.listen:
                        await self._listening(wake)
                    published = await self.publish_once()
                    health.progressed()
                    if published:
                        recheck = RECHECK_FIRST
                    elif self.waiting:  # committed rows behind an older running transaction: soon
                        await _idle(min(recheck, idle_sleep), wake, stop)
                        recheck *= 2
                    else:
                        recheck = RECHECK_FIRST
                        await _idle(idle_sleep, wake, stop)
                except Exception as exc:  # noqa: BLE001 - whatever failed, rows wait in the outbox
                    await self._disconnect()
                    await self._unlisten()
                    await health.failed(exc, stop)
        finally:
            await self._disconnect()
            await self._unlisten()

    async def _listening(self, wake: asyncio.Event) -> None:
        """LISTENs on `self.listen` (again, if the connection was lost: the polls covered the gap)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        await self._unlisten()
        connection = await self.pool.acquire()
        self._notified = lambda *_: wake.set()
        try:
            await connection.add_listener(self.listen, self._notified)
        except BaseException:
            await self.pool.release(connection)
            raise
        self._listener = connection  # what committed before is seen by the look that follows

    async def _unlisten(self) -> None:
        connection, self._listener = self._listener, None
        if connection is None:
            return
        try:
            if not connection.is_closed():
                await asyncio.wait_for(connection.remove_listener(self.listen, self._notified), 5)
            await asyncio.wait_for(self.pool.release(connection), 5)
        except Exception:  # noqa: BLE001 - a lost connection: the pool replaces it
            connection.terminate()


async def _idle(seconds: float, wake: asyncio.Event | None, stop: asyncio.Event | None) -> None:
    """Waits `seconds`, or until `wake` or `stop` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in (wake, stop) if event is not None]
    try:
        if waits:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(seconds)
    finally:
        for waiting in waits:
            waiting.cancel()
    if wake is not None:
        # Cleared before the next publish reads the outbox: a commit signalled after this is seen by it.
        wake.clear()
