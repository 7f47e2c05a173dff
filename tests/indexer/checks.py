"""Projection equality: what the indexer stored equals what the contracts return."""

import asyncio
import json
import subprocess
import sys

import asyncpg

from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import Rpc
from indexer.schema import connect
from indexer.sync import ChainSync
from tests.support.paths import ROOT
from tests.support.processes import settings_env, spawn
from tests.support.units import FIT

ZERO = "0x" + "0" * 40


def indexer_process(settings, **extra):
    """`python -m indexer run` on `settings` in a process of its own (stderr piped, no span export); `extra`:
    more settings by name (relay_batch=7)."""
    env = settings_env(settings, INDEXER_METRICS_PORT="0", OTEL_SDK_DISABLED="true",
                       **{name.upper(): value for name, value in extra.items()})
    return spawn([sys.executable, "-m", "indexer", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE)


async def index_to_head(settings, until=None):
    rpc = Rpc(settings.fitmint_rpc_url)
    pool = await connect(settings)
    try:
        manifest = Manifest.load(settings.manifest_path())
        sync = ChainSync(settings=settings, rpc=rpc, pool=pool, manifest=manifest)
        return await sync.run(until_block=until if until is not None else await rpc.block_number())
    finally:
        await pool.close()
        await rpc.close()


async def fetch(settings, query, *args):
    connection = await asyncpg.connect(**settings.postgres(settings.indexer_database))
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


def db(settings, query, *args):
    return asyncio.run(fetch(settings, query, *args))


def assert_matches_chain(chain, settings):
    """Every projection against the contracts' own view at the indexed block (the head)."""
    [cursor] = db(settings, "SELECT block_number, block_hash FROM indexer_cursor")
    assert cursor["block_number"] == chain.head()
    assert cursor["block_hash"] == chain.w3.eth.get_block(cursor["block_number"])["hash"].to_0x_hex()
    block = cursor["block_number"]

    balances = {r["account"]: int(r["balance"]) for r in db(settings, "SELECT * FROM token_balances")}
    for account, balance in balances.items():
        onchain = chain.token.functions.balanceOf(chain.w3.to_checksum_address(account)).call(block_identifier=block)
        assert balance == onchain, f"FIT balance of {account}"
    assert sum(balances.values()) == chain.token.functions.totalSupply().call(block_identifier=block)

    for row in db(settings, "SELECT * FROM item_balances"):
        onchain = chain.items.functions.balanceOf(chain.w3.to_checksum_address(row["account"]),
                                                  int(row["item_id"])).call(block_identifier=block)
        assert int(row["balance"]) == onchain, f"item {row['item_id']} of {row['account']}"

    listings = {r["listing_id"]: r for r in db(settings, "SELECT * FROM listings")}
    count = chain.market.functions.listingCount().call(block_identifier=block)
    assert sorted(listings) == list(range(1, count + 1))
    for listing_id, row in listings.items():
        seller, unit_price, item_id, remaining, primary = chain.market.functions.getListing(listing_id).call(
            block_identifier=block)
        assert (row["seller"], int(row["unit_price"]), int(row["item_id"]), int(row["remaining"]), row["is_primary"]) \
            == (seller.lower(), unit_price, item_id, remaining, primary), f"listing {listing_id}"

    orders = db(settings, "SELECT order_id FROM orders ORDER BY order_id")
    assert [r["order_id"] for r in orders] == list(range(1, chain.market.functions.orderCount().call(
        block_identifier=block) + 1))

    for row in db(settings, "SELECT claim_id FROM claims WHERE kind = 'voucher'"):
        assert chain.rewards.functions.isClaimPaid(row["claim_id"]).call(block_identifier=block)
    for row in db(settings, "SELECT claim_id FROM claims WHERE kind = 'epoch'"):
        _, epoch, index = row["claim_id"].split(":")
        assert chain.rewards.functions.isEpochLeafClaimed(int(epoch), int(index)).call(block_identifier=block)
    return balances


async def publish_all(settings):
    """Runs the relay until the outbox is fully published."""
    from fitmint.outbox.relay import Relay

    pool = await connect(settings)
    try:
        relay = Relay(pool=pool, bootstrap=settings.bootstrap, chain_id=31337, batch_size=settings.relay_batch,
                      topic_prefix=settings.kafka_topic_prefix)
        try:
            while True:
                if relay.producer is None:
                    await relay._connect()
                if await relay.publish_once() == 0:
                    if not relay.waiting:
                        return relay.position
                    # Rows are left, held back by a transaction still running somewhere in the cluster
                    # (transaction ids are cluster-wide): they go out as soon as it ends.
                    await asyncio.sleep(0.01)
        finally:
            await relay._disconnect()
    finally:
        await pool.close()


async def consume_all(settings, topics=None) -> list[dict]:
    """Every committed event on the test's topics (default: the indexer's): [{topic, id, type, key}] in
    partition order."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from fitmint import events as ev

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.kafka_topic_prefix + topic, p) for topic in topics or ev.TOPICS
                      for p in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records = []

        # A commit returns before Kafka has written its markers to every partition; until then the
        # last stable offset (what read_committed reads up to) lags. With no producer left running,
        # wait until it reaches the high watermark: then every committed record is readable.
        watermarks = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, isolation_level="read_uncommitted")
        await watermarks.start()
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while (end := await consumer.end_offsets(partitions)) != await watermarks.end_offsets(partitions):
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError("a Kafka transaction on the test topics never completed")
                await asyncio.sleep(0.1)
        finally:
            await watermarks.stop()

        async def behind():
            return [tp for tp in partitions if await consumer.position(tp) < end[tp]]

        while await behind():
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for tp, items in batch.items():
                for record in items:
                    envelope = json.loads(record.value)
                    records.append({"topic": tp.topic, "id": envelope["id"], "type": envelope["type"],
                                    "key": record.key.decode(), "data": envelope["data"]})
        return records
    finally:
        await consumer.stop()


# --- a busy chain, and what a crashed or faulted indexer must end with: a clean run's rows and ids ---

TABLES = {
    "events": "SELECT block_number, log_index, name, topics, data FROM events ORDER BY 1, 2",
    "token_balances": "SELECT account, balance FROM token_balances WHERE balance <> 0 ORDER BY 1",
    "item_balances": "SELECT item_id, account, balance FROM item_balances WHERE balance <> 0 ORDER BY 1, 2",
    "claims": "SELECT claim_id, account, amount FROM claims ORDER BY 1",
    "listings": "SELECT * FROM listings ORDER BY 1",
    "orders": "SELECT * FROM orders ORDER BY 1",
    "outbox": "SELECT id, type, aggregateid, payload::text FROM outbox ORDER BY seq",
    "listing_states": "SELECT * FROM listing_states ORDER BY 1, 2, 3",
}


def busy_chain(chain, rounds=60):
    """Many small blocks full of events: batch claims, primary sales."""
    users = chain.accounts[1:8]
    for user in users:
        chain.approve_market(user)
    listing = chain.list_item(3, FIT, 10_000)
    for r in range(rounds):
        chain.claim_batch([(users[(r + i) % len(users)], FIT) for i in range(8)])
        chain.buy(listing, 1, users[r % len(users)])


def cursor_of(settings) -> int | None:
    try:
        rows = db(settings, "SELECT block_number FROM indexer_cursor")
    except asyncpg.UndefinedTableError:  # killed before it created its schema
        return None
    return rows[0]["block_number"] if rows else None


def caught_up(settings, head):
    try:
        cursor = db(settings, "SELECT block_number FROM indexer_cursor")
    except asyncpg.UndefinedTableError:  # killed before it created its schema
        return False
    if not cursor or cursor[0]["block_number"] < head:
        return False
    published = db(settings, "SELECT txid, seq FROM relay_position")
    last = db(settings, "SELECT txid, seq FROM outbox ORDER BY txid DESC, seq DESC LIMIT 1")
    return bool(published) and bool(last) and tuple(published[0]) == tuple(last[0])


def snapshot(settings):
    return {name: [tuple(row) for row in db(settings, query)] for name, query in TABLES.items()}
