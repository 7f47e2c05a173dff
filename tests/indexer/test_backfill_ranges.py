"""A quiet stretch of blocks, then busy ones: the range sizer has grown on the quiet blocks, so its next
range asks for all the busy blocks at once. An answer over the byte cap is not read, a range the node
refuses is not retried as it was: the range is cut and asked again until it passes, and the projections
still equal the chain."""

import asyncio

import orjson

from checks import assert_matches_chain
from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import RangeTooLarge, Rpc
from indexer.schema import connect
from indexer.sync import RETRY_NODE_LIMIT_AFTER, ChainSync
from tests.support.faultproxy import FaultProxy

CAP = 12_000  # bytes: ~18 logs (the scenario has ~110, none of its blocks more than ~12)


class RecordingRpc(Rpc):
    """The node's client, noting each eth_getLogs range and what came of it (logs and their size, or the
    refusal)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ranges: list[tuple[int, int, int | None, int | None]] = []  # (from, to, answer bytes, logs)

    async def get_logs(self, addresses, from_block, to_block, max_bytes=None):
        try:
            logs = await super().get_logs(addresses, from_block, to_block, max_bytes)
        except RangeTooLarge:
            self.ranges.append((from_block, to_block, None, None))
            raise
        # The answer's logs as the node sent them (get_logs keeps only the fields the indexer reads).
        answer = await self.call("eth_getLogs", {"address": addresses, "fromBlock": hex(from_block),
                                                 "toBlock": hex(to_block)})
        self.ranges.append((from_block, to_block, len(orjson.dumps(answer)), len(logs)))
        return logs


async def backfill(settings, url=None) -> RecordingRpc:
    rpc = RecordingRpc(url or settings.fitmint_rpc_url)
    pool = await connect(settings)
    try:
        sync = ChainSync(settings=settings, rpc=rpc, pool=pool, manifest=Manifest.load(settings.manifest_path()))
        await sync.run(until_block=await rpc.block_number())
    finally:
        await pool.close()
        await rpc.close()
    return rpc


def test_a_busy_stretch_after_quiet_blocks_is_read_in_answers_under_the_byte_cap(chain, make_indexer_settings):
    chain.mine(300)  # quiet: the sizer doubles its range on each empty one
    busy_from = chain.head() + 1
    chain.run_scenario()  # ~100 blocks of claims, an epoch, sales, resales and transfers (~400 logs)
    settings = make_indexer_settings(initial_range=16, max_response_bytes=CAP, target_logs_per_range=100_000)

    rpc = asyncio.run(backfill(settings))

    assert_matches_chain(chain, settings)
    refused = [(first, last) for first, last, size, _ in rpc.ranges if size is None]
    read = [(first, last, size, logs) for first, last, size, logs in rpc.ranges if size is not None]
    assert any(first < busy_from <= last for first, last in refused), rpc.ranges  # the grown range was cut
    assert all(size <= CAP for _, _, size, _ in read), rpc.ranges
    assert len([last for _, last, *_ in read if last >= busy_from]) >= 4  # the busy stretch took several answers
    covered = [block for first, last, *_ in read for block in range(first, last + 1)]
    assert covered == list(range(chain.manifest.deploy_block, chain.head() + 1))  # each block read once


def test_a_node_refusing_large_ranges_gets_ranges_it_answers(chain, make_indexer_settings):
    chain.mine(300)  # quiet: a node's limit once met must hold through them too
    chain.run_scenario()
    settings = make_indexer_settings(initial_range=16)

    with FaultProxy(chain.url) as provider:
        provider.max_log_blocks = 10  # "query returned more than 10000 results"
        rpc = asyncio.run(backfill(settings, provider.url))

    assert_matches_chain(chain, settings)
    refused = [(first, last) for first, last, size, _ in rpc.ranges if size is None]
    read = [(first, last) for first, last, size, _ in rpc.ranges if size is not None]
    # The limit, once met, holds for several ranges (halving on each refusal and doubling back after each
    # answer would have every other request refused).
    assert 1 <= len(refused) <= 1 + len(read) // RETRY_NODE_LIMIT_AFTER, rpc.ranges
    covered = [block for first, last in read for block in range(first, last + 1)]
    assert covered == list(range(chain.manifest.deploy_block, chain.head() + 1))
