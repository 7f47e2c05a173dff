"""The fast path: requests submitted in bulk, taken a chunk at a time by several keys at once (one simulation
batch, one recording transaction, one broadcast batch per chunk), each mined exactly once with every key's
nonces contiguous; a revert inside a chunk spends no nonce; a worker stopped between recording a chunk and
broadcasting it leaves the next worker those very bytes to send."""

import asyncio

import asyncpg
import pytest
from eth_account import Account

from fitmint.txqueue.fees import Fees
from fitmint.txqueue.signing import Signer
from fitmint.txqueue.submit import IdempotencyConflict, TransactionRequest, submit, submit_many
from tests.support.txqueue import REFUSER, attempts, drive, queue

PAYEE = "0x00000000000000000000000000000000000b0b0b"


def test_the_lean_signer_signs_the_bytes_eth_account_signs():
    for n in range(20):
        account = Account.create()
        fees = Fees(10**10 + n, 10**9 + n)
        expected = account.sign_transaction({
            "type": 2, "chainId": 31337, "nonce": n * 977, "to": "0x00000000000000000000000000000000000b0B0b",
            "data": bytes([n]) * n, "value": n * 10**17, "gas": 21_000 + n, "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas})
        signer = Signer(account.key.to_0x_hex())
        signed = signer.sign(31337, n * 977, 21_000 + n, PAYEE, bytes([n]) * n, n * 10**17, fees)
        assert (signed.raw, signed.tx_hash) == (expected.raw_transaction.to_0x_hex(), expected.hash.to_0x_hex())
        assert signer.address == account.address.lower()


def test_submit_many_is_submit_for_a_list_all_or_nothing(postgres):
    async def scenario():
        connection = await asyncpg.connect(**postgres)
        try:
            earlier = await submit(connection, TransactionRequest("bulk-1", "test", PAYEE, value=1))
            requests = [TransactionRequest(f"bulk-{n}", "test", PAYEE, value=n) for n in range(5)]
            ids = await submit_many(connection, requests + [requests[2]])
            assert ids[1] == earlier and ids[-1] == ids[2] and len(set(ids)) == 5
            assert await submit_many(connection, requests) == ids[:5]
            with pytest.raises(IdempotencyConflict):
                await submit_many(connection, [TransactionRequest("bulk-new", "test", PAYEE, value=1),
                                               TransactionRequest("bulk-3", "test", PAYEE, value=99)])
            with pytest.raises(IdempotencyConflict):
                await submit_many(connection, [TransactionRequest("bulk-twice", "test", PAYEE, value=1),
                                               TransactionRequest("bulk-twice", "test", PAYEE, value=2)])
            assert await connection.fetchval("SELECT count(*) FROM txqueue_request") == 5
        finally:
            await connection.close()

    asyncio.run(scenario())


def test_a_chunk_across_several_keys_is_mined_once_each_with_contiguous_nonces(make_anvil, postgres):
    anvil = make_anvil("--no-mining")
    keys = [anvil.funded_key() for _ in range(3)]

    async def scenario():
        async with queue(postgres, anvil, keys, max_in_flight=40, chunk_size=16) as (worker, connection):
            requests = [TransactionRequest(f"chunk-{n}", "test", PAYEE, value=n + 1) for n in range(90)]
            requests[41] = TransactionRequest("chunk-refused", "test", REFUSER, b"\xaa\xbb\xcc\xdd")
            ids = await submit_many(connection, requests)
            await worker.run_once()  # every key takes chunks concurrently, up to its room
            assert await connection.fetchval("SELECT count(*) FROM txqueue_request WHERE state = 'sent'") == 89
            anvil.mine()
            rows = [await drive(worker, connection, request_id) for request_id in ids]
            assert [row["state"] for row in rows].count("mined") == 89
            refused = rows[41]
            assert (refused["state"], refused["nonce"]) == ("failed", None)
            by_signer = {}
            for row in rows:
                if row["nonce"] is not None:
                    by_signer.setdefault(row["signer"], []).append(row["nonce"])
            assert set(by_signer) == {Account.from_key(key).address.lower() for key in keys}
            for signer, nonces in by_signer.items():
                assert sorted(nonces) == list(range(len(nonces))) and anvil.nonce(signer) == len(nonces)
            assert await connection.fetchval("SELECT count(*) FROM txqueue_attempt") == 89
            assert int(anvil.rpc("eth_getBalance", PAYEE, "latest"), 16) == sum(
                request.value for n, request in enumerate(requests) if n != 41)
            events = await connection.fetch("SELECT type, count(*) FROM outbox GROUP BY type")
            assert {row["type"].split(".")[3]: row["count"] for row in events} == {"sent": 89, "mined": 89,
                                                                                   "failed": 1}

    asyncio.run(scenario())


class Crashed(Exception):
    pass


def test_a_worker_stopped_between_recording_a_chunk_and_broadcasting_it_leaves_those_bytes(make_anvil, postgres):
    anvil = make_anvil()
    key = anvil.funded_key()
    signer = Account.from_key(key).address

    async def scenario():
        async with queue(postgres, anvil, [key], chunk_size=10) as (crashing, connection):
            async def crash(raws):
                raise Crashed

            crashing.broadcast = crash
            ids = await submit_many(connection, [TransactionRequest(f"mid-{n}", "test", PAYEE, value=n + 1)
                                                 for n in range(10)])
            with pytest.raises(Crashed):
                await crashing.run_once()
            recorded = [await attempts(connection, request_id) for request_id in ids]
            assert [[attempt["state"] for attempt in each] for each in recorded] == [["signed"]] * 10
            assert anvil.nonce(signer, "pending") == 0  # nothing reached the node
        async with queue(postgres, anvil, [key]) as (successor, connection):
            rows = [await drive(successor, connection, request_id) for request_id in ids]
            assert [row["mined_hash"] for row in rows] == [each[0]["tx_hash"] for each in recorded]
            after = [await attempts(connection, request_id) for request_id in ids]
            assert [[(a["raw"], a["state"]) for a in each] for each in after] == [
                [(each[0]["raw"], "mined")] for each in recorded]  # the recorded bytes, never a new signature

    asyncio.run(scenario())
    assert anvil.nonce(signer) == 10


async def drive_both(first, second, connection, ids: list[int], passes: int = 100) -> list[dict]:
    """Both workers pass after pass (each confirms what its own keys sent) until every request ended; the rows."""
    for _ in range(passes):
        await asyncio.gather(first.run_once(), second.run_once())
        rows = [dict(row) for row in await connection.fetch(
            "SELECT * FROM txqueue_request WHERE id = ANY($1::bigint[]) ORDER BY id", ids)]
        if all(row["state"] in ("mined", "failed", "replaced") for row in rows):
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"not all ended: {[(row['id'], row['state']) for row in rows]}")


def test_worker_processes_sharing_a_pool_split_its_keys_when_each_holds_at_most_its_share(make_anvil, postgres):
    anvil = make_anvil()
    keys = [anvil.funded_key() for _ in range(4)]

    async def scenario():
        async with queue(postgres, anvil, keys, max_keys=2) as (first, connection), \
                queue(postgres, anvil, keys, max_keys=2) as (second, _):
            assert len(first.managed) == len(second.managed) == 2 and not first.managed & second.managed
            ids = await submit_many(connection, [TransactionRequest(f"split-{n}", "test", PAYEE, value=1)
                                                 for n in range(40)])
            rows = await drive_both(first, second, connection, ids)
            assert {row["state"] for row in rows} == {"mined"}
            by_signer = {}
            for row in rows:
                by_signer.setdefault(row["signer"], []).append(row["nonce"])
            assert all(sorted(nonces) == list(range(len(nonces))) for nonces in by_signer.values())

    asyncio.run(scenario())
