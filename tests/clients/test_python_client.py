"""The Python client (clients/python, package fitmint_client) against `make up`'s stack, as a wallet backend
uses it: over the API's HTTP and the chain's JSON-RPC only. Its models are checked against the API's
OpenAPI schema; its 429 handling against a fake transport (the stack's sign-in limit is shared)."""

import types
import typing
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from eth_account import Account
from pydantic import BaseModel

from fitmint_client import (
    FIT,
    Fitmint,
    FitmintApiError,
    FitmintChainError,
    FitmintInputError,
    Tokens,
    format_fit,
    parse_fit,
)
from fitmint_client import models as m
from fitmint_client.http import Session
from tests.support.api import a_run
from tests.support.stackclient import fund_gas, list_product
from tests.support.waiting import wait_until

# Each model the client returns, and the answer of the API it is read from (method, path, status).
MODELS = [
    (m.Tokens, "post", "/auth/verify", "200"),
    (m.Me, "get", "/auth/me", "200"),
    (m.ChainInfo, "get", "/chain", "200"),
    (m.Workout, "post", "/fitness/workouts", "201"),
    (m.Voucher, "post", "/rewards/workouts/{workout_id}/voucher", "201"),
    (m.Voucher, "get", "/rewards/vouchers/{claim_id}", "200"),
    (m.EpochsPage, "get", "/rewards/epochs", "200"),
    (m.EpochProof, "get", "/rewards/epochs/{epoch}/proofs/{address}", "200"),
    (m.Balance, "get", "/wallets/{address}/balance", "200"),
    (m.TransfersPage, "get", "/wallets/{address}/transfers", "200"),
    (m.ClaimsPage, "get", "/wallets/{address}/claims", "200"),
    (m.OrdersPage, "get", "/wallets/{address}/orders", "200"),
    (m.Items, "get", "/wallets/{address}/items", "200"),
    (m.ListingsPage, "get", "/marketplace/listings", "200"),
    (m.ListingDetail, "get", "/marketplace/listings/{listing_id}", "200"),
    (m.ListingsPage, "get", "/wallets/{address}/listings", "200"),
    (m.Quote, "post", "/marketplace/listings/{listing_id}/quote", "200"),
    (m.Relay, "post", "/rewards/vouchers/{claim_id}/relay", "202"),
    (m.Relay, "get", "/relay/{relay_id}", "200"),
    (m.Relay, "post", "/relay/purchases", "202"),
    (m.NotificationsPage, "get", "/notifications", "200"),
]
# What the API documents as bare objects (none now: every model the client reads is checked field by field).
UNTYPED_IN_THE_SCHEMA: set[str] = set()


# --- the models against the API's schema -------------------------------------------------------------------
def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    return _resolve(options[0], components) if len(options) == 1 else schema


def _nested(annotation, schema: dict, components: dict):
    """(model, its schema) inside a field's annotation: X, X | None, list[X], dict[str, X]."""
    if not isinstance(schema, dict):  # `additionalProperties: true`: any value
        return None, None
    schema = _resolve(schema, components)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, schema
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in args if arg is not type(None)]
        return _nested(inner[0], schema, components) if len(inner) == 1 else (None, None)
    if origin is list:
        return _nested(args[0], schema.get("items", {}), components)
    if origin is dict:
        return _nested(args[1], schema.get("additionalProperties") or {}, components)
    return None, None


def _drift(model: type[BaseModel], schema: dict, where: str, components: dict, untyped: set) -> list[str]:
    schema = _resolve(schema, components)
    properties = schema.get("properties")
    if properties is None:
        untyped.add(where)
        return []
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    problems = []
    if set(fields) != set(properties):
        problems.append(f"{where}: the client has {sorted(set(fields) - set(properties))} that the API does not, "
                        f"the API has {sorted(set(properties) - set(fields))} that the client does not")
    required = set(schema.get("required", []))
    for name in sorted(set(fields) & set(properties)):
        if fields[name].is_required() != (name in required):
            problems.append(f"{where}.{name}: required in the {'client' if fields[name].is_required() else 'API'} "
                            "only")
        inner, inner_schema = _nested(fields[name].annotation, properties[name], components)
        if inner is not None:
            problems += _drift(inner, inner_schema, f"{where}.{name}", components, untyped)
    return problems


def test_the_models_match_the_api_schema():
    from backend.app.core.config import Settings
    from backend.app.main import create_app

    openapi = create_app(Settings()).openapi()
    components = openapi["components"]["schemas"]
    problems, untyped = [], set()
    for model, method, path, status in MODELS:
        assert path in openapi["paths"], f"the API has no {path}"
        schema = openapi["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        problems += _drift(model, schema, model.__name__, components, untyped)
    assert problems == []
    assert untyped == UNTYPED_IN_THE_SCHEMA


# --- the HTTP session ----------------------------------------------------------------------------------------
def test_a_429_is_waited_out_as_its_retry_after_says_a_bounded_number_of_times():
    """A unit test of the session's retry loop: the stack's sign-in limit is shared, so the 429s are a
    fake transport's."""
    answers, slept = [], []

    def session(*responses: httpx.Response, **options) -> Session:
        answers[:] = list(responses)
        transport = httpx.MockTransport(lambda request: answers.pop(0))
        return Session("http://api.test", client=httpx.Client(transport=transport), sleep=slept.append, **options)

    limited = httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "rate limit 'auth' exceeded"})
    nonce = session(limited, limited, httpx.Response(200, json={"nonce": "n"})).request("POST", "/auth/nonce")
    assert nonce.json() == {"nonce": "n"} and slept == [2, 2]

    slept.clear()
    with pytest.raises(FitmintApiError) as refused:
        session(limited, limited, limited, max_retries=2).request("POST", "/auth/nonce")
    assert refused.value.status == 429 and "rate limit" in refused.value.detail and slept == [2, 2]

    slept.clear()
    too_long = httpx.Response(429, headers={"Retry-After": "600"}, json={"detail": "rate limit exceeded"})
    with pytest.raises(FitmintApiError):
        session(too_long, max_retry_wait=60).request("POST", "/auth/nonce")
    assert slept == []


# --- against the stack ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clients(api_url):
    made = []

    def make(**options) -> Fitmint:
        made.append(Fitmint(api_url, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


def funded_wallet(rpc_url):
    account = Account.create()
    fund_gas(rpc_url, account.address)
    return account


def earn(fm: Fitmint, wallet) -> tuple[m.Voucher, m.Transaction]:
    """An accepted run, its voucher, and the claim sent by the member's own wallet (50 FIT)."""
    workout = fm.record_workout(a_run(hours_ago=2))
    assert workout.status == "accepted"
    voucher = fm.request_voucher(workout.id)
    return voucher, fm.claim_voucher(wallet, voucher)


@pytest.fixture(scope="module")
def seller(clients, api, catalog_admin, rpc_url):
    """A member who earned FIT, bought 3 of a new catalog item and lists 2 of them for resale, one per
    listing at 1 FIT each (both listings theirs to reprice)."""
    wallet = funded_wallet(rpc_url)
    fm = clients()
    fm.sign_in(wallet)
    voucher, claimed = earn(fm, wallet)
    item = list_product(api, catalog_admin, name=f"Resold Band {uuid.uuid4().hex[:6]}", price_fit="1.5", supply=5)
    bought = fm.buy_with_permit(wallet, item["listing_id"], 3)
    fm.transact(wallet, "FitItems", "setApprovalForAll", fm.chain().contracts["Marketplace"].address, True)
    resale = []
    for _ in range(2):
        receipt = fm.transact(wallet, "Marketplace", "listForResale", int(item["item_id"]), 1, FIT)
        (created,) = fm.transactor.decode_logs(receipt, "Marketplace", "ListingCreated")
        resale.append(created["listingId"])
    fm.wait_for_indexed(int(receipt["blockNumber"], 16))
    return types.SimpleNamespace(wallet=wallet, fm=fm, voucher=voucher, claimed=claimed, item=item, bought=bought,
                                 resale=resale)


def test_sign_in_me_refresh_and_sign_out(clients, api):
    wallet = Account.create()  # signing in needs no gas
    fm = clients()
    signed = fm.sign_in(wallet)
    me = fm.me()
    assert me.address.lower() == wallet.address.lower() and me.user_id == signed.user_id
    assert (signed.role, signed.tenant_id, me.chain_id) == ("user", me.tenant_id, fm.chain().chain_id)

    before = fm.tokens
    fm.refresh()
    assert fm.tokens.refresh_token != before.refresh_token and fm.me().user_id == signed.user_id

    # A refused access token is refreshed once and the request sent again.
    fm.tokens = Tokens("not-an-access-token", fm.tokens.refresh_token)
    assert fm.me().user_id == signed.user_id and fm.tokens.access_token != "not-an-access-token"

    ended = fm.tokens
    fm.sign_out()
    assert fm.tokens is None
    with pytest.raises(FitmintApiError, match="not signed in"):
        fm.me()
    # The signed-out session's tokens are refused: the access token, and the refresh the client then tries.
    refused = api.get("/auth/me", headers={"Authorization": f"Bearer {ended.access_token}"})
    assert refused.status_code == 401 and refused.json()["detail"] == "session revoked"
    with pytest.raises(FitmintApiError) as resumed:
        clients(tokens=ended).me()
    assert resumed.value.status == 401 and "sign in again" in resumed.value.detail


def test_the_chain_document_is_kept_and_revalidated_with_its_etag(clients, rpc_url):
    sent = []
    http = httpx.Client(timeout=30, event_hooks={"response": [
        lambda response: sent.append((response.request.url.path, response.request.headers.get("if-none-match"),
                                      response.status_code))]})
    fm = clients(http_client=http)
    chain = fm.chain()
    assert chain.rpc_url == rpc_url and set(chain.contracts) == {"FitToken", "ActivityRewards", "FitItems",
                                                                 "Marketplace"}
    assert fm.chain() is chain
    etag = sent[0]
    assert sent == [("/chain", None, 200), ("/chain", fm.documents._held["/chain"].etag, 304)] and etag
    assert fm.documents.revalidations == 1

    # The ABIs come from the API once; reads of the chain decode with them.
    assert fm.call("FitToken", "symbol") == chain.token.symbol
    assert fm.call("FitToken", "decimals") == chain.token.decimals == 18
    assert [path for path, _, _ in sent].count("/chain/abis/FitToken") == 1
    with pytest.raises(FitmintInputError, match="the platform has no contract named 'Treasury'; it has "):
        fm.call("Treasury", "fees")
    http.close()


def test_a_refused_workout_comes_back_with_its_reasons_in_words(seller):
    fm = seller.fm
    with pytest.raises(FitmintApiError) as refused:
        fm.record_workout(a_run(hours_ago=8, minutes=10, km=50))  # 300 km/h
    assert refused.value.status == 422 and refused.value.detail.startswith("workout refused: ")
    assert any("300 km/h is implausible" in reason for reason in refused.value.reasons), refused.value.reasons
    assert all(reason in refused.value.detail for reason in refused.value.reasons)


def test_bad_input_is_refused_client_side_before_sending_and_server_side_with_reasons(clients, seller):
    sent = []
    http = httpx.Client(timeout=30, event_hooks={"request": [sent.append]})
    here = clients(http_client=http)
    buyer, listing_id = seller.wallet.address, seller.resale[0]
    letter = next(i for i, c in enumerate(buyer) if i > 1 and c.isalpha())
    typo = buyer[:letter] + buyer[letter].swapcase() + buyer[letter + 1:]
    refused_here = {
        "address '0x123' is not an Ethereum address": lambda: here.balance("0x123"),
        "is not its EIP-55 checksum: a typo?": lambda: here.balance(typo),
        "quantity must be between 1 and": lambda: here.quote(listing_id, buyer=buyer, quantity=0),
        "quantity must be a whole number, not 1.5": lambda: here.quote(listing_id, buyer=buyer, quantity=1.5),
        "listing id must be between 1 and": lambda: here.listing(0),
        "kind must be one of primary, resale, not 'auction'": lambda: here.listings(kind="auction"),
        "limit must be between 1 and 200, not 500": lambda: here.transfers(buyer, limit=500),
        "ended_at must be after started_at": lambda: here.record_workout(
            {"activity": "run", "started_at": datetime(2026, 1, 2, tzinfo=UTC),
             "ended_at": datetime(2026, 1, 1, tzinfo=UTC)}),
        "started_at needs a time zone": lambda: here.record_workout(
            {"activity": "run", "started_at": datetime(2026, 1, 1), "ended_at": datetime(2026, 1, 1, 1)}),
        "the wallet must be an eth_account LocalAccount": lambda: here.buy_with_permit("my wallet", listing_id, 1),
        "'1.5.3' is not an amount of FIT": lambda: parse_fit("1.5.3"),
    }
    for words, attempt in refused_here.items():
        with pytest.raises(FitmintInputError) as refused:
            attempt()
        assert words in str(refused.value)
    assert sent == []  # nothing reached the API
    http.close()

    # What only the server knows, refused with its reasons.
    fm = seller.fm
    refused_there = {
        (409, "has 1 left; 2 were asked for"): lambda: fm.quote(listing_id, buyer=buyer, quantity=2),
        (404, "no listing 999999999"): lambda: fm.quote(999_999_999, buyer=buyer, quantity=1),
        (404, "999999999"): lambda: fm.listing(999_999_999),
        (422, "activity: Input should be"): lambda: fm.record_workout({**a_run(hours_ago=9), "activity": "teleport"}),
        (422, "deadline"): lambda: fm.quote(listing_id, buyer=buyer, quantity=1, deadline=1),
    }
    for (status, words), attempt in refused_there.items():
        with pytest.raises(FitmintApiError) as refused:
            attempt()
        assert refused.value.status == status and words in Fitmint.describe_error(refused.value), refused.value


def test_paging_helpers_walk_every_page(seller):
    fm, address = seller.fm, seller.wallet.address
    transfers = fm.transfers(address, limit=200)
    assert len(transfers.data) >= 3 and transfers.next_cursor is None  # the mint, the payment's transfers
    assert list(fm.iter_transfers(address, page_size=1)) == transfers.data
    assert {key for t in transfers.data for key in t.model_dump(by_alias=True)} == set(
        fm.session.get_json(f"/wallets/{address}/transfers")["data"][0])

    claims = list(fm.iter_claims(address, page_size=1))
    assert [(c.claim_id, c.amount, c.tx_hash) for c in claims] == [
        (seller.voucher.claim_id, 50 * FIT, seller.claimed.tx_hash)]
    assert set(claims[0].model_dump()) == set(fm.session.get_json(f"/wallets/{address}/claims")["data"][0])
    orders = list(fm.iter_orders(address, page_size=1))
    assert [(o.order_id, o.quantity) for o in orders] == [(seller.bought.order_id, 3)]
    assert set(orders[0].model_dump()) == set(fm.session.get_json(f"/wallets/{address}/orders")["data"][0])
    items = fm.items(address)
    assert [(held.item_id, held.quantity) for held in items.data] == [(int(seller.item["item_id"]), 1)]
    assert set(items.data[0].model_dump()) == set(fm.session.get_json(f"/wallets/{address}/items")["data"][0])

    listed = list(fm.iter_wallet_listings(address, status="all", page_size=1))
    assert [listing.listing_id for listing in listed] == sorted(seller.resale, reverse=True)
    assert {(listing.kind, listing.seller) for listing in listed} == {("resale", address.lower())}
    walked = list(fm.iter_listings(seller=address, status="all", sort="newest", page_size=1))
    assert [listing.listing_id for listing in walked] == sorted(seller.resale, reverse=True)

    notes = wait_until(lambda: len(fm.notifications.list().data) >= 2 and fm.notifications.list(limit=200).data,
                       timeout=30, what="the seller's notifications")
    every = [note.id for note in fm.notifications.iterate(page_size=1)]
    assert len(every) == len(set(every)) and {note.id for note in notes} <= set(every)


def test_claiming_a_claimed_voucher_is_refused_with_the_decoded_error_in_words(seller):
    fm = seller.fm
    voucher = fm.request_voucher(seller.voucher.workout_id)  # the same voucher again, now claimed
    assert voucher.claim_id == seller.voucher.claim_id and voucher.status == "claimed"
    nonce = fm.rpc("eth_getTransactionCount", seller.wallet.address, "latest")
    with pytest.raises(FitmintChainError) as refused:
        fm.claim_voucher(seller.wallet, voucher)
    assert refused.value.error_name == "RewardsClaimAlreadyPaid"
    assert refused.value.error_args == {"claimId": voucher.claim_id}
    assert str(refused.value) == "This reward was already claimed: its FIT were paid once."
    assert fm.rpc("eth_getTransactionCount", seller.wallet.address, "latest") == nonce  # refused before sending


def test_a_stale_quote_is_refused_saying_the_price_went_up(clients, seller, rpc_url):
    buyer = funded_wallet(rpc_url)
    fm = clients()
    fm.sign_in(buyer)
    earn(fm, buyer)
    listing_id = seller.resale[1]
    quote = fm.quote(listing_id, buyer=buyer.address, quantity=1)
    wire = fm.session.request("POST", f"/marketplace/listings/{listing_id}/quote",
                              json={"buyer": buyer.address, "quantity": 1}).json()
    assert set(quote.permit.message.model_dump()) == set(wire["permit"]["message"])
    assert (quote.unit_price, quote.total, quote.kind, quote.sufficient_balance) == (FIT, FIT, "resale", True)

    seller.fm.transact(seller.wallet, "Marketplace", "updatePrice", listing_id, 2 * FIT)
    with pytest.raises(FitmintChainError) as refused:
        fm.buy_with_permit(buyer, quote=quote)
    assert refused.value.error_name == "MarketPriceAboveLimit"
    assert refused.value.error_args == {"listingId": listing_id, "unitPrice": 2 * FIT, "maxUnitPrice": FIT}
    assert Fitmint.describe_error(refused.value) == (
        f"The price went up since your quote: listing {listing_id} now costs 2 FIT each and the quote allowed at "
        "most 1 FIT. Ask for a new quote.")

    # As the words say: a new quote buys it, at the new price.
    bought = fm.buy_with_permit(buyer, listing_id, 1)
    assert bought.quote.unit_price == 2 * FIT and bought.order_id > seller.bought.order_id
    assert fm.call("FitItems", "balanceOf", buyer.address, int(seller.item["item_id"])) == 1


def test_live_notifications_bring_the_unread_backlog_then_stop_when_idle(seller):
    fm = seller.fm
    inbox = wait_until(lambda: fm.notifications.list(unread=True).data, timeout=30, what="unread notifications")
    with fm.notifications.live(idle_timeout=2) as live:
        received = list(live)
    assert live.unread_at_start >= len(inbox)
    assert {n.id for n in inbox} <= {n.id for n in received}
    assert fm.notifications.mark_read([inbox[0].id]) == 1


def test_fit_amounts_are_exact_text():
    assert (format_fit(15 * FIT // 10), format_fit(50 * FIT), format_fit(1)) == ("1.5", "50", "0." + "0" * 17 + "1")
    assert parse_fit("1.5") == 15 * FIT // 10 and parse_fit("0.000000000000000001") == 1
    with pytest.raises(FitmintInputError):
        parse_fit("1." + "0" * 19)
