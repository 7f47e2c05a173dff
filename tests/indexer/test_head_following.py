"""Following the head: the indexer hears of each new block over a newHeads subscription (not at its next
poll), still indexes through a node that serves no WebSocket (polling it), follows a reorg it hears of
over the subscription to the same state as the chain's, and subscribes again after the connection drops."""

import asyncio
import time

from checks import assert_matches_chain, cursor_of, db, indexer_process
from fitmint.chain.heads import HeadSubscription
from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import Rpc
from indexer.schema import connect
from indexer.sync import ChainSync
from tests.support.faultproxy import FaultProxy
from tests.support.processes import stop_group
from tests.support.toxiproxy import ToxiproxyServer
from tests.support.units import FIT
from tests.support.waiting import wait_until

NEVER = 600  # seconds: a poll interval no test waits for


def test_a_new_block_is_indexed_when_announced_not_at_the_next_poll(chain, indexer_settings):
    # Polls so rare that only the subscription can bring the new blocks in time.
    process = indexer_process(indexer_settings, poll_interval=NEVER, head_check_interval=NEVER)
    try:
        wait_until(lambda: cursor_of(indexer_settings) == chain.head(), timeout=60, what="the indexer at the head")
        for account in chain.accounts[1:4]:
            block = chain.claim(account, FIT).blockNumber
            wait_until(lambda block=block: (cursor_of(indexer_settings) or 0) >= block, timeout=10, interval=0.01,
                       what=f"block {block} indexed")
    finally:
        stop_group(process)
    assert_matches_chain(chain, indexer_settings)


async def follow(settings, rpc_url: str, until_indexed, *, stop_after: float = 30) -> HeadSubscription:
    """Runs a ChainSync with a subscription (on `rpc_url`'s WebSocket twin) until `until_indexed()` is true."""
    settings = settings.model_copy(update={"fitmint_rpc_url": rpc_url})
    rpc, pool = Rpc(rpc_url), await connect(settings)
    heads = HeadSubscription(settings.head_url).start()
    stop = asyncio.Event()
    sync = ChainSync(settings=settings, rpc=rpc, pool=pool, manifest=Manifest.load(settings.manifest_path()),
                     heads=heads)
    task = asyncio.create_task(sync.run(stop=stop))
    try:
        deadline = time.monotonic() + stop_after
        while not await asyncio.to_thread(until_indexed):
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "not indexed in time"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        await heads.close()
        await pool.close()
        await rpc.close()
    return heads


def test_a_node_without_websocket_is_polled(chain, indexer_settings, caplog):
    chain.claim(chain.accounts[1], FIT)
    with FaultProxy(chain.url) as http_only, caplog.at_level("INFO", logger="fitmint.chain.heads"):
        async def scenario():
            head = chain.head()
            task = asyncio.create_task(follow(indexer_settings, http_only.url,
                                              lambda: (cursor_of(indexer_settings) or 0) >= head + 1))
            await asyncio.sleep(1)
            await asyncio.to_thread(chain.claim, chain.accounts[2], FIT)  # a block after the start: polled
            return await task

        heads = asyncio.run(scenario())
    assert not heads.live and heads.announced == 0
    assert "no newHeads subscription at ws://" in caplog.text
    assert_matches_chain(chain, indexer_settings)


def test_a_reorg_announced_over_the_subscription_is_followed(chain, indexer_settings):
    for account in chain.accounts[1:4]:
        chain.claim(account, 10 * FIT)

    async def scenario():
        height = chain.head()
        task = asyncio.create_task(follow(
            indexer_settings, chain.url,
            lambda: cursor_of(indexer_settings) == chain.head() > height + 1
            and db_hash(indexer_settings) == chain.w3.eth.get_block("latest")["hash"].to_0x_hex()))
        await asyncio.sleep(1)
        await asyncio.to_thread(chain.claim, chain.accounts[4], 2 * FIT)  # indexed, then reorged away
        await asyncio.sleep(0.5)
        voucher, signature = chain.voucher(chain.accounts[5], 3 * FIT)
        replacement = {"from": chain.accounts[9], "to": chain.rewards.address, "gas": hex(500_000),
                       "data": chain.rewards.functions.claim(voucher, signature)._encode_transaction_data()}
        await asyncio.to_thread(chain.rpc, "anvil_reorg", 2, [[replacement, 0]])
        await asyncio.to_thread(chain.mine, 1)
        return await task

    heads = asyncio.run(scenario())
    assert heads.latest is not None, "no head was announced"
    assert_matches_chain(chain, indexer_settings)


def db_hash(settings) -> str | None:
    rows = db(settings, "SELECT block_hash FROM indexer_cursor")
    return rows[0]["block_hash"] if rows else None


def test_the_subscription_is_opened_again_after_the_connection_drops(chain, tmp_path):
    async def announced_block(heads: HeadSubscription) -> int:
        seen = heads.announced
        block = (await asyncio.to_thread(chain.claim, chain.accounts[1], FIT)).blockNumber
        deadline = time.monotonic() + 10
        while heads.latest is None or heads.latest["number"] < block:
            assert time.monotonic() < deadline, f"block {block} was not announced"
            await heads.next_head(seen, NEVER, NEVER)
            seen = heads.announced
        return heads.latest["number"]

    async def until(condition, what: str, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.02)

    async def scenario(proxy):
        heads = HeadSubscription(f"ws://{proxy.address}").start()
        try:
            await until(lambda: heads.live, "subscribed")
            first = await announced_block(heads)
            proxy.set_enabled(False)  # the node's connection closes, new ones are refused
            await until(lambda: not heads.live, "the drop noticed")
            await asyncio.sleep(0.5)
            proxy.set_enabled(True)
            await until(lambda: heads.live, "subscribed again")
            return first, await announced_block(heads)
        finally:
            await heads.close()

    with ToxiproxyServer(tmp_path) as toxiproxy:
        first, second = asyncio.run(scenario(toxiproxy.proxy("anvil", chain.port)))
    assert second > first
