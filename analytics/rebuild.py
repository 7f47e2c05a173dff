"""Rebuilding the projections: from the event store, or from Kafka's first offsets.

From the store: in one transaction (readers see the old projections until it commits), the facts are
derived again from every stored event (facts.py, one statement) and every projection recomputed from all
of them (projections.py), the same SQL the live consumer runs on its batches' scopes.

From Kafka: every partition of the bus's topics is read from its first offset to its current end into
the store (events already stored are skipped by id), then the projections are rebuilt from the store.
Into an empty database, that is a store and projections built from Kafka alone.
"""

import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from analytics import facts, store
from analytics import projections as pj
from analytics.incoming import from_record
from fitmint.consumer import stop_quietly

log = logging.getLogger("analytics.rebuild")
FACT_INDEXES = [(line.split()[5], line) for line in store.SCHEMA.read_text().splitlines()
                if line.startswith("CREATE INDEX IF NOT EXISTS facts_")]


@dataclass(frozen=True)
class Rebuilt:
    events: int
    facts: int
    reverted: int
    seconds: float


async def from_store(pool, *, progress=log.info) -> Rebuilt:
    started = time.perf_counter()
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", store.LOCK)
        await connection.execute(f"TRUNCATE {', '.join(store.DERIVED)}")
        events = await connection.fetchval("SELECT count(*) FROM events")
        progress(f"rebuild: deriving the facts of {events:,} events")
        # Indexes built once over all the facts, not maintained row by row while they are written.
        await connection.execute(f"DROP INDEX {', '.join(name for name, _ in FACT_INDEXES)}")
        await connection.execute(facts.derive("TRUE"))
        for _, create in FACT_INDEXES:
            await connection.execute(create)
        counts = await connection.fetchrow("SELECT count(*) AS facts, count(*) FILTER (WHERE reverted) AS reverted "
                                           "FROM facts")
        progress(f"rebuild: {counts['facts']:,} facts ({counts['reverted']:,} reverted) in "
                 f"{time.perf_counter() - started:.1f} s; projecting")
        for projection in pj.ALL:
            await pj.rebuild(connection, projection)
            progress(f"rebuild: {projection.table} at {time.perf_counter() - started:.1f} s")
        await connection.execute("UPDATE store_state SET rebuilt_at = now()")
    async with pool.acquire() as connection:
        # Fresh statistics for the planner, and the visibility map set: the dashboards' reads are index-only
        # scans of the projections, which would otherwise visit every heap page until autovacuum comes by.
        await connection.execute(f"VACUUM (ANALYZE) {', '.join(store.DERIVED)}")
    rebuilt = Rebuilt(events, counts["facts"], counts["reverted"], time.perf_counter() - started)
    progress(f"rebuild: done in {rebuilt.seconds:.1f} s")
    return rebuilt


async def replay_kafka(pool, bootstrap: str, topics: list[str], *, progress=log.info) -> int:
    """Reads every partition of `topics` from its first offset to its end now into the store (no
    projection recomputed: call from_store after). Returns how many events were new to the store."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed", auto_offset_reset="earliest")
    await consumer.start()
    stored = 0
    try:
        partitions = await _partitions(bootstrap, topics, progress)
        if not partitions:
            return 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1_000, max_records=5_000)
            incoming = [event for records in batch.values() for r in records if (event := from_record(r))]
            async with pool.acquire() as connection, connection.transaction():
                stored += len(await store.append(connection, incoming))
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            progress(f"replay: {stored:,} events stored, {len(pending)} partitions to go")
    finally:
        await stop_quietly(consumer)
    return stored


async def _partitions(bootstrap: str, topics: list[str], progress) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    missing = sorted(d["topic"] for d in described if d["error_code"])
    if missing:
        progress(f"replay: no topic {', '.join(missing)} on the broker (nothing published to it)")
    return [TopicPartition(d["topic"], p["partition"]) for d in described if not d["error_code"]
            for p in sorted(d["partitions"], key=lambda p: p["partition"])]
