"""Gasless claims and purchases on the real stack: the API in-process on a database of its own, the stack's Anvil
and deployment (its manifest and attestor key), and a real transaction queue worker sending from a fresh funded
key. Members hold no ETH: their vouchers are claimed for them in claimBatch transactions, and a buyer's signed
purchase intent is executed for them. A bad voucher does not block a batch; the same relay asked twice is sent
once; another member's voucher is refused; daily sponsorship holds per member and tenant, even for two
requests at once; a tampered, expired, replayed or overpriced intent is refused with its reason."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from backend.app.relayer.batcher import ClaimBatcher
from backend.app.relayer.chain import RelayerChain
from fitmint.chain.gateway import ChainGateway
from fitmint.chain.intents import PurchaseIntent, sign_intent
from fitmint.chain.permits import sign_permit
from fitmint.rewards.vouchers import RewardVoucher, sign_voucher
from fitmint_client import Fitmint, FitmintApiError
from tests.support.api import a_run, api_settings, db
from tests.support.queue_worker import funded_key, queue_worker
from tests.support.signin import me, new_wallet, sign_in
from tests.support.stackclient import admin_headers, list_product
from tests.support.waiting import wait_until

FIT = 10**18


@pytest.fixture
def overrides():
    return {}


@pytest.fixture
def settings(stack, tmp_path, backend_database, overrides):
    """The API on the stack's chain: its node, its deployment manifest, the attestor key it granted the role."""
    state = Path(stack["FITMINT_STATE_DIR"])
    return api_settings(stack, tmp_path, backend_database, fitmint_rpc_url=stack["FITMINT_RPC_URL"],
                        manifest=state / "deployments" / f"{stack.get('CHAIN_ID', '31337')}.json",
                        fitmint_attestor_key_file=state / "secrets" / "attestor.key",
                        jwt_keys_dir=tmp_path / "jwt-keys", **overrides)


@pytest.fixture
def relaying(settings):
    """A queue worker sending the API's requests (its database) from a fresh key with ETH."""
    gateway = ChainGateway.from_settings(settings)
    with queue_worker(settings.postgres(settings.backend_database), settings.fitmint_rpc_url,
                      [funded_key(settings.fitmint_rpc_url)], gateway.decode_revert) as worker:
        yield worker


def chain_call(settings, contract: str, function: str, *args):
    async def ask():
        gateway = ChainGateway.from_settings(settings)
        try:
            return await gateway.call(contract, function, *args)
        finally:
            await gateway.close()

    return asyncio.run(ask())


def eth_balance(settings, address: str) -> int:
    return int(httpx.post(settings.fitmint_rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance",
                                                          "params": [address, "latest"]}).json()["result"], 16)


class Member:
    """A member with a fresh wallet and no ETH at all."""

    def __init__(self, client, settings, tenant: str | None = None):
        self.client, self.wallet = client, new_wallet()
        self.headers = sign_in(client, settings, self.wallet, tenant)
        self.user_id = me(client, self.headers)["user_id"]
        self._runs = 0

    def voucher(self) -> dict:
        """A voucher for a new accepted 5 km run (50 FIT)."""
        self._runs += 1
        workout = self.client.post("/fitness/workouts", json=a_run(hours_ago=1.5 * self._runs), headers=self.headers)
        assert workout.status_code == 201 and workout.json()["status"] == "accepted", workout.text
        issued = self.client.post(f"/rewards/workouts/{workout.json()['id']}/voucher", headers=self.headers)
        assert issued.status_code == 201, issued.text
        return issued.json()

    def relay(self, voucher: dict):
        return self.client.post(f"/rewards/vouchers/{voucher['claim_id']}/relay", headers=self.headers)

    def relay_state(self, voucher: dict) -> dict:
        answer = self.client.get(f"/rewards/vouchers/{voucher['claim_id']}/relay", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def wait_relay(self, voucher: dict, *states: str) -> dict:
        return wait_until(lambda: (r := self.relay_state(voucher))["state"] in states and r, timeout=60,
                          what=f"the relay of {voucher['claim_id']} {'/'.join(states)}")


def fit_of(settings, address: str) -> int:
    return chain_call(settings, "FitToken", "balanceOf", to_checksum_address(address))


@pytest.mark.parametrize("overrides", [{"relayer_batch_size": 3, "relayer_batch_interval_seconds": 30}])
def test_members_without_eth_get_their_fit_in_one_claim_batch(client, settings, relaying):
    members = [Member(client, settings) for _ in range(3)]
    vouchers = [member.voucher() for member in members]
    relays = [member.relay(voucher) for member, voucher in zip(members, vouchers, strict=True)]
    assert [r.status_code for r in relays] == [202] * 3, [r.text for r in relays]
    again = members[0].relay(vouchers[0])  # the same relay again: the same record, nothing more sent
    assert (again.status_code, again.json()["id"]) == (200, relays[0].json()["id"])
    # a batch of 3 goes as soon as 3 wait (the 30 s interval never comes into it)
    mined = [member.wait_relay(voucher, "mined", "failed") for member, voucher in zip(members, vouchers, strict=True)]
    assert {relay["state"] for relay in mined} == {"mined"}, mined
    assert len({relay["tx_hash"] for relay in mined}) == 1  # several members' vouchers in one transaction
    assert len({relay["transaction_request"] for relay in mined}) == 1
    for member, voucher in zip(members, vouchers, strict=True):
        assert fit_of(settings, member.wallet.address) == int(voucher["amount"]) == 50 * FIT
        assert eth_balance(settings, member.wallet.address) == 0
    requests = db(settings, "SELECT state, calldata FROM txqueue_request WHERE requester = 'relayer'")
    assert [row["state"] for row in requests] == ["mined"]  # one transaction, sent once
    # the voucher's own status shows its relay, then (once the stack's indexer has it) claimed
    read = wait_until(lambda: (v := client.get(f"/rewards/vouchers/{vouchers[0]['claim_id']}",
                                               headers=members[0].headers).json())["status"] == "claimed" and v,
                      timeout=60, what="the voucher indexed as claimed")
    assert read["relay"]["state"] == "mined" and read["claimed_tx"] == read["relay"]["tx_hash"] == mined[0]["tx_hash"]


def test_another_members_voucher_is_refused(client, settings, tenants):
    owner, other = Member(client, settings, "alpha"), Member(client, settings, "alpha")
    voucher = owner.voucher()
    assert other.relay(voucher).status_code == 403
    admin = tenants["alpha"]["admin"].headers  # an admin reads the tenant's relays, but relays only their own
    assert client.post(f"/rewards/vouchers/{voucher['claim_id']}/relay", headers=admin).status_code == 403
    assert client.post(f"/rewards/vouchers/{voucher['claim_id']}/relay",
                       headers=tenants["beta"]["user"].headers).status_code == 404
    assert client.get(f"/rewards/vouchers/{voucher['claim_id']}/relay", headers=other.headers).status_code == 403
    assert owner.relay({"claim_id": "0x" + "12" * 32}).status_code == 404
    # a voucher about to expire is not worth a batch: refused at once, nothing counted
    db(settings, "UPDATE vouchers SET deadline = $2 WHERE claim_id = $1", voucher["claim_id"],
       int(settings.now().timestamp()) + 10)
    expiring = owner.relay(voucher)
    assert expiring.status_code == 409 and "too soon to relay" in expiring.json()["detail"]
    assert db(settings, "SELECT count(*) FROM relays")[0][0] == 0
    assert db(settings, "SELECT count(*) FROM sponsorship_member_days")[0][0] == 0


@pytest.mark.parametrize("overrides", [{"relayer_enabled": False, "relayer_batch_size": 4,
                                        "relayer_batch_interval_seconds": 0}])
def test_batchers_in_several_processes_put_each_voucher_in_one_batch(client, settings):
    members = [Member(client, settings) for _ in range(10)]
    for member in members:
        assert member.relay(member.voucher()).status_code == 202

    async def two_batchers():
        pools = [await asyncpg.create_pool(**settings.postgres(settings.backend_database), min_size=1, max_size=2)
                 for _ in range(2)]
        gateways = [ChainGateway.from_settings(settings) for _ in range(2)]
        try:
            batchers = [ClaimBatcher(pool, RelayerChain(gateway), settings)
                        for pool, gateway in zip(pools, gateways, strict=True)]
            return await asyncio.gather(*(batcher.run_once() for batcher in batchers))
        finally:
            for pool, gateway in zip(pools, gateways, strict=True):
                await pool.close()
                await gateway.close()

    made = asyncio.run(two_batchers())
    assert sum(made) == 3, made  # 4 + 4 + 2, however the two shared them out
    batches = db(settings, "SELECT b.id, b.size, count(r.id) AS relays, q.idempotency_key FROM relay_batches b "
                           "JOIN relays r ON r.batch_id = b.id JOIN txqueue_request q ON q.id = b.request_id "
                           "GROUP BY b.id, q.idempotency_key ORDER BY b.id")
    assert sorted(row["size"] for row in batches) == [2, 4, 4]
    assert all(row["size"] == row["relays"] for row in batches)
    assert len({row["idempotency_key"] for row in batches}) == 3
    assert db(settings, "SELECT count(*) FROM relays WHERE state = 'batched'")[0][0] == 10


@pytest.mark.parametrize("overrides", [{"relayer_batch_interval_seconds": 0.5}])
def test_a_bad_voucher_does_not_block_the_others(client, settings):
    paid_later, good, forged = Member(client, settings), Member(client, settings), Member(client, settings)
    paid_voucher, good_voucher, forged_voucher = paid_later.voucher(), good.voucher(), forged.voucher()
    # A voucher signed by a key that is no attestor: only the chain can tell (RewardsUnauthorizedAttestor).
    impostor = Account.create()
    signature = sign_voucher(RewardVoucher(account=forged_voucher["account"], amount=int(forged_voucher["amount"]),
                                           claim_id=bytes.fromhex(forged_voucher["claim_id"][2:]),
                                           day=forged_voucher["day"], deadline=forged_voucher["deadline"]),
                             impostor.key, chain_id=settings.chain_id,
                             verifying_contract=to_checksum_address(forged_voucher["contract"]))
    db(settings, "UPDATE vouchers SET signature = $2 WHERE claim_id = $1", forged_voucher["claim_id"],
       "0x" + signature.hex())
    for member, voucher in ((paid_later, paid_voucher), (good, good_voucher), (forged, forged_voucher)):
        assert member.relay(voucher).status_code == 202
    # No queue worker yet: the batch is made (the forged voucher dropped by the simulation's decoded error)...
    batched = good.wait_relay(good_voucher, "batched")
    refused = forged.wait_relay(forged_voucher, "failed")
    assert "RewardsUnauthorizedAttestor" in refused["reason"] and forged_voucher["claim_id"] in refused["reason"]
    assert paid_later.relay_state(paid_voucher)["transaction_request"] == batched["transaction_request"]
    # ...then the member claims one voucher of that batch themselves before the queue sends it.
    _self_claim(settings, Account.from_key(funded_key(settings.fitmint_rpc_url)), paid_voucher)
    with queue_worker(settings.postgres(settings.backend_database), settings.fitmint_rpc_url,
                      [funded_key(settings.fitmint_rpc_url)], ChainGateway.from_settings(settings).decode_revert):
        mined = good.wait_relay(good_voucher, "mined")
        failed = paid_later.wait_relay(paid_voucher, "failed")
    assert "already claimed" in failed["reason"] and failed["failed_batches"] == 1
    assert mined["transaction_request"] != batched["transaction_request"]  # the first batch failed, unsent
    first = db(settings, "SELECT state, reason, nonce FROM txqueue_request WHERE id = $1",
               batched["transaction_request"])[0]
    assert first["state"] == "failed" and first["nonce"] is None and "RewardsClaimAlreadyPaid" in first["reason"]
    assert fit_of(settings, good.wallet.address) == 50 * FIT
    assert fit_of(settings, forged.wallet.address) == 0
    assert fit_of(settings, paid_later.wallet.address) == 50 * FIT  # paid once, by their own claim


def _self_claim(settings, sender, voucher: dict) -> None:
    """`sender` (with ETH) sends ActivityRewards.claim for the voucher itself, waited for."""
    async def send():
        gateway = ChainGateway.from_settings(settings)
        try:
            await gateway.transact(sender, "ActivityRewards", "claim",
                                   (to_checksum_address(voucher["account"]), int(voucher["amount"]),
                                    bytes.fromhex(voucher["claim_id"][2:]), voucher["day"], voucher["deadline"]),
                                   bytes.fromhex(voucher["signature"][2:]))
        finally:
            await gateway.close()

    asyncio.run(send())


@pytest.mark.parametrize("overrides", [{"sponsor_member_daily_relays": 1, "sponsor_tenant_daily_relays": 2,
                                        "relayer_enabled": False}])
def test_daily_sponsorship_per_member_and_tenant(client, settings, tenants):
    first, second, third = (Member(client, settings, "alpha") for _ in range(3))
    one, two = first.voucher(), first.voucher()
    assert first.relay(one).status_code == 202
    refused = first.relay(two)
    assert refused.status_code == 429
    assert "your 1 sponsored transactions" in refused.json()["detail"] and "resets at" in refused.json()["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    assert first.relay(one).status_code == 200  # asking again for a relay made is not another one
    assert second.relay(second.voucher()).status_code == 202
    club = third.relay(third.voucher())
    assert club.status_code == 429 and "club's 2 sponsored transactions" in club.json()["detail"]
    usage = client.get("/relay/sponsorship", headers=tenants["alpha"]["admin"].headers)
    assert usage.status_code == 200, usage.text
    body = usage.json()
    assert (body["tenant_relays"], body["member_daily_relays"], body["tenant_daily_relays"]) == (2, 1, 2)
    assert sorted(m["user_id"] for m in body["members"]) == sorted([first.user_id, second.user_id])
    assert body["day"] == settings.now().date().isoformat()
    assert client.get("/relay/sponsorship", headers=tenants["beta"]["admin"].headers).json()["tenant_relays"] == 0
    assert client.get("/relay/sponsorship", headers=first.headers).status_code == 403
    assert db(settings, "SELECT count(*) FROM relays")[0][0] == 2  # refused ones left nothing behind


@pytest.mark.parametrize("overrides", [{"sponsor_member_daily_relays": 1, "relayer_enabled": False}])
def test_two_requests_at_the_limit_at_once_one_wins(client, settings):
    member = Member(client, settings)
    vouchers = [member.voucher(), member.voucher()]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(member.relay, vouchers))
    assert sorted(a.status_code for a in answers) == [202, 429], [a.text for a in answers]
    assert db(settings, "SELECT relays FROM sponsorship_member_days")[0][0] == 1
    assert db(settings, "SELECT count(*) FROM relays")[0][0] == 1


# --- purchases ----------------------------------------------------------------------------------------------

@pytest.fixture
def listed(stack):
    """A fresh primary listing on the stack (1.5 FIT each, 5 in supply), listed through the stack's own API by a
    member made admin of its default tenant the operator's way (the role set in its database: `manage role`
    would also migrate that database to this checkout's schema, which is the stack's to choose)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{stack['BACKEND_PORT']}", timeout=30) as api:
        return list_product(api, admin_headers(api, stack), name=f"Relay Band {uuid.uuid4().hex[:6]}",
                            price_fit="1.5", supply=5)


def signed_purchase(settings, buyer, listing_id: int, *, quantity=1, max_unit_price=3 * FIT // 2, nonce=None,
                    deadline=None) -> dict:
    """The body of POST /relay/purchases: the intent signed by the buyer, and their permit for quantity x max
    price (the buyer's current Marketplace nonce of key 0 unless `nonce`)."""
    market = chain_call(settings, "Marketplace", "nonces", buyer.address) if nonce is None else nonce
    deadline = deadline or int(settings.now().timestamp()) + 600
    manifest = ChainGateway.from_settings(settings).manifest
    market_address = manifest.contract("Marketplace").checksum_address
    intent = PurchaseIntent(buyer.address, listing_id, quantity, max_unit_price, market, deadline)
    signature = sign_intent(intent, buyer.key, chain_id=settings.chain_id,
                            verifying_contract=market_address)
    permit = sign_permit(buyer.key, token_name=chain_call(settings, "FitToken", "name"),
                         token_address=manifest.contract("FitToken").checksum_address, chain_id=settings.chain_id,
                         owner=buyer.address, spender=market_address, value=quantity * max_unit_price,
                         nonce=chain_call(settings, "FitToken", "nonces", buyer.address), deadline=deadline)
    body = {"buyer": buyer.address, "listing_id": str(listing_id), "quantity": str(quantity),
            "max_unit_price": str(max_unit_price), "nonce": str(market), "deadline": str(deadline)}
    return {"intent": body, "signature": "0x" + signature.hex(),
            "permit": {"value": str(quantity * max_unit_price), "deadline": str(deadline), "v": permit.v,
                       "r": "0x" + permit.r.hex(), "s": "0x" + permit.s.hex()}}


@pytest.mark.parametrize("overrides", [{"relayer_batch_interval_seconds": 0.2}])
def test_gasless_purchase_by_a_buyer_without_eth(client, settings, relaying, listed):
    buyer = Member(client, settings)
    earned = buyer.voucher()  # FIT without ETH: the relayed claim
    assert buyer.relay(earned).status_code == 202
    buyer.wait_relay(earned, "mined")
    listing_id, item_id = listed["listing_id"], int(listed["item_id"])
    wallet = buyer.wallet

    def post(body, member=buyer):
        return client.post("/relay/purchases", json=body, headers=member.headers)

    # refused before anything is spent, each with its reason
    tampered = post(_tampered(signed_purchase(settings, wallet, listing_id), quantity="2"))
    assert tampered.status_code == 422 and "not signed by its buyer" in tampered.json()["detail"], tampered.text
    expired = post(signed_purchase(settings, wallet, listing_id, deadline=int(settings.now().timestamp()) - 5))
    assert expired.status_code == 422 and "expired" in expired.json()["detail"]
    cheap = post(signed_purchase(settings, wallet, listing_id, max_unit_price=FIT))
    assert cheap.status_code == 409 and "above the intent's maxUnitPrice" in cheap.json()["detail"]
    other = Member(client, settings)
    assert post(signed_purchase(settings, wallet, listing_id), member=other).status_code == 403
    assert post(signed_purchase(settings, wallet, 2**40)).status_code == 404
    too_big = _tampered(signed_purchase(settings, wallet, listing_id), listing_id=str(2**256))
    assert post(too_big).status_code == 422
    assert db(settings, "SELECT count(*) FROM relays WHERE kind = 'purchase'")[0][0] == 0

    body = from_quote(client, wallet, listing_id, quantity=2)  # the quote's typed data, signed by the wallet
    accepted = post(body)
    assert accepted.status_code == 202, accepted.text
    assert post(body).json()["id"] == accepted.json()["id"]  # idempotent per (buyer, nonce)
    replay = post(signed_purchase(settings, wallet, listing_id, quantity=1, nonce=int(body["intent"]["nonce"])))
    assert replay.status_code == 409 and "already relayed with another intent" in replay.json()["detail"]
    mined = wait_until(lambda: (r := client.get(f"/relay/{accepted.json()['id']}", headers=buyer.headers).json())[
        "state"] in ("mined", "failed") and r, timeout=60, what="the purchase mined")
    assert mined["state"] == "mined", mined
    assert chain_call(settings, "FitItems", "balanceOf", wallet.address, item_id) == 2
    assert fit_of(settings, wallet.address) == 50 * FIT - 3 * FIT
    assert eth_balance(settings, wallet.address) == 0
    # the intent used on chain: the same nonce again (a fresh database would have no record of it) is refused
    db(settings, "DELETE FROM relays WHERE kind = 'purchase'")
    replayed = post(body)
    assert replayed.status_code == 409 and "already used (a replay)" in replayed.json()["detail"], replayed.text
    assert client.get(f"/relay/{accepted.json()['id']}", headers=other.headers).status_code in (403, 404)


def from_quote(client, wallet, listing_id: int, quantity: int) -> dict:
    """The body of POST /relay/purchases from the quote's intent and permit typed data, as a wallet signs them."""
    quote = client.post(f"/marketplace/listings/{listing_id}/quote", json={"buyer": wallet.address,
                                                                          "quantity": quantity})
    assert quote.status_code == 200, quote.text
    intent, permit = quote.json()["intent"], quote.json()["permit"]
    intent_signature = wallet.sign_message(encode_typed_data(full_message=_numbers(intent))).signature
    signed_permit = wallet.sign_message(encode_typed_data(full_message=_numbers(permit)))
    message = intent["message"]
    return {"intent": {"buyer": message["buyer"], "listing_id": message["listingId"], "quantity": message["quantity"],
                       "max_unit_price": message["maxUnitPrice"], "nonce": message["nonce"],
                       "deadline": message["deadline"]},
            "signature": "0x" + bytes(intent_signature).hex(),
            "permit": {"value": permit["message"]["value"], "deadline": permit["message"]["deadline"],
                       "v": signed_permit.v, "r": "0x" + signed_permit.r.to_bytes(32, "big").hex(),
                       "s": "0x" + signed_permit.s.to_bytes(32, "big").hex()}}


def _numbers(typed: dict) -> dict:
    """Typed data as the API sends it (uint256 as decimal strings) with numbers for eth-account to sign."""
    kinds = {field["name"]: field["type"] for field in typed["types"][typed["primaryType"]]}
    return typed | {"message": {name: int(value) if kinds[name].startswith("uint") else value
                                for name, value in typed["message"].items()}}


def _tampered(body: dict, **changes) -> dict:
    return body | {"intent": body["intent"] | changes}


# --- the Python client ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides", [{"relayer_batch_interval_seconds": 0.2}])
def test_the_python_client_relays_a_claim_and_a_purchase(client, settings, relaying, listed):
    """fitmint_client's gasless calls against this API (in-process: the client sends through its TestClient)."""
    wallet = Account.create()
    with Fitmint("http://testserver", http_client=client, rpc_url=settings.fitmint_rpc_url) as fm:
        fm.sign_in(wallet)
        workout = fm.record_workout(a_run(hours_ago=1))
        voucher = fm.request_voucher(workout.id)
        relay = fm.relay_voucher(voucher)
        assert relay.kind == "claim" and relay.state in ("waiting", "batched") and relay.claim_id == voucher.claim_id
        assert fm.relay_voucher(voucher.claim_id).id == relay.id
        claimed = fm.wait_relayed(relay)
        assert claimed.state == "mined" and claimed.tx_hash, claimed
        assert fm.rewards.voucher(voucher.claim_id).relay.tx_hash == claimed.tx_hash
        bought = fm.wait_relayed(fm.buy_gasless(wallet, listed["listing_id"], 1))
        assert (bought.kind, bought.state, bought.buyer) == ("purchase", "mined", wallet.address.lower()), bought
        with pytest.raises(FitmintApiError) as over:  # the same nonce, now used: a replay, refused in words
            fm.buy_gasless(wallet, quote=_stale(fm.quote(listed["listing_id"], buyer=wallet.address, quantity=1)))
        assert over.value.status == 409
    assert chain_call(settings, "FitItems", "balanceOf", wallet.address, int(listed["item_id"])) == 1
    assert eth_balance(settings, wallet.address) == 0


def _stale(quote):
    """The quote with the intent nonce before the current one (the one the purchase above used)."""
    message = quote.intent.message | {"nonce": str(int(quote.intent.message["nonce"]) - 1)}
    return quote.model_copy(update={"intent": quote.intent.model_copy(update={"message": message})})
