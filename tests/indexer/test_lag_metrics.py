"""fitmint_indexer_lag_seconds: how far behind the chain what dApps read is, by block time (the head
block's timestamp minus the indexed block's), 0 at the head, the head's header read once per head."""

import asyncio

from indexer.cursor import Cursor
from indexer.settings import Settings
from indexer.sync import ChainSync
from tests.indexer.test_decode import manifest  # noqa: F401 - fixture

BLOCK_TIME = 12


class TimedRpc:
    """Block n was made at n * BLOCK_TIME; no logs. Counts the headers asked for."""

    def __init__(self):
        self.headers: list[int] = []

    async def get_logs(self, addresses, from_block, to_block, max_bytes=None):
        return []

    async def header(self, number):
        self.headers.append(number)
        return {"number": number, "hash": f"0x{number:064x}", "parent_hash": f"0x{number - 1:064x}",
                "timestamp": number * BLOCK_TIME}


def test_seconds_behind_the_head_by_block_time(manifest):  # noqa: F811 - the fixture
    rpc = TimedRpc()
    sync = ChainSync(settings=Settings(reorg_depth=0), rpc=rpc, pool=None, manifest=manifest)

    async def run():
        behind = await sync._prepare(Cursor(9, f"0x{9:064x}"), 10, 100)  # blocks 10 of 100
        at_head = await sync._prepare(Cursor(99, f"0x{99:064x}"), 100, 100)
        rpc.headers.clear()
        seconds = [await sync._seconds_behind(100, behind), await sync._seconds_behind(100, behind),
                   await sync._seconds_behind(100, at_head)]
        return seconds, list(rpc.headers)

    seconds, headers = asyncio.run(run())
    assert seconds == [90 * BLOCK_TIME, 90 * BLOCK_TIME, 0]
    assert headers == [100]  # once per head
