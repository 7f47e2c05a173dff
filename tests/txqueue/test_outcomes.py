"""Every outcome of a request (sent, then mined | failed | replaced) is an event of the catalogue, written to the
outbox of the queue's database in the transaction that records it: once per outcome, with the payload the
catalogue defines (and its JSON Schema), nothing more however long the worker runs; and the outbox relay
publishes them to Kafka (the stack's broker, topics of this test's own), keyed by request id."""

import asyncio
import uuid

import asyncpg
import msgspec
from eth_account import Account

from fitmint import events as ev
from fitmint.outbox.relay import Relay
from fitmint.txqueue.submit import TransactionRequest, submit
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.eventschemas import assert_matches_schema
from tests.support.kafka import aevent_ids
from tests.support.txqueue import REFUSER, attempts, drive, queue

PAYEE = "0x00000000000000000000000000000000000b0b0b"


async def outbox(connection) -> list[dict]:
    return [dict(row) for row in await connection.fetch("SELECT * FROM outbox ORDER BY seq")]


def test_each_outcome_is_one_event_of_the_catalogue_in_the_outbox_and_on_kafka(make_anvil, postgres, stack):
    anvil = make_anvil("--no-mining")
    key = anvil.funded_key()
    signer = Account.from_key(key).address.lower()
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    bootstrap = f"127.0.0.1:{stack['KAFKA_PORT']}"

    async def scenario():
        async with queue(postgres, anvil, [key]) as (worker, connection):
            paid = await submit(connection, TransactionRequest("pay-1", "rewards", PAYEE, value=5))
            refused = await submit(connection, TransactionRequest("list-7", "catalog", REFUSER, b"\xaa\xbb\xcc\xdd"))
            await drive(worker, connection, paid, states=("sent",))
            assert (await drive(worker, connection, refused))["state"] == "failed"
            anvil.mine()
            mined = await drive(worker, connection, paid)
            # another request whose nonce goes to a transaction the queue did not sign
            taken = await submit(connection, TransactionRequest("pay-2", "rewards", PAYEE, value=6))
            row = await drive(worker, connection, taken, states=("sent",))
            [ours] = await attempts(connection, taken)
            theirs = Account.from_key(key).sign_transaction({
                "type": 2, "chainId": 31337, "nonce": row["nonce"], "to": Account.create().address, "value": 1,
                "gas": 21_000, "maxFeePerGas": int(ours["max_fee_per_gas"]) * 2,
                "maxPriorityFeePerGas": int(ours["max_priority_fee_per_gas"]) * 2})
            anvil.rpc("eth_sendRawTransaction", theirs.raw_transaction.to_0x_hex())
            anvil.mine()
            replaced = await drive(worker, connection, taken)
            for _ in range(3):
                anvil.mine()
                await worker.run_once()
            return mined, replaced, ours, await outbox(connection)

    mined, replaced, ours, rows = asyncio.run(scenario())
    assert replaced["state"] == "replaced"
    by_request = {}
    for row in rows:
        assert row["aggregatetype"] == "fitmint.transactions"
        by_request.setdefault(int(row["aggregateid"]), []).append(row)
    assert {request: [row["type"] for row in events] for request, events in by_request.items()} == {
        mined["id"]: ["dev.fitmint.tx.sent.v1", "dev.fitmint.tx.mined.v1"],
        mined["id"] + 1: ["dev.fitmint.tx.failed.v1"],
        replaced["id"]: ["dev.fitmint.tx.sent.v1", "dev.fitmint.tx.replaced.v1"]}
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert_matches_schema(row["type"], row["payload"])
    payloads = [ev.read(ev.parse(ev.envelope(id=row["id"], ce_type=row["type"], chain_id=31337,
                                             subject=row["aggregateid"], time=None,
                                             data=msgspec.Raw(row["payload"].encode())))).payload for row in rows]
    sent, failed, was_mined, sent_too, was_replaced = payloads
    assert sent == ev.TransactionSent(request_id=mined["id"], idempotency_key="pay-1", requester="rewards",
                                      target=PAYEE, reason="", signer=signer, nonce=0, tx_hash=mined["mined_hash"],
                                      max_fee_per_gas=sent.max_fee_per_gas,
                                      max_priority_fee_per_gas=sent.max_priority_fee_per_gas)
    assert failed == ev.TransactionFailed(request_id=mined["id"] + 1, idempotency_key="list-7", requester="catalog",
                                          target=REFUSER, reason="simulation reverted: Refused(code=7)")
    assert was_mined == ev.TransactionMined(request_id=mined["id"], idempotency_key="pay-1", requester="rewards",
                                            target=PAYEE, reason=mined["reason"], signer=signer, nonce=0,
                                            tx_hash=mined["mined_hash"], block_number=mined["block_number"])
    assert sent_too.tx_hash == ours["tx_hash"] and sent_too.nonce == 1
    assert sent_too.max_fee_per_gas == str(int(ours["max_fee_per_gas"]))
    assert was_replaced == ev.TransactionReplaced(
        request_id=replaced["id"], idempotency_key="pay-2", requester="rewards", target=PAYEE,
        reason="nonce 1 was taken by a transaction this queue did not sign", signer=signer, nonce=1)

    async def relay():
        await ensure_topics(bootstrap, [prefix + "fitmint.transactions"], 3)
        connection = await asyncpg.connect(**postgres)
        await connection.execute("CREATE TABLE outbox_meta (generation uuid NOT NULL); "
                                 "INSERT INTO outbox_meta VALUES (gen_random_uuid())")
        await connection.close()
        pool = await asyncpg.create_pool(**postgres, min_size=1, max_size=2)
        publisher = Relay(pool=pool, bootstrap=bootstrap, chain_id=31337, batch_size=100, topic_prefix=prefix,
                          producer="api")
        stop = asyncio.Event()
        task = asyncio.create_task(publisher.run(stop, idle_sleep=0.05))
        try:
            for _ in range(200):
                if publisher.position[1] >= rows[-1]["seq"]:
                    break
                await asyncio.sleep(0.05)
            return await aevent_ids(bootstrap, prefix + "fitmint.transactions")
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await pool.close()
            await delete_topics_with_prefix(bootstrap, prefix)

    assert sorted(asyncio.run(relay())) == sorted(str(row["id"]) for row in rows)
