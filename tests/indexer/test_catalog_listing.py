"""Listing catalog products on-chain through HTTP: a private Anvil deployed by `ape run deploy` (which
grants the dev operator key its roles), the stack's Kubo, PostgreSQL and Redis. The chain is read back
with web3: FitItems.uri / cidOf and the Marketplace listing."""

import os
import uuid

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from backend.app.main import create_app
from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.processes import free_port
from tests.support.roles import grant_role
from tests.support.signin import new_wallet, sign_in
from tests.support.units import FIT


@pytest.fixture
def api(chain, stack, tmp_path):
    database = create_database(stack)
    settings = api_settings(stack, chain.state_dir, database, fitmint_rpc_url=chain.url,
                            jwt_secret_file=tmp_path / "jwt-secret")
    try:
        with TestClient(create_app(settings)) as client:
            db(settings, "INSERT INTO tenants (slug, name) VALUES ('alpha', 'Alpha Club')")
            wallet = new_wallet()
            sign_in(client, settings, wallet, "alpha")
            db(settings, "UPDATE users SET role = 'admin'")
            yield client, settings, sign_in(client, settings, wallet, "alpha")
    finally:
        drop_database(stack, database)


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


def test_listing_puts_the_item_on_chain_once_and_updates_follow(api, chain):
    client, settings, headers = api
    product = create_product(client, headers)
    listed = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert listed.status_code == 201, listed.text
    listing = listed.json()
    assert listing["status"] == "listed" and listing["listing"]["tx_hash"].startswith("0x")
    listing_id = int(listing["listing"]["listing_id"])
    treasury = chain.w3.to_checksum_address(chain.accounts[0])  # the manifest's treasury (the deployer here)
    assert on_chain(chain, product, listing_id) == {
        "uri": f"ipfs://{product['cid']}", "cid": product["cid"], "seller": treasury, "unit_price": 75 * FIT // 10,
        "item_id": int(product["item_id"]), "remaining": 20, "primary": True, "listings": listing_id}

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
    sent = db(settings, "SELECT action FROM catalog_chain_txs WHERE status = 'mined' ORDER BY nonce")
    assert [r["action"] for r in sent] == ["createListing", "setCid", "updatePrice", "updateSupply", "setCid"]


def test_a_crash_after_sending_checks_the_receipt_instead_of_listing_again(api, chain):
    client, settings, headers = api
    product = create_product(client, headers)
    listed = client.post(f"/catalog/products/{product['id']}/listing", headers=headers).json()
    # As if the API died after sending createListing, before it recorded the receipt.
    db(settings, "UPDATE products SET status = 'listing', listing_id = NULL, listed_at = NULL, chain_cid = NULL, "
                 "chain_price = NULL, chain_supply = NULL")
    db(settings, "UPDATE catalog_chain_txs SET status = 'sent', settled_at = NULL")
    height = chain.head()
    again = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["listing"]["listing_id"] == listed["listing"]["listing_id"]
    assert chain.head() == height and chain.market.functions.listingCount().call() == 1

    # As if it died after journaling a transaction but before sending it: the node never saw it, so the
    # listing is sent (once).
    other = create_product(client, headers, name="Jump Rope")
    fake = "0x" + os.urandom(32).hex()
    db(settings, "UPDATE products SET status = 'listing', listing_tx = $1 WHERE id = $2::uuid", fake, other["id"])
    db(settings, "INSERT INTO catalog_chain_txs (tx_hash, product_id, action, args, nonce) VALUES "
                 "($1, $2::uuid, 'createListing', '{}', 0)", fake, other["id"])
    relisted = client.post(f"/catalog/products/{other['id']}/listing", headers=headers)
    assert relisted.status_code == 201, relisted.text
    assert relisted.json()["listing"]["listing_id"] == "2" and relisted.json()["listing"]["tx_hash"] != fake
    assert db(settings, "SELECT status FROM catalog_chain_txs WHERE tx_hash = $1", fake)[0]["status"] == "dropped"
    assert chain.items.functions.uri(int(other["item_id"])).call() == f"ipfs://{other['cid']}"


def test_reverts_come_back_decoded_and_a_dead_chain_is_503(api, chain):
    client, settings, headers = api
    product = create_product(client, headers)
    chain.send(chain.market.functions.pause(), chain.admin)
    paused = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert paused.status_code == 409 and "EnforcedPause" in paused.json()["detail"]
    chain.send(chain.market.functions.unpause(), chain.admin)

    operator = Account.from_key(settings.operator_key()).address  # the key file the deploy script wired
    grant_role(chain, "Marketplace", "LISTER_ROLE", operator, action="revoke")  # through the admin timelock
    refused = client.post(f"/catalog/products/{product['id']}/listing", headers=headers)
    assert refused.status_code == 502
    assert f"AccessControlUnauthorizedAccount(account={operator}" in refused.json()["detail"]
    assert client.get(f"/catalog/products/{product['id']}").json()["status"] == "draft"

    dead = settings.model_copy(update={"fitmint_rpc_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(dead)) as no_chain:
        down = no_chain.post(f"/catalog/products/{product['id']}/listing", headers=headers)
        assert down.status_code == 503 and "does not answer" in down.json()["detail"]
    assert uuid.UUID(product["id"]).int == int(product["item_id"])
