"""The marketplace loop through real components: an admin creates a product (image and metadata pinned
on the stack's Kubo) and lists it on-chain through the transaction queue (a real worker signing with the
operator pool's first key); a member's wallet buys it with an
EIP-2612 permit (no approve transaction) on Anvil; the indexer turns the block into OrderCreated on
Kafka; the notifications worker (a real process) stores the receipt and the notification
(`fitmint-notifications`), its NotificationQueued crosses Kafka to `fitmint-deliveries`, which pushes it
to the member's WebSocket (the API under uvicorn) and batches the receipt email, whose EmailBatchReady
crosses Kafka to `fitmint-email`, which sends it to a real SMTP server (aiosmtpd); the API shows the order
and its receipt."""

import asyncio
import json
import os
import time

import httpx
import pytest
import websockets
from eth_account import Account

from checks import consume_all, index_to_head, publish_all
from fitmint import events as ev
from fitmint.chain.permits import sign_permit
from fitmint.keys import KeySettings
from scripts.stack.kafka_topics import ensure_topics
from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.kafka import wait_drained
from tests.support.mailsink import serving_mailbox
from tests.support.processes import start_api, start_worker
from tests.support.queue_worker import deployment_decoder, queue_worker
from tests.support.signin import me, sign_in
from tests.support.units import FIT
from tests.support.waiting import wait_until


@pytest.fixture
def smtp():
    with serving_mailbox() as mailbox:
        yield mailbox


@pytest.fixture
def services(chain, indexer_settings, stack, smtp, tmp_path):
    """The API (uvicorn) and the notifications worker for the test's chain, indexer database, Kafka
    topics and SMTP server."""
    asyncio.run(index_to_head(indexer_settings))
    asyncio.run(ensure_topics(indexer_settings.bootstrap, [indexer_settings.kafka_topic_prefix + t for t in
                                                           sorted({e.topic for e in ev.API_PUBLISHED})], 3))
    database = create_database(stack)
    settings = api_settings(stack, chain.state_dir, database, fitmint_rpc_url=chain.url,
                            indexer_database=indexer_settings.indexer_database,
                            kafka_topic_prefix=indexer_settings.kafka_topic_prefix, relay_enabled=True,
                            jwt_keys_dir=tmp_path / "jwt-keys", smtp_port=smtp.port,
                            sms_sink_file=tmp_path / "sms.jsonl")
    api = worker = None
    operator_key = KeySettings(fitmint_state_dir=chain.state_dir).operator_keys()[0]  # wired by the deploy
    try:
        api, base = start_api(settings, tmp_path)
        worker = start_worker(settings, tmp_path, "--no-scheduler")
        with queue_worker(settings.postgres(database), chain.url, [operator_key], deployment_decoder(chain.manifest)):
            yield settings, httpx.Client(base_url=base, timeout=30), base
    finally:
        for service in (worker, api):
            if service is not None:
                service.stop()
        drop_database(stack, database)


def funded_wallet(chain, fit: int):
    wallet = Account.create()
    chain.rpc("eth_sendTransaction", {"from": chain.accounts[0], "to": wallet.address, "value": hex(10**18)})
    chain.claim(wallet.address, fit)
    return wallet


def purchase_with_permit(chain, wallet, listing_id: int, quantity: int, unit_price: int) -> str:
    """The buyer's wallet signs a permit for the total and sends purchaseWithPermit itself."""
    total, deadline = quantity * unit_price, int(time.time()) + 3600
    permit = sign_permit(wallet.key, token_name=chain.token.functions.name().call(),
                         token_address=chain.token.address, chain_id=31337, owner=wallet.address,
                         spender=chain.market.address, value=total,
                         nonce=chain.token.functions.nonces(wallet.address).call(), deadline=deadline)
    call = chain.market.functions.purchaseWithPermit(listing_id, quantity, unit_price, total, deadline, permit.v,
                                                     permit.r, permit.s)
    tx = call.build_transaction({"from": wallet.address, "nonce": chain.w3.eth.get_transaction_count(wallet.address),
                                 "chainId": 31337, "gas": 500_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1})
    tx_hash = chain.w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction)
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt.status == 1
    return "0x" + bytes(tx_hash).hex().removeprefix("0x")


def test_create_list_buy_then_order_receipt_email_and_websocket(services, chain, indexer_settings, smtp):
    settings, client, base = services
    mailbox = smtp

    # An admin publishes a product: its image and metadata are pinned, then it is listed on-chain.
    admin = Account.create()
    sign_in(client, settings, admin)
    db(settings, "UPDATE users SET role = 'admin'")
    admin_headers = sign_in(client, settings, admin)
    image = client.post("/catalog/images", content=b"\x89PNG\r\n\x1a\n" + os.urandom(64),
                        headers={**admin_headers, "Content-Type": "image/png"})
    assert image.status_code == 201, image.text
    product = client.post("/catalog/products", headers=admin_headers, json={
        "name": "Trail Socks", "description": "Merino, size M.", "images": [image.json()["cid"]],
        "attributes": [{"trait_type": "size", "value": "M"}], "price_fit": "12.5", "supply": 10})
    assert product.status_code == 201, product.text
    product = product.json()
    metadata = client.get(f"/catalog/metadata/{product['cid']}")
    assert metadata.status_code == 200 and metadata.json()["name"] == "Trail Socks"
    listed = client.post(f"/catalog/products/{product['id']}/listing", headers=admin_headers)
    assert listed.status_code == 201, listed.text
    listing_id = int(listed.json()["listing"]["listing_id"])
    item_id = int(product["item_id"])
    assert chain.items.functions.uri(item_id).call() == f"ipfs://{product['cid']}"

    # The buyer: a member who wants email and WebSocket notifications, with FIT in their wallet.
    buyer = funded_wallet(chain, 100 * FIT)
    headers = sign_in(client, settings, buyer)
    preferences = client.put("/users/me/preferences", headers=headers, json={
        "notification_channels": ["websocket", "email"], "email": "buyer@example.org"})
    assert preferences.status_code == 200, preferences.text
    unit_price = 125 * FIT // 10

    async def buy_and_listen() -> tuple[str, dict]:
        url = base.replace("http://", "ws://") + "/notifications/ws"
        async with websockets.connect(url, additional_headers=headers) as socket:
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "ready"
            tx_hash = await asyncio.to_thread(purchase_with_permit, chain, buyer, listing_id, 2, unit_price)
            await index_to_head(indexer_settings)  # as the running indexer does
            await publish_all(indexer_settings)
            deadline = time.monotonic() + 60
            while True:
                message = json.loads(await asyncio.wait_for(socket.recv(), max(1, deadline - time.monotonic())))
                if message["type"] == "notification" and message["kind"] == "order.created":
                    return tx_hash, message

    tx_hash, message = asyncio.run(buy_and_listen())
    receipt = message["data"]["receipt"]
    assert receipt["tx_hash"] == tx_hash and receipt["product_name"] == "Trail Socks"
    assert receipt["quantity"] == "2" and receipt["total"] == str(2 * unit_price)
    assert receipt["buyer"] == buyer.address.lower() and receipt["listing_id"] == listing_id
    order_id = receipt["order_id"]

    # The order from the indexed chain, and its receipt, over HTTP.
    orders = client.get(f"/wallets/{buyer.address}/orders", params={"role": "buyer"}).json()["data"]
    assert [(o["order_id"], o["item_id"], o["quantity"]) for o in orders] == [(order_id, str(item_id), "2")]
    over_http = client.get(f"/orders/{order_id}/receipt", headers=headers)
    assert over_http.status_code == 200 and over_http.json()["tx_hash"] == tx_hash
    assert chain.items.functions.balanceOf(buyer.address, item_id).call() == 2

    # The receipt email, delivered to the SMTP server once (the buyer also hears of the FIT they claimed).
    def receipts():
        return [m for _, _, r, m in mailbox.messages if r == ["buyer@example.org"] and f"#{order_id}" in m["Subject"]]

    email = wait_until(receipts, what="the receipt email")[0]
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "Trail Socks" in text and tx_hash in text
    # The email group commits a batch's offset once its emails are sent: a resend would have happened by then.
    wait_drained(settings.bootstrap, settings.email_consumer_group,
                 [settings.kafka_topic_prefix + ev.EMAIL_BATCH_READY.topic])
    assert len(receipts()) == 1

    # The events that carried it, each on Kafka once: OrderCreated (the indexer -> fitmint-notifications),
    # the buyer's NotificationQueued (-> fitmint-deliveries) and the EmailBatchReady of the receipt's batch
    # (-> fitmint-email).
    on_kafka = asyncio.run(consume_all(indexer_settings, ev.ALL_TOPICS))
    created = [r for r in on_kafka if r["type"] == ev.ORDER_CREATED.ce_type]
    assert [r["data"]["txHash"] for r in created] == [tx_hash]
    buyer_id = me(client, headers)["user_id"]
    queued = [r for r in on_kafka
              if r["type"] == ev.NOTIFICATION_QUEUED.ce_type and r["data"]["kind"] == "order.created"]
    assert [(r["id"], r["key"], r["data"]["userId"]) for r in queued] == [
        (ev.notification_id(created[0]["id"], buyer_id), buyer_id, buyer_id)]
    assert set(queued[0]["data"]["channels"]) == {"websocket", "email"}
    batch = db(settings, "SELECT d.batch_id::text FROM deliveries d JOIN notifications n ON n.id = d.notification_id "
                         "WHERE n.source_event = $1::uuid AND d.channel = 'email'", created[0]["id"])[0]["batch_id"]
    assert [r["key"] for r in on_kafka if r["type"] == ev.EMAIL_BATCH_READY.ce_type and r["id"] == batch] == [batch]


def test_a_reorged_reward_sends_a_correction_not_silence(services, chain, indexer_settings, smtp):
    settings, client, _ = services
    mailbox = smtp
    member = Account.create()
    headers = sign_in(client, settings, member)
    assert client.put("/users/me/preferences", headers=headers, json={
        "notification_channels": ["websocket", "email"], "email": "runner@example.org"}).status_code == 200

    def inbox() -> list[dict]:
        return client.get("/notifications", headers=headers).json()["data"]

    chain.claim(member.address, 40 * FIT)  # in the newest block: the one the reorg replaces
    asyncio.run(index_to_head(indexer_settings))
    asyncio.run(publish_all(indexer_settings))
    told = wait_until(lambda: len(inbox()) == 2 and inbox(), what="the reward's notifications")
    assert {n["kind"] for n in told} == {"reward.claimed", "token.minted"}

    # Anvil replaces that block with one paying someone else; the indexer publishes the reverted events.
    voucher, signature = chain.voucher(chain.accounts[3], FIT)
    replacement = {"from": chain.accounts[9], "to": chain.rewards.address, "gas": hex(500_000),
                   "data": chain.rewards.functions.claim(voucher, signature)._encode_transaction_data()}
    chain.rpc("anvil_reorg", 1, [[replacement, 0]])
    chain.mine(1)
    assert chain.token.functions.balanceOf(member.address).call() == 0
    asyncio.run(index_to_head(indexer_settings))
    asyncio.run(publish_all(indexer_settings))

    notes = wait_until(lambda: len(inbox()) == 4 and inbox(), what="the corrections")
    corrections = {n["kind"]: n for n in notes if n["corrects"]}
    originals = {n["kind"]: n for n in notes if not n["corrects"]}
    assert set(corrections) == {"reward.claimed.reverted", "token.minted.reverted"}
    for kind, correction in corrections.items():
        assert correction["corrects"] == originals[kind.removesuffix(".reverted")]["id"]
    assert corrections["reward.claimed.reverted"]["title"] == "Reversed: Reward claimed: 40 FIT"
    wait_until(lambda: sum("reorganisation" in m.get_body(preferencelist=("plain",)).get_content()
                         for _, _, r, m in mailbox.messages if r == ["runner@example.org"]) == 2,
             what="the correction emails")
