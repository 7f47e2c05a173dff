"""Wallet reads through the HTTP API: after the indexer catches up, what a dApp reads equals the chain,
pages are complete and stable, and every answer names its block."""

import asyncio

import pytest
from fastapi.testclient import TestClient

from backend.app.core.config import Settings as ApiSettings
from backend.app.main import create_app
from checks import db, index_to_head


@pytest.fixture
def api(chain, indexer_settings, stack, tmp_path):
    chain.run_scenario()
    asyncio.run(index_to_head(indexer_settings))
    settings = ApiSettings(fitmint_state_dir=indexer_settings.fitmint_state_dir, redis_port=int(stack["REDIS_PORT"]),
                           postgres_port=int(stack["POSTGRES_PORT"]), indexer_database=indexer_settings.indexer_database,
                           jwt_secret_file=tmp_path / "jwt-secret")
    with TestClient(create_app(settings)) as client:
        yield client


def test_balance_and_items_equal_the_chain(api, chain):
    head = chain.head()
    for user in chain.accounts[1:6]:
        body = api.get(f"/wallets/{user}/balance").json()
        assert body["block"] == head
        assert int(body["balance"]) == chain.token.functions.balanceOf(user).call()
        held = api.get(f"/wallets/{user}/items").json()
        for item in held["data"]:
            assert int(item["quantity"]) == chain.items.functions.balanceOf(user, int(item["item_id"])).call()
    assert api.get(f"/wallets/{chain.accounts[1]}/items").json()["data"] == [{"item_id": "1", "quantity": "1"}]


def test_transfer_pages_are_complete_and_newest_first(api, chain, indexer_settings):
    user = chain.accounts[1]
    expected = db(indexer_settings, "SELECT count(*) AS n FROM token_transfers WHERE from_address = $1 OR "
                                    "to_address = $1", user.lower())[0]["n"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.get(f"/wallets/{user}/transfers", params=params).json()
        seen += [(t["block"], t["log_index"]) for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == expected
    assert seen == sorted(seen, reverse=True)


def test_claims_of_a_user(api, chain, indexer_settings):
    user = chain.accounts[2]
    body = api.get(f"/wallets/{user}/claims", params={"limit": 200}).json()
    kinds = sorted(c["kind"] for c in body["data"])
    assert kinds == ["epoch", "voucher", "voucher"]  # one claim, one batch voucher, one Merkle leaf


@pytest.mark.parametrize("path", ["/wallets/0x123/balance", "/wallets/not-an-address/transfers",
                                  "/wallets/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/transfers?limit=0",
                                  "/wallets/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/transfers?cursor=drop%20table"])
def test_bad_input_is_422(api, path):
    assert api.get(path).status_code == 422
