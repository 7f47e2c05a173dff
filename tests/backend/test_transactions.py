"""Transactions through the queue over HTTP: only admins submit and read, within their tenant; one request per
idempotency key (the same again: the same id; another payload: 409); a list by state in keyset pages; and a
request the queue's worker mines (a private Anvil) read back with its signer, nonce, attempts and block, its
outcomes in the API's outbox."""

import asyncio

from eth_account import Account

from fitmint.chain.rpc import Rpc
from fitmint.txqueue.simulation import decoder_of
from fitmint.txqueue.worker import Worker
from tests.support.api import db
from tests.support.txqueue import REFUSER_ABI, Anvil

PAYEE = "0x00000000000000000000000000000000000b0b0b"


def post(client, member, body: dict, key: str | None = "payout-0001"):
    headers = {**member.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post("/transactions", json=body, headers=headers)


def test_one_request_per_idempotency_key_and_only_admins_of_the_tenant(client, tenants):
    admin, other_admin = tenants["alpha"]["admin"], tenants["beta"]["admin"]
    accepted = post(client, admin, {"target": PAYEE, "value": "5", "calldata": "0xabcd"})
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["id"]
    assert accepted.json() == {"id": request_id, "state": "queued", "idempotency_key": "payout-0001"}
    again = post(client, admin, {"target": PAYEE.upper().replace("0X", "0x"), "value": "5", "calldata": "0xABCD"})
    assert (again.status_code, again.json()["id"], again.headers["Idempotent-Replayed"]) == (202, request_id, "true")
    in_body = post(client, admin, {"target": PAYEE, "value": "5", "calldata": "0xabcd",
                                   "idempotency_key": "payout-0001"}, key=None)
    assert in_body.json()["id"] == request_id
    conflict = post(client, admin, {"target": PAYEE, "value": "6", "calldata": "0xabcd"})
    assert conflict.status_code == 409
    # the same key in another tenant is that tenant's own
    assert post(client, other_admin, {"target": PAYEE, "value": "6"}).json()["id"] != request_id
    for role in ("user", "coach"):
        member = tenants["alpha"][role]
        assert post(client, member, {"target": PAYEE}).status_code == 403
        assert client.get(f"/transactions/{request_id}", headers=member.headers).status_code == 403
        assert client.get("/transactions", headers=member.headers).status_code == 403
    assert post(client, admin, {"target": PAYEE}, key=None).status_code == 422
    assert post(client, admin, {"target": PAYEE, "idempotency_key": "another-key"}).status_code == 422
    assert post(client, admin, {"target": "alice"}).status_code == 422
    assert client.get(f"/transactions/{request_id}", headers=other_admin.headers).status_code == 404
    read = client.get(f"/transactions/{request_id}", headers=admin.headers).json()
    assert (read["state"], read["reason"], read["signer"], read["nonce"], read["attempts"]) == (
        "queued", None, None, None, [])
    assert (read["target"], read["calldata"], read["value"], read["requester"]) == (
        PAYEE, "0xabcd", "5", admin.user_id)
    assert db(client.app.state.settings, "SELECT count(*) FROM txqueue_request")[0][0] == 2


def test_the_list_is_the_tenants_by_state_in_keyset_pages(client, tenants):
    admin = tenants["alpha"]["admin"]
    ids = [post(client, admin, {"target": PAYEE, "value": str(i)}, key=f"payout-{i:04}").json()["id"]
           for i in range(5)]
    post(client, tenants["beta"]["admin"], {"target": PAYEE}, key="payout-beta")
    db(client.app.state.settings, "UPDATE txqueue_request SET state = 'failed', reason = 'test' WHERE id = $1",
       ids[1])
    seen, cursor = [], None
    while True:
        page = client.get("/transactions", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=admin.headers).json()
        seen += [row["id"] for row in page["data"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == ids[::-1]
    queued = client.get("/transactions", params={"state": "queued"}, headers=admin.headers).json()
    assert [row["id"] for row in queued["data"]] == [ids[4], ids[3], ids[2], ids[0]]
    failed = client.get("/transactions", params={"state": "failed"}, headers=admin.headers).json()
    assert [(row["id"], row["reason"]) for row in failed["data"]] == [(ids[1], "test")]
    assert client.get("/transactions", params={"state": "lost"}, headers=admin.headers).status_code == 422


def test_a_request_the_worker_mines_reads_back_with_its_attempts_and_outcomes(client, tenants, settings):
    admin = tenants["alpha"]["admin"]
    anvil = Anvil()
    try:
        key = anvil.funded_key()
        request_id = post(client, admin, {"target": PAYEE, "value": "12345"}).json()["id"]

        async def mine():
            rpc = Rpc(anvil.url)
            worker = Worker(settings.postgres(settings.backend_database), rpc, [key], decoder_of([REFUSER_ABI]))
            await worker.start()
            try:
                for _ in range(50):
                    await worker.run_once()
                    if client.get(f"/transactions/{request_id}", headers=admin.headers).json()["state"] == "mined":
                        return
                    await asyncio.sleep(0.05)
            finally:
                await worker.close()
                await rpc.close()

        asyncio.run(mine())
    finally:
        anvil.stop()
    read = client.get(f"/transactions/{request_id}", headers=admin.headers).json()
    [attempt] = read["attempts"]
    assert read["state"] == "mined" and read["reason"] == f"mined in block {read['block_number']}"
    assert (read["signer"], read["nonce"]) == (Account.from_key(key).address.lower(), 0)
    assert attempt["tx_hash"] == read["mined_hash"] and attempt["state"] == "mined"
    assert int(attempt["max_fee_per_gas"]) >= int(attempt["max_priority_fee_per_gas"]) > 0
    outbox = db(settings, "SELECT type, aggregateid FROM outbox WHERE aggregatetype = 'fitmint.transactions' "
                          "ORDER BY seq")
    assert [tuple(row) for row in outbox] == [("dev.fitmint.tx.sent.v1", str(request_id)),
                                              ("dev.fitmint.tx.mined.v1", str(request_id))]
