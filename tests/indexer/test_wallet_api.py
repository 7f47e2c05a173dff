"""Wallet reads through the HTTP API: after the indexer catches up, what a dApp reads equals the chain,
pages are complete and stable, and every answer names its block."""

import asyncio

import pytest
from fastapi.testclient import TestClient

from backend.app.core.config import Settings as ApiSettings
from backend.app.main import create_app
from checks import db, index_to_head
from tests.support.databases import create_database, drop_database
from tests.support.units import FIT


@pytest.fixture
def api(chain, indexer_settings, stack, tmp_path):
    chain.run_scenario()
    asyncio.run(index_to_head(indexer_settings))
    # A backend database of its own: the stack's would be migrated to this checkout's schema at start-up.
    database = create_database(stack)
    settings = ApiSettings(fitmint_state_dir=indexer_settings.fitmint_state_dir, redis_port=int(stack["REDIS_PORT"]),
                           postgres_port=int(stack["POSTGRES_PORT"]), backend_database=database,
                           indexer_database=indexer_settings.indexer_database, jwt_keys_dir=tmp_path / "jwt-keys")
    try:
        with TestClient(create_app(settings)) as client:
            yield client
    finally:
        drop_database(stack, database)


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
        seen += [(t["block"], t["log_index"], t["value"]) for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == expected
    assert seen == sorted(seen, reverse=True)
    onchain = [(e.blockNumber, e.logIndex, str(e.args.value)) for e in chain.token.events.Transfer().get_logs(
        from_block=0) if user in (e.args["from"], e.args.to)]
    assert seen == sorted(onchain, reverse=True)  # values as plain decimal digits, like the chain's


def test_claims_of_a_user(api, chain, indexer_settings):
    user = chain.accounts[2]
    body = api.get(f"/wallets/{user}/claims", params={"limit": 200}).json()
    kinds = sorted(c["kind"] for c in body["data"])
    assert kinds == ["epoch", "voucher", "voucher"]  # one claim, one batch voucher, one Merkle leaf
    assert sorted(int(c["amount"]) for c in body["data"]) == [2 * FIT, 50 * FIT, 300 * FIT]
    assert all(c["amount"].isdigit() for c in body["data"])


def chain_orders(chain, address, role="buyer"):
    """The OrderCreated events of `address` (as buyer or seller) read from the chain, newest first, in the
    API's shape."""
    logs = chain.market.events.OrderCreated().get_logs(from_block=0)
    orders = [{"order_id": e.args.orderId, "listing_id": e.args.listingId, "buyer": e.args.buyer.lower(),
               "seller": e.args.seller.lower(), "item_id": str(e.args.itemId), "quantity": str(e.args.quantity),
               "unit_price": str(e.args.unitPrice), "fee": str(e.args.fee), "burned": str(e.args.burned),
               "block": e.blockNumber, "log_index": e.logIndex, "tx_hash": e.transactionHash.to_0x_hex()}
              for e in logs if e.args[role].lower() == address.lower()]
    return sorted(orders, key=lambda o: (o["block"], o["log_index"]), reverse=True)


def walk(api, path, **params):
    """Every item of a paged endpoint, one page of `limit` at a time; asserts each page names the same block."""
    seen, cursor, blocks = [], None, set()
    while True:
        page = api.get(path, params=params | ({"cursor": cursor} if cursor else {})).json()
        assert len(page["data"]) <= params.get("limit", 50)
        seen += page["data"]
        blocks.add(page["block"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, blocks


def test_orders_of_buyers_and_sellers_equal_the_chain(api, chain):
    head = chain.head()
    proceeds = chain.accounts[8]  # where the scenario's primary listings pay out: their seller
    for account in chain.accounts[:10]:
        for role in ("buyer", "seller"):
            body = api.get(f"/wallets/{account}/orders", params={"role": role, "limit": 200}).json()
            assert body["address"] == account and body["block"] == head and body["next_cursor"] is None
            assert body["data"] == chain_orders(chain, account, role), (account, role)
    # The default role is the buyer.
    assert api.get(f"/wallets/{chain.accounts[1]}/orders").json()["data"] == chain_orders(chain, chain.accounts[1])

    # What run_scenario did: users 1-3 bought primary shoes (2, 1) and shirts (3); user 4 bought user 1's resale.
    users = chain.accounts[1:6]
    bought = {user: [(o["item_id"], o["quantity"], o["unit_price"], o["seller"])
                     for o in api.get(f"/wallets/{user}/orders").json()["data"]] for user in users}
    assert bought == {users[0]: [("1", "2", str(20 * FIT), proceeds.lower())],
                      users[1]: [("1", "1", str(20 * FIT), proceeds.lower())],
                      users[2]: [("2", "3", str(5 * FIT), proceeds.lower())],
                      users[3]: [("1", "1", str(30 * FIT), users[0].lower())],
                      users[4]: []}
    sold = api.get(f"/wallets/{proceeds}/orders", params={"role": "seller"}).json()["data"]
    assert [o["buyer"] for o in sold] == [users[2].lower(), users[1].lower(), users[0].lower()]
    # Items reach users only through orders here, so what each holds is what it bought minus what it resold.
    for user in users:
        for item_id in (1, 2):
            net = sum(int(o["quantity"]) for o in chain_orders(chain, user) if o["item_id"] == str(item_id)) - sum(
                int(o["quantity"]) for o in chain_orders(chain, user, "seller") if o["item_id"] == str(item_id))
            assert chain.items.functions.balanceOf(user, item_id).call() == net, (user, item_id)


def test_order_pages_walk_every_order_once_newest_first(api, chain, indexer_settings):
    buyer, proceeds = chain.accounts[1], chain.accounts[8]
    # More orders for one buyer: two in the same block (the cursor's log index matters), one in a block of its own.
    assert chain.market.functions.getListing(1).call()[2] == 1  # the scenario's primary shoes, still open
    chain.rpc("evm_setAutomine", False)
    try:
        pending = [chain.market.functions.purchase(1, quantity, 2**96 - 1).transact({"from": buyer, "gas": 500_000})
                   for quantity in (1, 2)]
        chain.mine(1)
    finally:
        chain.rpc("evm_setAutomine", True)
    receipts = [chain.w3.eth.wait_for_transaction_receipt(tx) for tx in pending]
    assert [r.status for r in receipts] == [1, 1] and receipts[0].blockNumber == receipts[1].blockNumber
    chain.buy(2, 1, buyer)
    asyncio.run(index_to_head(indexer_settings))

    for account, role, count in ((buyer, "buyer", 4), (proceeds, "seller", 6)):
        expected = chain_orders(chain, account, role)
        assert len(expected) == count
        for limit in (1, 2):
            seen, blocks = walk(api, f"/wallets/{account}/orders", role=role, limit=limit)
            assert blocks == {chain.head()}
            positions = [(o["block"], o["log_index"]) for o in seen]
            assert len(positions) == len(set(positions)) == count
            assert positions == sorted(positions, reverse=True)
            assert seen == expected


def test_an_address_without_orders_gets_an_empty_page(api, chain):
    nobody = chain.accounts[7]
    for params in ({}, {"role": "buyer"}, {"role": "seller"}, {"role": "seller", "cursor": "5-0", "limit": 1}):
        body = api.get(f"/wallets/{nobody}/orders", params=params).json()
        assert body == {"address": nobody, "data": [], "block": chain.head(), "next_cursor": None}
    # Lowercase or checksummed, the same wallet.
    user = chain.accounts[1]
    assert api.get(f"/wallets/{user.lower()}/orders").json()["data"] == chain_orders(chain, user)


def test_orders_are_documented(tmp_path):
    paths = create_app(ApiSettings(fitmint_state_dir=tmp_path)).openapi()["paths"]
    operation = paths["/wallets/{address}/orders"]["get"]
    assert "newest first" in operation["description"]
    [role] = [p for p in operation["parameters"] if p["name"] == "role"]
    assert role["schema"]["enum"] == ["buyer", "seller"] and role["schema"]["default"] == "buyer"


@pytest.mark.parametrize("path", ["/wallets/0x123/balance", "/wallets/not-an-address/transfers",
                                  "/wallets/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/transfers?limit=0",
                                  "/wallets/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/transfers?cursor=drop%20table",
                                  "/wallets/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/orders?role=owner",
                                  "/wallets/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/orders?role=Buyer",
                                  "/wallets/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/orders?cursor=1-2;drop"])
def test_bad_input_is_422(api, path):
    assert api.get(path).status_code == 422


def test_the_read_views_have_the_columns_the_api_reads_use(chain, indexer_settings):
    """The wallet and marketplace reads read only the indexer's versioned views, with these columns."""
    from backend.app.marketplace.listings import VIEWS as MARKETPLACE_VIEWS
    from backend.app.wallets.service import VIEWS as WALLET_VIEWS
    from indexer.schema import READ_VIEWS

    views = WALLET_VIEWS | MARKETPLACE_VIEWS
    asyncio.run(index_to_head(indexer_settings))
    assert set(views) <= set(READ_VIEWS)
    for view, columns in views.items():
        present = {r["column_name"] for r in db(indexer_settings, "SELECT column_name FROM information_schema.columns "
                                                                  "WHERE table_name = $1", view)}
        assert set(columns) <= present, view


def test_the_wallet_reads_need_nothing_but_the_read_views(api, chain, indexer_settings, stack):
    """A role that may read only the indexer's read views gets every wallet answer the API gives."""
    import uuid

    import asyncpg

    from backend.app.wallets import service
    from indexer.schema import READ_VIEWS
    from tests.support.databases import admin_dsn

    owner = dict(admin_dsn(stack), database=indexer_settings.indexer_database)
    role, password = f"wallet_reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    user = chain.accounts[1].lower()

    async def answers(pool):
        return (await service.balance(pool, user), await service.items(pool, user),
                await service.transfers(pool, user, limit=200, cursor=None),
                await service.claims(pool, user, limit=200, cursor=None),
                await service.orders(pool, user, role="buyer", limit=200, cursor=None))

    async def compare():
        connection = await asyncpg.connect(**owner)
        try:
            await connection.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            await connection.execute(f"GRANT SELECT ON {', '.join(READ_VIEWS)} TO {role}")
            async with asyncpg.create_pool(**owner, min_size=1, max_size=1) as full, asyncpg.create_pool(
                    **dict(owner, user=role, password=password), min_size=1, max_size=1) as reader:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await reader.fetch("SELECT * FROM token_balances")
                return await answers(full), await answers(reader)
        finally:
            await connection.execute(f"DROP OWNED BY {role}")
            await connection.execute(f"DROP ROLE {role}")
            await connection.close()

    full, restricted = asyncio.run(compare())
    assert restricted == full
    assert full[0][0] > 0 and full[2].items and full[3].items and full[4].items
