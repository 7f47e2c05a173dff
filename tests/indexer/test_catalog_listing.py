"""Listing catalog products on-chain through HTTP and the transaction queue: a private Anvil deployed by
`ape run deploy` (which wires the dev operator pool), a real queue worker signing with the pool's first key,
the stack's Kubo, PostgreSQL and Redis. The chain is read back with web3: FitItems.uri / cidOf and the
Marketplace listing; the queue's records say which transactions were asked for."""

import os
import threading
import uuid

import httpx
import pytest
from alembic import command
from eth_account import Account
from fastapi.testclient import TestClient

from backend.app.core.db import alembic_config
from backend.app.main import create_app
from fitmint.keys import KeySettings
from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.processes import free_port, start_api
from tests.support.queue_worker import deployment_decoder, queue_worker
from tests.support.roles import grant_role
from tests.support.signin import new_wallet, sign_in
from tests.support.units import FIT
from tests.support.waiting import wait_until


@pytest.fixture
def chain_settings(chain, stack, tmp_path):
    """The API's settings on the test's chain and a database of its own, and the operator key the queue
    worker signs with (the pool's first, wired by the deploy; no other queue sends from this chain)."""
    database = create_database(stack)
    settings = api_settings(stack, chain.state_dir, database, fitmint_rpc_url=chain.url,
                            jwt_keys_dir=tmp_path / "jwt-keys")
    try:
        yield settings, KeySettings(fitmint_state_dir=chain.state_dir).operator_keys()[0]
    finally:
        drop_database(stack, database)


def worker_for(settings, chain, key: str):
    return queue_worker(settings.postgres(settings.backend_database), chain.url, [key],
                        deployment_decoder(chain.manifest))


def admin_of(client, settings) -> dict:
    db(settings, "INSERT INTO tenants (slug, name) VALUES ('alpha', 'Alpha Club') ON CONFLICT DO NOTHING")
    wallet = new_wallet()
    sign_in(client, settings, wallet, "alpha")
    db(settings, "UPDATE users SET role = 'admin'")
    return sign_in(client, settings, wallet, "alpha")


@pytest.fixture
def api(chain, chain_settings):
    settings, key = chain_settings
    with TestClient(create_app(settings)) as client, worker_for(settings, chain, key):
        yield client, settings, admin_of(client, settings), Account.from_key(key).address


def png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(64)


def create_product(client, headers, **fields) -> dict:
    image = client.post("/catalog/images", content=png(), headers={**headers, "Content-Type": "image/png"})
    assert image.status_code == 201, image.text
    body = {"name": "Recovery Foam Roller", "description": "45 cm, firm.", "images": [image.json()["cid"]],
            "attributes": [{"trait_type": "length_cm", "value": 45}], "price_fit": "7.5", "supply": 20} | fields
    response = client.post("/catalog/products", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json() | {"body": body}


def on_chain(chain, product: dict, listing_id: int) -> dict:
    item_id = int(product["item_id"])
    seller, unit_price, listed_item, remaining, primary = chain.market.functions.getListing(listing_id).call()
    return {"uri": chain.items.functions.uri(item_id).call(), "cid": chain.items.functions.cidOf(item_id).call(),
            "seller": seller, "unit_price": unit_price, "item_id": listed_item, "remaining": remaining,
            "primary": primary, "listings": chain.market.functions.listingCount().call()}


def catalog_requests(settings, product_id: str) -> list[dict]:
    """The product's queue requests, oldest first: (step, action) from the idempotency key, state, signer."""
    rows = db(settings, "SELECT id, idempotency_key, state, reason, signer FROM txqueue_request WHERE "
                        "requester = 'catalog' AND idempotency_key LIKE $1 ORDER BY id", f"catalog:{product_id}:%")
    return [dict(row) | {"step": int(row["idempotency_key"].split(":")[2]),
                         "action": row["idempotency_key"].split(":")[3]} for row in rows]


def test_listing_puts_the_item_on_chain_once_and_updates_follow(api, chain):
    client, settings, headers, operator = api
    product = create_product(client, headers)
    listed = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert listed.status_code == 201, listed.text
    listing = listed.json()
    assert listing["status"] == "listed" and listing["listing"]["tx_hash"].startswith("0x")
    assert listing["listing"]["transaction_id"] is None  # nothing in flight
    listing_id = int(listing["listing"]["listing_id"])
    treasury = chain.w3.to_checksum_address(chain.accounts[0])  # the manifest's treasury (the deployer here)
    assert on_chain(chain, product, listing_id) == {
        "uri": f"ipfs://{product['cid']}", "cid": product["cid"], "seller": treasury, "unit_price": 75 * FIT // 10,
        "item_id": int(product["item_id"]), "remaining": 20, "primary": True, "listings": listing_id}
    sender = chain.w3.eth.get_transaction(listing["listing"]["tx_hash"])["from"]
    assert sender == operator  # the queue's key sent it, not the API

    # Asking again returns the listing: nothing is sent.
    height = chain.head()
    again = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert again.status_code == 200 and again.json()["listing"] == listing["listing"]
    assert chain.head() == height and chain.market.functions.listingCount().call() == listing_id

    # An update: a new CID on FitItems, and the listing's new price and supply.
    body = product["body"] | {"description": "45 cm, firm, with a carry strap.", "price_fit": 9, "supply": 30}
    updated = client.put(f"/catalog/products/{product['id']}", json=body, headers=headers)
    assert updated.status_code == 200, updated.text
    new_cid = updated.json()["cid"]
    assert new_cid != product["cid"] and updated.json()["listing"]["chain_cid"] == new_cid
    state = on_chain(chain, product, listing_id)
    assert (state["cid"], state["uri"], state["unit_price"], state["remaining"]) == (
        new_cid, f"ipfs://{new_cid}", 9 * FIT, 30)
    # Only what changed is sent: a new description alone is one setCid.
    height = chain.head()
    body = body | {"description": "Firm."}
    assert client.put(f"/catalog/products/{product['id']}", json=body, headers=headers).status_code == 200
    assert chain.head() == height + 1
    assert client.get(f"/catalog/items/{product['item_id']}").json()["version"] == 3
    requests = catalog_requests(settings, product["id"])
    assert [(r["step"], r["action"], r["state"]) for r in requests] == [
        (0, "createListing", "mined"), (1, "setCid", "mined"), (2, "updatePrice", "mined"),
        (3, "updateSupply", "mined"), (4, "setCid", "mined")]
    assert {r["signer"] for r in requests} == {operator.lower()}


def test_a_listing_survives_a_crash_between_the_submit_and_its_outcome(chain, chain_settings, tmp_path):
    """The API is killed (SIGKILL) while it waits for its createListing: the request it submitted stays on
    the product, the queue mines it with the API gone, and asking again adopts that one listing."""
    settings, key = chain_settings
    api, base = start_api(settings, tmp_path)  # no queue worker yet: the request waits in the queue
    try:
        http = httpx.Client(base_url=base, timeout=120)
        headers = admin_of(http, settings)
        product = create_product(http, headers)
        answers = []
        asking = threading.Thread(target=lambda: answers.append(
            _post_or_error(http, f"/catalog/products/{product['id']}/listing", headers)))
        asking.start()
        wait_until(lambda: db(settings, "SELECT chain_request_id FROM products")[0]["chain_request_id"] is not None,
                   timeout=30, what="the createListing submitted to the queue")
        api.kill()
        asking.join(30)
        assert answers and isinstance(answers[0], httpx.HTTPError)  # the API died before answering
    finally:
        api.stop()
    [request] = catalog_requests(settings, product["id"])
    assert (request["action"], request["state"]) == ("createListing", "queued")
    assert db(settings, "SELECT status FROM products")[0]["status"] == "listing"

    # Restarted while the request is still in flight: the same request, answered 202 with it.
    impatient = settings.model_copy(update={"catalog_chain_wait_seconds": 0.5})
    with TestClient(create_app(impatient)) as client:
        pending = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
        assert pending.status_code == 202, pending.text
        assert pending.json()["status"] == "listing" and pending.json()["listing"]["transaction_id"] == request["id"]
        assert pending.headers["location"] == f"/transactions/{request['id']}"
        assert client.get(f"/transactions/{request['id']}", headers=headers).json()["state"] == "queued"

    with worker_for(settings, chain, key), TestClient(create_app(settings)) as client:
        wait_until(lambda: catalog_requests(settings, product["id"])[0]["state"] == "mined", timeout=30,
                   what="the queue mined the request with the API gone")
        height = chain.head()
        again = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
        assert again.status_code == 201, again.text
        assert again.json()["status"] == "listed" and again.json()["listing"]["listing_id"] == "1"
    assert chain.head() == height and chain.market.functions.listingCount().call() == 1
    assert [r["id"] for r in catalog_requests(settings, product["id"])] == [request["id"]]
    assert chain.items.functions.uri(int(product["item_id"])).call() == f"ipfs://{product['cid']}"


def _post_or_error(http: httpx.Client, url: str, headers: dict):
    try:
        return http.post(url, headers=headers)
    except httpx.HTTPError as exc:
        return exc


def test_listings_journaled_before_the_queue_are_settled_after_the_upgrade(chain, chain_settings):
    """A deployment upgraded mid-listing (migration 0013 drops the API's own journal): a createListing the
    old code sent and that was mined is adopted, not sent again; one the node never had is sent once."""
    settings, key = chain_settings
    with TestClient(create_app(settings)) as client:
        headers = admin_of(client, settings)
        sent, lost = create_product(client, headers, name="Jump Rope"), create_product(client, headers)
    # The old code signed with the operator key itself: the pool's second key plays it here.
    old_operator = Account.from_key(KeySettings(fitmint_state_dir=chain.state_dir).operator_keys()[1])
    call = chain.market.functions.createListing(int(sent["item_id"]), 75 * FIT // 10, 20, sent["cid"],
                                                chain.accounts[0])
    signed = old_operator.sign_transaction(call.build_transaction({
        "from": old_operator.address, "nonce": chain.w3.eth.get_transaction_count(old_operator.address)}))
    mined = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_raw_transaction(signed.raw_transaction))
    old_hash = mined["transactionHash"].to_0x_hex()
    never_sent = "0x" + os.urandom(32).hex()

    # Back to the schema before the queue, with the journal as the old code left it, then upgraded again.
    command.downgrade(alembic_config(settings), "0010")
    for product, tx_hash, nonce in ((sent, old_hash, mined["blockNumber"]), (lost, never_sent, 0)):
        db(settings, "UPDATE products SET status = 'listing', listing_tx = $2 WHERE id = $1::uuid", product["id"],
           tx_hash)
        db(settings, "INSERT INTO catalog_chain_txs (tx_hash, product_id, action, args, nonce) "
                     "VALUES ($1, $2::uuid, 'createListing', '{}', $3)", tx_hash, product["id"], nonce)
    with TestClient(create_app(settings)) as client, worker_for(settings, chain, key):  # migrates to head
        assert db(settings, "SELECT to_regclass('catalog_chain_txs') AS t")[0]["t"] is None
        height = chain.head()
        adopted = client.post(f"/catalog/products/{sent['id']}/listing", headers=headers)
        assert adopted.status_code == 201, adopted.text
        assert adopted.json()["listing"]["listing_id"] == "1" and adopted.json()["listing"]["tx_hash"] == old_hash
        assert chain.head() == height and catalog_requests(settings, sent["id"]) == []

        relisted = client.post(f"/catalog/products/{lost['id']}/listing", headers=headers)
        assert relisted.status_code == 201, relisted.text
        assert relisted.json()["listing"]["listing_id"] == "2" and relisted.json()["listing"]["tx_hash"] != never_sent
        assert [r["action"] for r in catalog_requests(settings, lost["id"])] == ["createListing"]
    assert chain.market.functions.listingCount().call() == 2
    assert chain.items.functions.uri(int(lost["item_id"])).call() == f"ipfs://{lost['cid']}"


def test_reverts_come_back_decoded_and_a_dead_chain_is_503(api, chain):
    client, settings, headers, operator = api
    product = create_product(client, headers)
    chain.send(chain.market.functions.pause(), chain.admin)
    paused = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert paused.status_code == 409 and "EnforcedPause" in paused.json()["detail"]
    assert client.get(f"/catalog/products/{product['id']}").json()["status"] == "draft"
    chain.send(chain.market.functions.unpause(), chain.admin)

    grant_role(chain, "Marketplace", "LISTER_ROLE", operator, action="revoke")  # through the admin timelock
    refused = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert refused.status_code == 502
    assert f"AccessControlUnauthorizedAccount(account={operator}" in refused.json()["detail"]
    assert client.get(f"/catalog/products/{product['id']}").json()["status"] == "draft"
    # Each refusal was a request of its own, failed in simulation: nothing was sent.
    assert [(r["step"], r["state"]) for r in catalog_requests(settings, product["id"])] == [(0, "failed"),
                                                                                          (1, "failed")]
    assert chain.market.functions.listingCount().call() == 0

    # The role back: asking again is a new step, and lists.
    grant_role(chain, "Marketplace", "LISTER_ROLE", operator)
    dead = settings.model_copy(update={"fitmint_rpc_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(dead)) as no_chain:  # the queue sends it; this API cannot read the receipt
        down = no_chain.post(f"/catalog/products/{product['id']}/listing", headers=headers)
        assert down.status_code == 503 and "does not answer" in down.json()["detail"]
    listed = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert listed.status_code == 201 and listed.json()["listing"]["listing_id"] == "1"
    assert [r["state"] for r in catalog_requests(settings, product["id"])] == ["failed", "failed", "mined"]
    assert uuid.UUID(product["id"]).int == int(product["item_id"])
