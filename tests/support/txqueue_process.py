"""A queue worker in a process of its own that stops dead at a point of its pass, for kill -9 tests:
    python -m tests.support.txqueue_process <postgres json> <rpc url> <key> <before-broadcast|after-broadcast>
It prints "recorded <raw>" when it reaches the point (the attempt is recorded; after-broadcast: and sent),
then waits to be killed."""

import asyncio
import json
import sys

from fitmint.chain.rpc import Rpc
from fitmint.txqueue.simulation import decoder_of
from fitmint.txqueue.worker import Worker
from tests.support.txqueue import REFUSER_ABI


class FrozenWorker(Worker):
    def __init__(self, *args, point: str, **options):
        super().__init__(*args, **options)
        self._point = point

    async def broadcast(self, raws: list[str]) -> list:
        if self._point == "after-broadcast":
            await super().broadcast(raws)
        print("recorded", *raws, flush=True)
        await asyncio.Event().wait()  # until SIGKILL


async def main(postgres: str, url: str, key: str, point: str) -> None:
    worker = FrozenWorker(json.loads(postgres), Rpc(url), [key], decoder_of([REFUSER_ABI]), point=point)
    await worker.start()
    while True:
        await worker.run_once()
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
