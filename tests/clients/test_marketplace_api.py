"""The client surface of the API against `make up`'s stack: GET /chain is what the chain says, listings are
the indexed chain with their catalog items, and a quote is what the wallet signs and sends to buy."""

import time
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from fitmint.chain.manifest import Manifest
from tests.support.stackclient import earn_fit, list_product, send_from
from tests.support.waiting import wait_until


def test_chain_document_is_what_the_deployment_and_the_token_say(api, stack, rpc_url):
    manifest = Manifest.load(Path(stack["FITMINT_STATE_DIR"]) / "deployments" / "31337.json")
    response = api.get("/chain")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
    chain = response.json()
    assert chain["chain_id"] == 31337 and chain["rpc_url"] == rpc_url
    assert {name: (c["address"], c["deploy_block"]) for name, c in chain["contracts"].items()} == {
        name: (c.checksum_address, c.block) for name, c in manifest.contracts.items()}
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    token = w3.eth.contract(address=chain["token"]["address"], abi=api.get("/chain/abis/FitToken").json())
    assert (chain["token"]["symbol"], chain["token"]["decimals"]) == (token.functions.symbol().call(), 18)

    # The permit domain a wallet signs under is the token's own: its hash is the token's DOMAIN_SEPARATOR.
    permit = chain["eip712"]["permit"]
    typed = {**permit, "message": {"owner": Account.create().address, "spender": chain["contracts"]["Marketplace"][
        "address"], "value": 1, "nonce": 0, "deadline": 1}}
    assert encode_typed_data(full_message=typed).header == token.functions.DOMAIN_SEPARATOR().call()

    # Each ABI is the compiled one, and both documents revalidate with their ETag.
    for name, contract in manifest.contracts.items():
        abi = api.get(chain["contracts"][name]["abi_url"])
        assert abi.json() == contract.abi
        assert api.get(chain["contracts"][name]["abi_url"], headers={"If-None-Match": abi.headers["etag"]}
                       ).status_code == 304
    assert api.get("/chain", headers={"If-None-Match": response.headers["etag"]}).status_code == 304
    assert api.get("/chain", headers={"If-None-Match": '"stale"'}).status_code == 200
    unknown = api.get("/chain/abis/Treasury")
    assert unknown.status_code == 404 and "Marketplace" in unknown.json()["detail"]


def wait_indexed(api, listing_id: int) -> dict:
    return wait_until(lambda: (r := api.get(f"/marketplace/listings/{listing_id}")).status_code == 200 and r.json(),
                      timeout=30, what=f"listing {listing_id} indexed")


def test_listings_are_the_indexed_chain_with_their_catalog_items(api, listed_item, catalog_admin):
    listing = wait_indexed(api, listed_item["listing_id"])
    assert (listing["item_id"], listing["unit_price"], listing["remaining"], listing["kind"], listing["status"]) == (
        listed_item["item_id"], str(15 * 10**17), "5", "primary", "open")
    item = listing["item"]
    assert item["name"] == listed_item["product"]["name"] and item["tenant"] == "fitmint"
    assert item["image"] == listed_item["image_cid"]
    image = api.get(item["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert api.get(item["metadata_url"]).json()["name"] == item["name"]

    # Filters: by item, by kind, by price range, by tenant.
    def ids(**params) -> list[int]:
        page = api.get("/marketplace/listings", params={"limit": 200, **params})
        assert page.status_code == 200, page.text
        return [entry["listing_id"] for entry in page.json()["data"]]

    mine = listed_item["listing_id"]
    assert ids(item_id=listed_item["item_id"]) == [mine]
    assert mine in ids(kind="primary") and mine not in ids(kind="resale")
    assert mine in ids(min_price=15 * 10**17, max_price=15 * 10**17) and mine not in ids(min_price=15 * 10**17 + 1)
    assert mine in ids(tenant="fitmint") and ids(tenant="no-such-tenant") == []

    # Sorted by price, walked one listing a page: every page continues where the last one stopped.
    pricier = list_product(api, catalog_admin, name="Pricier Band", price_fit="2", supply=1)
    wait_indexed(api, pricier["listing_id"])
    walked, cursor = [], None
    while True:
        page = api.get("/marketplace/listings", params={"sort": "price_asc", "limit": 1} | (
            {"cursor": cursor} if cursor else {})).json()
        walked += [(int(entry["unit_price"]), entry["listing_id"]) for entry in page["data"]]
        if not (cursor := page["next_cursor"]):
            break
    assert walked == sorted(walked) and {mine, pricier["listing_id"]} <= {listing_id for _, listing_id in walked}
    assert len(walked) == len(api.get("/marketplace/listings", params={"limit": 200}).json()["data"])
    newest = api.get("/marketplace/listings", params={"limit": 1}).json()
    assert api.get("/marketplace/listings", params={"sort": "price_asc", "cursor": newest["next_cursor"]}
                   ).status_code == 422  # a cursor of another sort order
    assert api.get("/marketplace/listings", params={"seller": "not-an-address"}).status_code == 422
    for cursor in ("9" * 19, "1-" + "9" * 19, "-1", "1-2-3"):  # past a listing id's range, or not a cursor
        assert api.get("/marketplace/listings", params={"cursor": cursor}).status_code == 422, cursor
    missing = api.get("/marketplace/listings/999999999")
    assert missing.status_code == 404 and "999999999" in missing.json()["detail"]


def test_a_quote_is_what_the_wallet_signs_and_sends_to_buy(api, rpc_url, listed_item, wallet):
    earned = earn_fit(api, rpc_url, wallet)
    listing_id = listed_item["listing_id"]
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    chain = api.get("/chain").json()
    market = w3.eth.contract(address=chain["contracts"]["Marketplace"]["address"],
                             abi=api.get("/chain/abis/Marketplace").json())
    _, fee_bps, burn_bps = market.functions.fees().call()

    response = api.post(f"/marketplace/listings/{listing_id}/quote", json={"buyer": wallet.address, "quantity": 2})
    assert response.status_code == 200, response.text
    quote = response.json()
    total = 2 * 15 * 10**17
    assert (quote["total"], quote["fee"], quote["burned"]) == (
        str(total), str(total * fee_bps // 10_000), str(total * burn_bps // 10_000))
    assert int(quote["seller_receives"]) == total - int(quote["fee"]) - int(quote["burned"])
    assert quote["buyer_balance"] == str(earned) and quote["sufficient_balance"] is True
    assert quote["deadline"] > time.time() and quote["permit"]["message"]["value"] == str(total)

    # The wallet signs the typed data as given (uint256 values arrive as decimal strings) and sends the call.
    typed = quote["permit"]
    types = {field["name"]: field["type"] for field in typed["types"]["Permit"]}
    message = {key: int(value) if types[key] == "uint256" else value for key, value in typed["message"].items()}
    signed = Account.sign_message(encode_typed_data(full_message={**typed, "message": message}), wallet.key)
    call = quote["call"]
    assert call["to"] == market.address and call["abi"]["name"] == call["function"] == "purchaseWithPermit"
    signature = [signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")]
    args = [int(value) for value in call["args"]] + signature
    receipt = send_from(w3, wallet, getattr(market.functions, call["function"])(*args))
    assert receipt.status == 1
    assert w3.eth.contract(address=chain["contracts"]["FitItems"]["address"], abi=api.get("/chain/abis/FitItems").json()
                           ).functions.balanceOf(wallet.address, int(listed_item["item_id"])).call() == 2

    # Indexed: the listing has 3 left, and the next quote asks for the next permit nonce.
    wait_until(lambda: api.get(f"/marketplace/listings/{listing_id}").json()["remaining"] == "3", timeout=30,
               what="the purchase indexed")
    again = api.post(f"/marketplace/listings/{listing_id}/quote", json={"buyer": wallet.address, "quantity": 1}).json()
    assert again["permit"]["message"]["nonce"] == str(int(quote["permit"]["message"]["nonce"]) + 1)


def test_quotes_refuse_what_the_contract_would_refuse_with_the_reason(api, listed_item):
    buyer = Account.create().address
    listing_id = listed_item["listing_id"]
    too_many = api.post(f"/marketplace/listings/{listing_id}/quote", json={"buyer": buyer, "quantity": 6})
    assert too_many.status_code == 409 and "has 5 left" in too_many.json()["detail"]
    unknown = api.post("/marketplace/listings/999999999/quote", json={"buyer": buyer, "quantity": 1})
    assert unknown.status_code == 404 and "no listing 999999999" in unknown.json()["detail"]
    for body in ({"buyer": "0x123", "quantity": 1}, {"buyer": buyer, "quantity": 0},
                 {"buyer": buyer, "quantity": 1, "deadline": 1}):
        refused = api.post(f"/marketplace/listings/{listing_id}/quote", json=body)
        assert refused.status_code == 422, (body, refused.text)
    poor = api.post(f"/marketplace/listings/{listing_id}/quote", json={"buyer": buyer, "quantity": 1}).json()
    assert poor["sufficient_balance"] is False and poor["buyer_balance"] == "0"


def test_a_wallet_s_listings_are_the_ones_it_sells(api, listed_item):
    treasury = wait_indexed(api, listed_item["listing_id"])["seller"]  # primary listings pay the treasury
    page = api.get(f"/wallets/{treasury}/listings", params={"limit": 200}).json()
    assert listed_item["listing_id"] in [entry["listing_id"] for entry in page["data"]]
    assert {entry["seller"] for entry in page["data"]} == {treasury}
    assert api.get(f"/wallets/{Account.create().address}/listings").json()["data"] == []
