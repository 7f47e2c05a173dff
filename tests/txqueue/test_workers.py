"""Several workers, several keys: one worker manages a key at a time, and a pool of keys shares the work."""

import asyncio

from eth_account import Account

from fitmint.txqueue.submit import TransactionRequest, submit
from tests.support.txqueue import drive, queue

PAYEE = "0x00000000000000000000000000000000000b0b0b"


def test_two_workers_racing_for_one_key_one_manages_it_and_the_other_takes_over_when_it_stops(make_anvil,
                                                                                              postgres):
    anvil = make_anvil()
    key = anvil.funded_key()
    signer = Account.from_key(key).address

    async def scenario():
        async with queue(postgres, anvil, [key]) as (first, connection), \
                queue(postgres, anvil, [key]) as (second, _):
            assert len(first.managed) + len(second.managed) == 1
            ids = [await submit(connection, TransactionRequest(f"race-{n}", "test", PAYEE, value=n + 1))
                   for n in range(6)]
            for _ in range(5):
                await asyncio.gather(first.run_once(), second.run_once())
            rows = [await drive(first, connection, request_id) for request_id in ids]
            assert {row["state"] for row in rows} == {"mined"}
            assert sorted(row["nonce"] for row in rows) == list(range(6))
            assert await connection.fetchval("SELECT count(*) FROM txqueue_attempt") == 6
            holder, other = (first, second) if first.managed else (second, first)
            await holder.close()
            await other.run_once()
            assert other.managed == {signer.lower()}
            late = await submit(connection, TransactionRequest("race-late", "test", PAYEE, value=99))
            assert (await drive(other, connection, late))["nonce"] == 6

    asyncio.run(scenario())
    assert anvil.nonce(signer) == 7


def test_a_pool_of_keys_shares_the_requests_each_with_its_own_nonces(make_anvil, postgres):
    anvil = make_anvil("--no-mining")
    keys = [anvil.funded_key() for _ in range(3)]

    async def scenario():
        async with queue(postgres, anvil, keys, max_in_flight=2) as (worker, connection):
            ids = [await submit(connection, TransactionRequest(f"pool-{n}", "test", PAYEE, value=1))
                   for n in range(6)]
            await worker.run_once()
            anvil.mine()
            rows = [await drive(worker, connection, request_id) for request_id in ids]
            assert {row["state"] for row in rows} == {"mined"}
            by_signer = {}
            for row in rows:
                by_signer.setdefault(row["signer"], []).append(row["nonce"])
            assert {signer: sorted(nonces) for signer, nonces in by_signer.items()} == {
                Account.from_key(key).address.lower(): [0, 1] for key in keys}

    asyncio.run(scenario())


def test_two_workers_that_both_believe_they_manage_a_key_still_send_each_request_once(make_anvil, postgres):
    """A split brain (say, a lock lost to a PostgreSQL failover): the records, not the lock, are the fence."""
    anvil = make_anvil("--no-mining")
    key = anvil.funded_key()
    signer = Account.from_key(key).address

    async def scenario():
        async with queue(postgres, anvil, [key]) as (first, connection), \
                queue(postgres, anvil, [key]) as (second, _):
            for worker in (first, second):
                worker.run_once = _without_locks(worker)
            ids = [await submit(connection, TransactionRequest(f"split-{n}", "test", PAYEE, value=n + 1))
                   for n in range(8)]
            for _ in range(6):
                await asyncio.gather(first.run_once(), second.run_once())
            anvil.mine()
            rows = [await drive(first, connection, request_id) for request_id in ids]
            assert {row["state"] for row in rows} == {"mined"}
            assert sorted(row["nonce"] for row in rows) == list(range(8))
            assert await connection.fetchval("SELECT count(*) FROM txqueue_attempt") == 8

    asyncio.run(scenario())
    assert anvil.nonce(signer) == 8


def _without_locks(worker):
    """The worker's pass as if it held every one of its keys' locks."""
    async def run_once():
        for signer in worker._accounts:
            async with worker._pool.acquire() as connection:
                await worker._settle_and_recover(connection, signer)
                await worker._send_waiting(connection, signer)

    return run_once


def test_a_request_taken_by_a_key_no_worker_runs_any_more_goes_to_another_key(make_anvil, postgres):
    anvil = make_anvil()
    key = anvil.funded_key()

    async def scenario():
        async with queue(postgres, anvil, [key]) as (worker, connection):
            request_id = await submit(connection, TransactionRequest("orphan", "test", PAYEE, value=1))
            await connection.execute("UPDATE txqueue_request SET signer = $1, updated_at = now() - interval '1 hour' "
                                     "WHERE id = $2", "0x000000000000000000000000000000000000dead", request_id)
            row = await drive(worker, connection, request_id)
            assert (row["state"], row["signer"]) == ("mined", Account.from_key(key).address.lower())

    asyncio.run(scenario())
