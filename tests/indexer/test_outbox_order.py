"""The outbox relay never skips an event, whatever order concurrent writers commit in.

Several transactions write an outbox at once (API requests, worker replicas, scheduled jobs). One that
took a lower `seq` may commit after a higher one was already relayed; a relay that publishes by `seq`
alone then never publishes it. Both outboxes (the indexer's and the API's) on the stack's PostgreSQL,
published by the real relay to the stack's Kafka."""

import asyncio
import uuid
from pathlib import Path

import asyncpg
import orjson
import pytest

from backend.app.core.db import migrate
from fitmint import events as ev
from fitmint.outbox.relay import Relay
from indexer.schema import connect as connect_indexer
from indexer.settings import Settings as IndexerSettings
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.api import api_settings
from tests.support.databases import admin_dsn, create_database, drop_database
from tests.support.kafka import event_ids
from tests.support.waiting import until

TOPIC = ev.TOKEN_MINTED.topic


@pytest.fixture(params=["indexer", "api"])
def outbox(request, stack, tmp_path):
    """(how to connect to the outbox's database, the relay's producer name, bootstrap, topic prefix)."""
    database, prefix = create_database(stack), f"test-{uuid.uuid4().hex[:8]}."
    bootstrap = f"127.0.0.1:{stack['KAFKA_PORT']}"
    if request.param == "api":
        migrate(api_settings(stack, tmp_path, database))
    else:
        settings = IndexerSettings(fitmint_state_dir=Path(stack["FITMINT_STATE_DIR"]), indexer_database=database,
                                   postgres_port=int(stack["POSTGRES_PORT"]))
        asyncio.run(_close(connect_indexer(settings)))  # creates the indexer's schema
    asyncio.run(ensure_topics(bootstrap, [prefix + TOPIC], 3))
    try:
        yield dict(**admin_dsn(stack), database=database), request.param, bootstrap, prefix
    finally:
        asyncio.run(delete_topics_with_prefix(bootstrap, prefix))
        drop_database(stack, database)


async def _close(pool_coroutine):
    await (await pool_coroutine).close()


async def append(connection, event_id: str) -> None:
    await connection.execute(
        "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) VALUES ($1::uuid, $2, $3, $4, $5::json)",
        event_id, TOPIC, "0x" + "ab" * 20, ev.TOKEN_MINTED.ce_type, orjson.dumps({"n": event_id}).decode())


def test_a_lower_seq_committed_after_a_relayed_higher_one_reaches_kafka_exactly_once(outbox):
    database, producer, bootstrap, prefix = outbox
    early, late = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario():
        relay_pool = await asyncpg.create_pool(**database, min_size=1, max_size=2)
        relay = Relay(pool=relay_pool, bootstrap=bootstrap, chain_id=31337, batch_size=100, topic_prefix=prefix,
                      producer=producer)
        slow, fast = await asyncpg.connect(**database), await asyncpg.connect(**database)
        try:
            await relay._connect()
            slow_tx = slow.transaction()
            await slow_tx.start()
            await append(slow, early)  # takes the lower seq, commits last
            async with fast.transaction():
                await append(fast, late)
            seqs = {str(r["id"]): r["seq"] for r in await fast.fetch("SELECT id, seq FROM outbox")}
            assert list(seqs) == [late]  # the open transaction's row is not even visible yet
            published_while_open = await relay.publish_once()
            await slow_tx.commit()
            assert (await fast.fetchval("SELECT seq FROM outbox WHERE id = $1::uuid", early)) < seqs[late]
            # Both rows go out once no transaction older than theirs that could write this outbox runs.
            published = 0

            async def both_published() -> bool:
                nonlocal published
                published += await relay.publish_once()
                return published >= 2

            await until(both_published, 30, 0.01, "both rows published")
            return published_while_open
        finally:
            await relay._disconnect()
            await slow.close()
            await fast.close()
            await relay_pool.close()

    published_while_open = asyncio.run(scenario())
    # Nothing above an unfinished transaction's row goes out: the later row waited for the earlier one.
    assert published_while_open == 0
    ids = event_ids(bootstrap, prefix + TOPIC)
    assert sorted(ids) == sorted([early, late]), f"expected each event once, Kafka holds {ids}"



def test_a_transaction_open_in_another_database_does_not_hold_the_outbox_back(outbox, stack):
    """Transaction ids are cluster-wide, but only sessions of the outbox's database can write it: a long
    transaction elsewhere (the API's, a migration's) must not delay the indexer's events."""
    database, producer, bootstrap, prefix = outbox
    elsewhere = create_database(stack)
    event_id = str(uuid.uuid4())

    async def scenario():
        relay_pool = await asyncpg.create_pool(**database, min_size=1, max_size=2)
        relay = Relay(pool=relay_pool, bootstrap=bootstrap, chain_id=31337, batch_size=100, topic_prefix=prefix,
                      producer=producer)
        other, writer = await asyncpg.connect(**{**database, "database": elsewhere}), await asyncpg.connect(**database)
        try:
            await relay._connect()
            open_tx = other.transaction()
            await open_tx.start()
            await other.fetchval("SELECT pg_current_xact_id()")  # holds a transaction id, older than the row's
            async with writer.transaction():
                await append(writer, event_id)
            published = 0

            async def out() -> bool:  # (a look racing a transaction that ends elsewhere waits: look again)
                nonlocal published
                published += await relay.publish_once()
                return published > 0

            try:
                await until(out, 5, 0.01, "the row published while the other database's transaction is open")
                return published
            finally:
                await open_tx.rollback()
        finally:
            await relay._disconnect()
            await other.close()
            await writer.close()
            await relay_pool.close()

    try:
        assert asyncio.run(scenario()) == 1
    finally:
        drop_database(stack, elsewhere)
    assert event_ids(bootstrap, prefix + TOPIC) == [event_id]


def test_the_api_relay_wakes_on_each_commit_not_at_its_next_poll(stack, tmp_path):
    """The API's outbox NOTIFYs on commit (migration 0007) and its relay LISTENs: with a poll interval of
    a minute, a committed row is on Kafka within a fraction of a second. A row whose transaction
    committed while an older one still runs waits for that one (never skipped, never early), and goes
    out soon after it ends, though that transaction wrote no outbox row (no notification)."""
    from backend.app.outbox_relay import OUTBOX_CHANNEL

    database, prefix = create_database(stack), f"test-{uuid.uuid4().hex[:8]}."
    bootstrap = f"127.0.0.1:{stack['KAFKA_PORT']}"
    migrate(api_settings(stack, tmp_path, database))
    asyncio.run(ensure_topics(bootstrap, [prefix + TOPIC], 3))
    dsn = dict(**admin_dsn(stack), database=database)

    async def scenario():
        pool = await asyncpg.create_pool(**dsn, min_size=1, max_size=3)
        relay = Relay(pool=pool, bootstrap=bootstrap, chain_id=31337, batch_size=100, topic_prefix=prefix,
                      producer="api", listen=OUTBOX_CHANNEL)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop, idle_sleep=60))
        writer, older = await asyncpg.connect(**dsn), await asyncpg.connect(**dsn)
        loop = asyncio.get_running_loop()

        async def is_published(event_id: str) -> bool:
            row = await pool.fetchrow("SELECT txid, seq FROM outbox WHERE id = $1::uuid", event_id)
            return (row["txid"], row["seq"]) <= relay.position

        async def published(event_id: str, timeout: float = 10) -> float:
            started = loop.time()
            while not await is_published(event_id):
                assert loop.time() - started < timeout, "not published"
                await asyncio.sleep(0.002)
            return loop.time() - started

        try:
            while relay.producer is None or relay._listener is None:  # connected and listening
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # idle: now waiting out its 60 s poll
            woken = []
            for _ in range(3):
                first = str(uuid.uuid4())
                async with writer.transaction():
                    await append(writer, first)
                woken.append(await published(first))
                await asyncio.sleep(0.2)  # idle again
            # An older transaction (it holds a txid, writes no outbox row) is still running when the next
            # row commits: that row must wait for it, then go out without a notification of its own.
            hold = older.transaction()
            await hold.start()
            await older.fetchval("SELECT pg_current_xact_id()")
            second = str(uuid.uuid4())
            async with writer.transaction():
                await append(writer, second)
            await asyncio.sleep(0.5)
            held_back = not await is_published(second)
            await hold.commit()
            after_older = await published(second)
            return woken, held_back, after_older
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await writer.close()
            await older.close()
            await pool.close()

    try:
        woken, held_back, after_older = asyncio.run(scenario())
        assert max(woken) < 1.0, f"published {max(woken):.3f} s after its commit: the relay waited for its poll"
        assert held_back, "a row went out while an older transaction was still running"
        assert after_older < 3.0, f"published {after_older:.3f} s after the older transaction ended"
        print(f"published {', '.join(f'{t * 1000:.1f}' for t in woken)} ms after its commit, "
              f"{after_older * 1000:.1f} ms after the older transaction ended")
        assert sorted(event_ids(bootstrap, prefix + TOPIC)) == sorted(asyncio.run(_ids(dsn)))
    finally:
        asyncio.run(delete_topics_with_prefix(bootstrap, prefix))
        drop_database(stack, database)


async def _ids(dsn: dict) -> list[str]:
    connection = await asyncpg.connect(**dsn)
    try:
        return [str(r["id"]) for r in await connection.fetch("SELECT id FROM outbox")]
    finally:
        await connection.close()
