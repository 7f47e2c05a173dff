"""Submitting, simulating and mining: one request per idempotency key, a revert never sent."""

import asyncio

import pytest
from eth_account import Account

from fitmint.txqueue.submit import IdempotencyConflict, TransactionRequest, status, submit
from tests.support.txqueue import REFUSER, attempts, drive, queue

PAYEE = "0x00000000000000000000000000000000000b0b0b"


def test_a_submitted_transfer_is_sent_and_mined(make_anvil, postgres):
    anvil = make_anvil()
    key = anvil.funded_key()

    async def scenario():
        async with queue(postgres, anvil, [key]) as (worker, connection):
            request_id = await submit(connection, TransactionRequest("pay-1", "rewards", PAYEE, value=12345))
            row = await drive(worker, connection, request_id)
            assert row["state"] == "mined" and row["reason"].startswith("mined in block")
            assert row["signer"] == Account.from_key(key).address.lower() and row["nonce"] == 0
            [attempt] = await attempts(connection, request_id)
            assert attempt["state"] == "mined" and attempt["tx_hash"] == row["mined_hash"]
            return await status(connection, request_id)

    assert asyncio.run(scenario())["state"] == "mined"
    assert int(anvil.rpc("eth_getBalance", PAYEE, "latest"), 16) == 12345


def test_the_same_idempotency_key_twice_is_one_transaction(make_anvil, postgres):
    anvil = make_anvil()
    key = anvil.funded_key()

    async def scenario():
        async with queue(postgres, anvil, [key]) as (worker, connection):
            request = TransactionRequest("claim-42", "relayer", PAYEE, calldata=b"\x01\x02", value=1)
            first = await submit(connection, request)
            again = await submit(connection, request)
            row = await drive(worker, connection, first)
            after_mined = await submit(connection, request)
            with pytest.raises(IdempotencyConflict):
                await submit(connection, TransactionRequest("claim-42", "relayer", PAYEE, calldata=b"\x01\x02",
                                                            value=2))
            await worker.run_once()
            assert first == again == after_mined and row["state"] == "mined"
            assert len(await attempts(connection, first)) == 1
            assert await connection.fetchval("SELECT count(*) FROM txqueue_request") == 1

    asyncio.run(scenario())
    assert anvil.nonce(Account.from_key(key).address) == 1


def test_a_reverting_call_fails_with_its_decoded_error_and_is_never_sent(make_anvil, postgres):
    anvil = make_anvil()
    key = anvil.funded_key()

    async def scenario():
        async with queue(postgres, anvil, [key]) as (worker, connection):
            refused = await submit(connection, TransactionRequest("list-7", "catalog", REFUSER, b"\xaa\xbb\xcc\xdd"))
            row = await drive(worker, connection, refused)
            assert row["state"] == "failed" and row["reason"] == "simulation reverted: Refused(code=7)"
            assert row["nonce"] is None and await attempts(connection, refused) == []
            # the nonce it did not spend goes to the next request
            paid = await submit(connection, TransactionRequest("pay-2", "rewards", PAYEE, value=1))
            assert (await drive(worker, connection, paid))["nonce"] == 0

    asyncio.run(scenario())
    assert anvil.nonce(Account.from_key(key).address) == 1
