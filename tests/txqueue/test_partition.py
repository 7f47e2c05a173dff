"""The worker's loop rides out PostgreSQL partitions (Toxiproxy cuts every connection and refuses new ones)
while requests flow: it never exits, and every request is mined once, with its own nonce, after the heal."""

import asyncio
import contextlib

import asyncpg
from eth_account import Account

from fitmint.chain.rpc import Rpc
from fitmint.txqueue.simulation import decoder_of
from fitmint.txqueue.submit import TransactionRequest, submit
from fitmint.txqueue.worker import Worker
from tests.support.toxiproxy import ToxiproxyServer
from tests.support.txqueue import REFUSER_ABI
from tests.support.waiting import until

PAYEE = "0x00000000000000000000000000000000000b0b0b"
ROUNDS, PER_ROUND = 4, 6


@contextlib.asynccontextmanager
async def worker_behind(proxy, anvil, postgres: dict, keys: list, *, cut_off: bool = False):
    """A queue worker reaching PostgreSQL only through `proxy` (disabled before it starts when `cut_off`), and the
    test's own connection; at the end the worker is told to stop and must end within 30 s."""
    rpc = Rpc(anvil.url)
    worker = Worker({**postgres, "port": proxy.port}, rpc, keys, decoder_of([REFUSER_ABI]))
    stop = asyncio.Event()
    if cut_off:
        proxy.set_enabled(False)
    loop = asyncio.create_task(worker.run(stop, interval=0.05))
    connection = await asyncpg.connect(**postgres)  # the test's own, not through the proxy
    try:
        yield worker, loop, connection
    finally:
        stop.set()
        await asyncio.wait_for(loop, 30)
        await connection.close()
        await rpc.close()


def test_the_worker_rides_out_postgres_partitions_and_sends_each_request_once(make_anvil, postgres, tmp_path):
    anvil = make_anvil()
    keys = [anvil.funded_key() for _ in range(2)]

    async def scenario(proxy):
        submitted = []
        async with worker_behind(proxy, anvil, postgres, keys) as (_, loop, connection):
            for round_ in range(ROUNDS):
                for n in range(PER_ROUND):
                    submitted.append(await submit(connection, TransactionRequest(
                        f"partition-{round_}-{n}", "test", PAYEE, value=1)))
                await asyncio.sleep(0.1 * round_)  # cut at different points of the passes
                proxy.set_enabled(False)
                await asyncio.sleep(1.5)
                assert not loop.done(), loop.exception() if loop.done() else None
                proxy.set_enabled(True)

            async def all_mined():
                states = await connection.fetch("SELECT state FROM txqueue_request WHERE id = ANY($1)", submitted)
                return {row["state"] for row in states} == {"mined"}

            await until(all_mined, timeout=60, interval=0.2, what="every request mined after the partitions")
            assert not loop.done(), loop.exception() if loop.done() else None
            nonces = await connection.fetch("SELECT signer, nonce FROM txqueue_request WHERE id = ANY($1)", submitted)
            return [(row["signer"], row["nonce"]) for row in nonces]

    with ToxiproxyServer(tmp_path) as toxiproxy:
        proxy = toxiproxy.proxy("postgres", postgres["port"])
        nonces = asyncio.run(scenario(proxy))
    assert len(set(nonces)) == ROUNDS * PER_ROUND  # each request its own nonce: none sent twice
    mined = {Account.from_key(key).address.lower(): anvil.nonce(Account.from_key(key).address) for key in keys}
    assert sum(mined.values()) == ROUNDS * PER_ROUND


def test_a_worker_started_during_a_partition_waits_for_postgres_then_sends(make_anvil, postgres, tmp_path):
    anvil = make_anvil()
    keys = [anvil.funded_key()]

    async def scenario(proxy):
        async with worker_behind(proxy, anvil, postgres, keys, cut_off=True) as (worker, loop, connection):
            request = await submit(connection, TransactionRequest("started-cut-off", "test", PAYEE, value=1))
            await asyncio.sleep(2)
            assert not loop.done(), loop.exception() if loop.done() else None
            assert not worker.managed  # no key taken while PostgreSQL is out of reach
            proxy.set_enabled(True)

            async def mined():
                return await connection.fetchval("SELECT state FROM txqueue_request WHERE id = $1", request) == "mined"

            await until(mined, timeout=30, interval=0.2, what="the request mined once PostgreSQL is back")

    with ToxiproxyServer(tmp_path) as toxiproxy:
        asyncio.run(scenario(toxiproxy.proxy("postgres", postgres["port"])))
