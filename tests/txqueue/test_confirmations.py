"""Until a mined request's block is TXQUEUE_CONFIRMATIONS deep, a reorg that takes its transaction out reopens
it, even when the key's mined nonce does not go back (another transaction took the nonce in the new
branch): the record follows the chain, and the outcome is published again."""

import asyncio

from eth_account import Account

from fitmint.txqueue.submit import TransactionRequest, submit
from tests.support.txqueue import drive, queue

PAYEE = "0x00000000000000000000000000000000000b0b0b"
OTHER = "0x000000000000000000000000000000000000dEaD"


def test_a_reorg_within_the_confirmations_reopens_a_mined_request_whose_nonce_another_took(make_anvil, postgres):
    anvil = make_anvil("--no-mining")
    key = anvil.funded_key()
    account = Account.from_key(key)

    async def scenario():
        async with queue(postgres, anvil, [key], confirmations=3) as (worker, connection):
            request_id = await submit(connection, TransactionRequest("reorged", "test", PAYEE, value=5))
            await drive(worker, connection, request_id, states=("sent",))
            anvil.mine()
            mined = await drive(worker, connection, request_id)
            assert mined["state"] == "mined"
            # the block is replaced by one where a transaction the queue did not sign takes nonce 0
            theirs = account.sign_transaction({"type": 2, "chainId": 31337, "nonce": 0, "to": OTHER, "value": 7,
                                               "gas": 21_000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9})
            anvil.rpc("anvil_reorg", 1, [[theirs.raw_transaction.to_0x_hex(), 0]])
            assert anvil.nonce(account.address) == 1 and anvil.rpc("eth_getTransactionReceipt",
                                                                   mined["mined_hash"]) is None
            row = await drive(worker, connection, request_id, states=("replaced",))
            events = await connection.fetch("SELECT type, payload::jsonb ->> 'reason' AS reason FROM outbox "
                                            "WHERE aggregateid = $1 ORDER BY seq", str(request_id))
            return row, events

    row, events = asyncio.run(scenario())
    assert row["mined_hash"] is None
    assert [event["type"].split(".")[3] for event in events] == ["sent", "mined", "sent", "replaced"]
    assert events[2]["reason"].startswith("a reorg took ")
    assert int(anvil.rpc("eth_getBalance", PAYEE, "latest"), 16) == 0


def test_a_reorg_that_mines_the_same_transaction_again_changes_nothing(make_anvil, postgres):
    anvil = make_anvil("--no-mining")
    key = anvil.funded_key()

    async def scenario():
        async with queue(postgres, anvil, [key], confirmations=2) as (worker, connection):
            request_id = await submit(connection, TransactionRequest("kept", "test", PAYEE, value=5))
            await drive(worker, connection, request_id, states=("sent",))
            anvil.mine()
            mined = await drive(worker, connection, request_id)
            raw = await connection.fetchval("SELECT raw FROM txqueue_attempt WHERE request_id = $1", request_id)
            anvil.rpc("anvil_reorg", 1, [[raw, 0]])  # a new block at that height, holding the same transaction
            for _ in range(3):
                await worker.run_once()
            again = await connection.fetchrow("SELECT * FROM txqueue_request WHERE id = $1", request_id)
            assert (again["state"], again["mined_hash"], again["block_number"]) == (
                "mined", mined["mined_hash"], mined["block_number"])
            events = await connection.fetchval("SELECT count(*) FROM outbox WHERE aggregateid = $1", str(request_id))
            assert events == 2  # sent, mined: nothing reopened, nothing published again

    asyncio.run(scenario())

