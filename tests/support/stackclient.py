"""Talking to `make up`'s stack as a client would, for the client tests and their fixtures: its Anvil over
JSON-RPC (gas for test wallets), sign-in over HTTP, and the operator's way of listing a catalog item."""

import struct
import time
import uuid
import zlib
from pathlib import Path

import httpx
import redis
from eth_account import Account
from web3 import Web3

from backend.app.core.config import Settings
from tests.support.api import a_run, api_settings, db
from tests.support.signin import sign
from tests.support.waiting import wait_until

# A dev account of the stack's Anvil (unlocked there) that pays the test wallets' gas: not the deployer
# (account 0), whose nonce the deploy script tracks.
GAS_FUNDER_INDEX = 9


def rpc(rpc_url: str, method: str, *params):
    answer = httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                        timeout=30).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def fund_gas(rpc_url: str, address: str, wei: int = 10**18) -> None:
    """Sends `wei` of ETH to `address` from the stack Anvil's dev account GAS_FUNDER_INDEX, mined."""
    funder = rpc(rpc_url, "eth_accounts")[GAS_FUNDER_INDEX]
    tx = rpc(rpc_url, "eth_sendTransaction", {"from": funder, "to": address, "value": hex(wei)})
    wait_until(lambda: rpc(rpc_url, "eth_getTransactionReceipt", tx), timeout=30, what="the gas transfer mined")


def sign_in_over_http(api: httpx.Client, wallet, tenant: str | None = None) -> dict:
    """SIWE through the stack's API (the domain and URI it expects come from GET /chain when it serves
    them; the stack's defaults otherwise). Returns the Authorization header."""
    from siwe import SiweMessage

    siwe = _siwe_settings(api)
    nonce = _within_sign_in_limit(lambda: api.post("/auth/nonce")).json()["nonce"]
    message = SiweMessage(domain=siwe["domain"], address=wallet.address, statement="Sign in to fitmint",
                          uri=siwe["uri"], version="1", chain_id=siwe["chain_id"], nonce=nonce,
                          issued_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())).prepare_message()
    body = {"message": message, "signature": sign(message, wallet)} | ({"tenant": tenant} if tenant else {})
    response = _within_sign_in_limit(lambda: api.post("/auth/verify", json=body))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _within_sign_in_limit(request, windows: int = 2) -> httpx.Response:
    """`request`, sent again after the API's Retry-After while it answers 429, as a wallet app does: `make up`'s
    API keeps the production sign-in limit per IP, shared by every test process signing in from 127.0.0.1
    (and by the test APIs that count in the same Redis)."""
    for _ in range(windows):
        response = request()
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")) + 0.1)
    return request()


def await_sign_in_budget(stack: dict, sign_ins: int) -> None:
    """Waits (at most one window) until `make up`'s API takes `sign_ins` more sign-ins (a nonce and a
    verify each) from 127.0.0.1 in its current rate-limit window. That API keeps the production limit
    (RATE_LIMIT_AUTH per minute per IP), which every test signing in through it shares: a suite that signs
    in many wallets at once starts when the budget allows it, not at the mercy of the tests before it."""
    settings = Settings()  # what the stack's API read from the same environment
    limit, window = settings.rate_limit_auth, settings.rate_limit_auth_window_seconds
    client = redis.Redis(host="127.0.0.1", port=int(stack["REDIS_PORT"]))
    try:
        now = time.time()
        used = int(client.get(f"ratelimit:auth:127.0.0.1:{int(now) // window}") or 0)
    finally:
        client.close()
    if used + 2 * sign_ins > limit:
        time.sleep(window - now % window + 0.5)


def _siwe_settings(api: httpx.Client) -> dict:
    chain = api.get("/chain")
    if chain.status_code == 200 and "siwe" in chain.json():
        return {**chain.json()["siwe"], "chain_id": chain.json()["chain_id"]}
    return {"domain": "localhost:8000", "uri": "http://localhost:8000", "chain_id": 31337}


def admin_headers(api: httpx.Client, stack: dict) -> dict:
    """A new wallet made admin of the stack's default tenant the operator's way (its role set in the stack's
    database: `manage role` would also migrate that database), signed in again as admin: its Authorization."""
    admin = Account.create()
    sign_in_over_http(api, admin)
    stack_db = api_settings(stack, Path(stack["FITMINT_STATE_DIR"]), stack["BACKEND_DATABASE"])
    promoted = db(stack_db, "UPDATE users SET role = 'admin' WHERE id = (SELECT user_id FROM wallet_links "
                            "WHERE address = $1 AND tenant_id = (SELECT id FROM tenants WHERE slug = 'fitmint')) "
                            "RETURNING id", admin.address.lower())
    assert len(promoted) == 1
    return sign_in_over_http(api, admin)


def list_product(api: httpx.Client, admin_headers: dict, *, name: str, price_fit: str, supply: int,
                 image: bytes | None = None, attributes: list[dict] | None = None) -> dict:
    """Creates a catalog product (a PNG image pinned on the stack's Kubo) and lists it on-chain; returns
    {"product": ..., "listing_id": int, "item_id": str, "image_cid": str}."""
    png = image or solid_png(64, 40, uuid.uuid4().bytes[:3])  # a picture of its own: a CID of its own
    uploaded = api.post("/catalog/images", content=png, headers={**admin_headers, "Content-Type": "image/png"})
    assert uploaded.status_code == 201, uploaded.text
    product = api.post("/catalog/products", headers=admin_headers, json={
        "name": name, "description": f"{name}: a test item.", "images": [uploaded.json()["cid"]],
        "attributes": attributes or [{"trait_type": "test", "value": uuid.uuid4().hex[:8]}], "price_fit": price_fit,
        "supply": supply})
    assert product.status_code == 201, product.text
    listed = api.post(f"/catalog/products/{product.json()['id']}/listing", headers=admin_headers)
    assert listed.status_code == 201, listed.text
    return {"product": listed.json(), "listing_id": int(listed.json()["listing"]["listing_id"]),
            "item_id": listed.json()["item_id"], "image_cid": uploaded.json()["cid"]}


def solid_png(width: int, height: int, rgb: bytes) -> bytes:
    """A solid `rgb` PNG (8-bit truecolour, one zlib stream): an image a browser decodes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def send_from(w3: Web3, wallet, call) -> dict:
    """`call` (a web3 contract function call) signed by the member's own key and sent; its receipt, succeeded."""
    nonce = w3.eth.get_transaction_count(wallet.address, "pending")
    tx = call.build_transaction({"from": wallet.address, "nonce": nonce, "chainId": w3.eth.chain_id})
    sent = w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(sent)
    assert receipt.status == 1, receipt
    return receipt


def earn_fit(api: httpx.Client, rpc_url: str, wallet) -> int:
    """The member's own journey to FIT, over HTTP: sign in, an accepted 5 km run, its voucher, the claim sent by
    their wallet. Returns the voucher's amount (FIT wei)."""
    headers = sign_in_over_http(api, wallet)
    workout = api.post("/fitness/workouts", json=a_run(hours_ago=1), headers=headers)
    assert workout.status_code == 201 and workout.json()["status"] == "accepted", workout.text
    voucher = api.post(f"/rewards/workouts/{workout.json()['id']}/voucher", json={"account": wallet.address},
                       headers=headers)
    assert voucher.status_code == 201, voucher.text
    voucher = voucher.json()
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    rewards = w3.eth.contract(address=Web3.to_checksum_address(voucher["contract"]),
                              abi=api.get("/chain/abis/ActivityRewards").json())
    send_from(w3, wallet, rewards.functions.claim(
        (wallet.address, int(voucher["amount"]), voucher["claim_id"], voucher["day"], voucher["deadline"]),
        voucher["signature"]))
    return int(voucher["amount"])
