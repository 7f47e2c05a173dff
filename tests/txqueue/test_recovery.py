"""Recovery on a node that mines only when told: a dropped transaction re-broadcast, a stuck one replaced at
its nonce with a higher fee, a worker stopped between recording and sending."""

import asyncio

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from fitmint.txqueue.submit import TransactionRequest, submit
from tests.support.txqueue import attempts, drive, queue

PAYEE = "0x00000000000000000000000000000000000b0b0b"
GWEI = 10**9


def test_a_transaction_dropped_from_the_pool_is_broadcast_again_and_mined(make_anvil, postgres):
    anvil = make_anvil("--no-mining")
    key = anvil.funded_key()

    async def scenario():
        async with queue(postgres, anvil, [key], mine_within_seconds=60) as (worker, connection):
            request_id = await submit(connection, TransactionRequest("drop-me", "test", PAYEE, value=5))
            await drive(worker, connection, request_id, states=("sent",))
            [sent] = await attempts(connection, request_id)
            anvil.rpc("anvil_dropTransaction", sent["tx_hash"])
            assert anvil.rpc("eth_getTransactionByHash", sent["tx_hash"]) is None
            await worker.run_once()
            assert anvil.rpc("eth_getTransactionByHash", sent["tx_hash"]) is not None
            anvil.mine()
            row = await drive(worker, connection, request_id)
            assert row["state"] == "mined" and row["mined_hash"] == sent["tx_hash"]
            assert len(await attempts(connection, request_id)) == 1

    asyncio.run(scenario())


def test_a_stuck_transaction_is_replaced_at_its_nonce_with_higher_fees_and_one_of_them_mined(make_anvil, postgres):
    anvil = make_anvil("--no-mining")
    key = anvil.funded_key()
    signer = Account.from_key(key).address

    async def scenario():
        async with queue(postgres, anvil, [key], mine_within_seconds=0.3) as (worker, connection):
            request_id = await submit(connection, TransactionRequest("stuck", "test", PAYEE, value=7))
            await drive(worker, connection, request_id, states=("sent",))
            [first] = await attempts(connection, request_id)
            anvil.rpc("anvil_setNextBlockBaseFeePerGas", hex(int(first["max_fee_per_gas"]) * 10))
            anvil.mine()  # the base fee outgrew the first attempt: not included
            assert anvil.rpc("eth_getTransactionReceipt", first["tx_hash"]) is None
            await asyncio.sleep(0.4)
            await worker.run_once()
            first, second = await attempts(connection, request_id)
            assert second["nonce"] == first["nonce"] == 0
            for fee in ("max_fee_per_gas", "max_priority_fee_per_gas"):
                assert second[fee] * 10 >= first[fee] * 11  # the node's replacement rule: >= +10% on both
            anvil.mine()
            row = await drive(worker, connection, request_id)
            first, second = await attempts(connection, request_id)
            assert row["state"] == "mined" and row["mined_hash"] == second["tx_hash"]
            assert (first["state"], second["state"]) == ("replaced", "mined")
            assert anvil.rpc("eth_getTransactionReceipt", first["tx_hash"]) is None
            for _ in range(3):  # nothing else comes from that key, however long the worker runs
                anvil.mine()
                await worker.run_once()

    asyncio.run(scenario())
    assert anvil.nonce(signer) == 1


class Crashed(Exception):
    pass


def test_a_worker_stopped_between_recording_and_sending_leaves_the_next_one_that_transaction(make_anvil, postgres):
    anvil = make_anvil()
    key = anvil.funded_key()
    signer = Account.from_key(key).address

    async def scenario():
        async with queue(postgres, anvil, [key]) as (crashing, connection):
            async def crash(raw):
                raise Crashed

            crashing.broadcast = crash
            request_id = await submit(connection, TransactionRequest("crash", "test", PAYEE, value=9))
            with pytest.raises(Crashed):
                await crashing.run_once()
            [recorded] = await attempts(connection, request_id)
            assert recorded["state"] == "signed"
            assert anvil.rpc("eth_getTransactionByHash", recorded["tx_hash"]) is None
        async with queue(postgres, anvil, [key]) as (successor, connection):
            row = await drive(successor, connection, request_id)
            assert row["state"] == "mined" and row["mined_hash"] == recorded["tx_hash"]
            assert [a["tx_hash"] for a in await attempts(connection, request_id)] == [recorded["tx_hash"]]

    asyncio.run(scenario())
    assert anvil.nonce(signer) == 1


def test_a_worker_stopped_between_sending_and_recording_the_send_is_not_sent_twice(make_anvil, postgres):
    anvil = make_anvil("--no-mining")
    key = anvil.funded_key()
    signer = Account.from_key(key).address

    async def scenario():
        async with queue(postgres, anvil, [key]) as (crashing, connection):
            send = crashing.broadcast

            async def send_then_crash(raw):
                await send(raw)
                raise Crashed

            crashing.broadcast = send_then_crash
            request_id = await submit(connection, TransactionRequest("sent-unrecorded", "test", PAYEE, value=3))
            with pytest.raises(Crashed):
                await crashing.run_once()
            [recorded] = await attempts(connection, request_id)
            assert recorded["state"] == "signed"
            assert anvil.rpc("eth_getTransactionByHash", recorded["tx_hash"]) is not None
        async with queue(postgres, anvil, [key]) as (successor, connection):
            await successor.run_once()  # the same bytes again: the node already has them
            anvil.mine()
            row = await drive(successor, connection, request_id)
            assert row["state"] == "mined" and row["mined_hash"] == recorded["tx_hash"]
            assert len(await attempts(connection, request_id)) == 1

    asyncio.run(scenario())
    assert anvil.nonce(signer) == 1


def test_a_nonce_gap_left_by_a_transaction_sent_outside_the_queue_is_filled(make_anvil, postgres):
    anvil = make_anvil("--no-mining")
    key = anvil.funded_key()
    signer = Account.from_key(key)

    async def scenario():
        async with queue(postgres, anvil, [key]) as (worker, connection):
            outside = signer.sign_transaction({"type": 2, "chainId": 31337, "nonce": 0, "value": 1, "gas": 21_000,
                                               "to": to_checksum_address(PAYEE), "maxFeePerGas": 10 * GWEI,
                                               "maxPriorityFeePerGas": GWEI})
            outside_hash = anvil.rpc("eth_sendRawTransaction", outside.raw_transaction.to_0x_hex())
            request_id = await submit(connection, TransactionRequest("after-outside", "test", PAYEE, value=2))
            row = await drive(worker, connection, request_id, states=("sent",))
            assert row["nonce"] == 1
            anvil.rpc("anvil_dropTransaction", outside_hash)  # nonce 0 is now a hole: nonce 1 waits behind it
            await worker.run_once()
            filler = await connection.fetchrow("SELECT * FROM txqueue_request WHERE requester = 'txqueue'")
            assert (filler["signer"], filler["nonce"], filler["state"]) == (signer.address.lower(), 0, "sent")
            anvil.mine()
            assert (await drive(worker, connection, request_id))["state"] == "mined"
            assert (await drive(worker, connection, filler["id"]))["state"] == "mined"

    asyncio.run(scenario())
    assert anvil.nonce(signer.address) == 2


def test_after_the_chain_goes_back_the_queue_resynchronises_with_the_same_transactions(make_anvil, postgres):
    anvil = make_anvil()
    key = anvil.funded_key()
    signer = Account.from_key(key).address

    async def scenario():
        async with queue(postgres, anvil, [key]) as (worker, connection):
            snapshot = anvil.rpc("evm_snapshot")
            ids = [await submit(connection, TransactionRequest(f"before-{n}", "test", PAYEE, value=n + 1))
                   for n in range(2)]
            before = [(await drive(worker, connection, request_id))["mined_hash"] for request_id in ids]
            anvil.rpc("evm_revert", snapshot)  # the chain restarted from older state: both blocks are gone
            assert anvil.nonce(signer) == 0 and anvil.rpc("eth_getTransactionReceipt", before[0]) is None
            after = [(await drive(worker, connection, request_id))["mined_hash"] for request_id in ids]
            assert after == before  # the recorded transactions, not new ones
            assert await connection.fetchval("SELECT count(*) FROM txqueue_attempt") == 2
            # each outcome published as it happened: sent, mined, sent again (reopened), mined again
            events = await connection.fetch("SELECT type, payload::jsonb ->> 'reason' AS reason FROM outbox "
                                             "WHERE aggregateid = $1 ORDER BY seq", str(ids[0]))
            assert [row["type"].split(".")[3] for row in events] == ["sent", "mined", "sent", "mined"]
            assert events[2]["reason"].startswith("the chain no longer has nonce 0 (was mined)")
            later = await submit(connection, TransactionRequest("after", "test", PAYEE, value=9))
            assert (await drive(worker, connection, later))["nonce"] == 2

    asyncio.run(scenario())
    assert anvil.nonce(signer) == 3
