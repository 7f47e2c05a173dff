"""Notifications end to end on real processes: events on the stack's Kafka (CloudEvents as the indexer
and the API publish them) -> the worker's consumer group -> PostgreSQL inbox -> Redis -> the API's
WebSocket (uvicorn) and HTTP endpoints."""

import asyncio
import json
import uuid
from datetime import datetime, timezone

import httpx
import pytest
import websockets
from aiokafka import AIOKafkaProducer

from apihelpers import api_settings, create_database, db, drop_database, me, new_wallet, sign_in
from indexer import events as ev
from processes import start_api, start_worker
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from stackenv import stack_settings
from waiting import wait_until

FIT = 10**18


class Env:
    def __init__(self, settings, base, api, worker, log_dir):
        self.settings, self.base, self.api, self.worker, self.log_dir = settings, base, api, worker, log_dir
        self.http = httpx.Client(base_url=base, timeout=10)
        self.ws_url = base.replace("http://", "ws://") + "/notifications/ws"

    def member(self, **preferences):
        wallet = new_wallet()
        headers = sign_in(self.http, self.settings, wallet)
        if preferences:
            response = self.http.put("/users/me/preferences", json=preferences, headers=headers)
            assert response.status_code == 200, response.text
        return {"wallet": wallet, "address": wallet.address.lower(), "headers": headers,
                "user_id": me(self.http, headers)["user_id"]}

    def inbox(self, member, **params) -> dict:
        response = self.http.get("/notifications", headers=member["headers"], params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def _topics(settings, create: bool):
    if create:
        await ensure_topics(settings.bootstrap, [settings.kafka_topic_prefix + t for t in ev.ALL_TOPICS], 3)
    else:
        await delete_topics_with_prefix(settings.bootstrap, settings.kafka_topic_prefix)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    stack = stack_settings()
    database = create_database(stack)
    log_dir = tmp_path_factory.mktemp("notifications")
    settings = api_settings(stack, log_dir, database, kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
                            notifications_batch_size=20,
                            notifications_consumer_group=f"test-notifications-{uuid.uuid4().hex[:8]}")
    asyncio.run(_topics(settings, create=True))
    api = env = None
    try:
        api, base = start_api(settings, log_dir)
        env = Env(settings, base, api, start_worker(settings, log_dir, "--no-scheduler", "--no-senders"), log_dir)
        yield env
    finally:
        # env.worker, not the first worker: a test may have replaced it (killed and started another).
        for service in (env.worker if env else None, api):
            if service is not None:
                service.stop()
        asyncio.run(_topics(settings, create=False))
        drop_database(stack, database)


def event(event_type: ev.EventType, key: str, data: dict, *, block: int = 7, event_id: str | None = None) -> tuple:
    """(topic, key, CloudEvents bytes, id) shaped as the indexer publishes it."""
    block_hash = "0x" + uuid.uuid4().hex * 2
    event_id = event_id or ev.event_id(31337, block_hash, 0, event_type)
    data = {**data, "blockNumber": block, "blockHash": block_hash, "txHash": "0x" + uuid.uuid4().hex * 2,
            "logIndex": 0}
    return (event_type.topic, key, ev.envelope(id=event_id, ce_type=event_type.ce_type, chain_id=31337, subject=key,
                                               time=datetime.now(timezone.utc), data=data), event_id)


def minted(address: str, amount: int = 5 * FIT, **kwargs) -> tuple:
    return event(ev.TOKEN_MINTED, address, {"account": address, "amount": str(amount)}, **kwargs)


def reverted(original: tuple) -> tuple:
    topic, key, body, original_id = original
    event_type = ev.ALL_TYPES[json.loads(body)["type"]].reverted
    data = {"reverts": original_id, "original": json.loads(body)["data"]}
    return (topic, key, ev.envelope(id=ev.reverted_id(original_id), ce_type=event_type.ce_type, chain_id=31337,
                                    subject=key, time=None, data=data), ev.reverted_id(original_id))


async def apublish(settings, events: list[tuple]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        for topic, key, body, _ in events:
            await producer.send(settings.kafka_topic_prefix + topic, body, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def publish(settings, events: list[tuple]) -> None:
    asyncio.run(apublish(settings, events))


async def receive(socket, timeout: float = 20) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def until_notifications(socket, count: int, timeout: float = 30) -> list[dict]:
    got = []
    while len(got) < count:
        message = await receive(socket, timeout)
        if message["type"] == "notification":
            got.append(message)
    return got


def test_live_push_only_to_the_owner_then_missed_ones_on_reconnect(env):
    alice, bob = env.member(), env.member()

    async def scenario():
        async with websockets.connect(env.ws_url, additional_headers=alice["headers"]) as a_socket, \
                websockets.connect(env.ws_url) as b_socket:
            await b_socket.send(json.dumps({"type": "auth", "token": bob["headers"]["Authorization"][7:]}))
            assert await receive(a_socket) == {"type": "ready", "unread": 0}
            assert await receive(b_socket) == {"type": "ready", "unread": 0}
            await apublish(env.settings, [minted(alice["address"], 5 * FIT)])
            [live] = await until_notifications(a_socket, 1)
            assert live["kind"] == "token.minted" and live["title"] == "5 FIT received" and live["read"] is False
            await apublish(env.settings, [minted(bob["address"], 7 * FIT)])
            [bobs] = await until_notifications(b_socket, 1)  # bob's first message is his own, not alice's
            assert bobs["title"] == "7 FIT received"
        # Offline: two more arrive; the reconnect gets all three unread ones, oldest first.
        await apublish(env.settings, [minted(alice["address"], 11 * FIT), minted(alice["address"], 13 * FIT)])
        wait_until(lambda: env.inbox(alice)["unread"] == 3)
        async with websockets.connect(env.ws_url, additional_headers=alice["headers"]) as socket:
            assert await receive(socket) == {"type": "ready", "unread": 3}
            backlog = await until_notifications(socket, 3)
            assert [n["title"] for n in backlog] == ["5 FIT received", "11 FIT received", "13 FIT received"]
            await socket.send(json.dumps({"type": "read", "ids": [n["id"] for n in backlog[:2]]}))
            assert await receive(socket) == {"type": "read", "updated": 2}
        async with websockets.connect(env.ws_url, additional_headers=alice["headers"]) as socket:
            assert await receive(socket) == {"type": "ready", "unread": 1}
            [left] = await until_notifications(socket, 1)
            assert left["title"] == "13 FIT received"

    asyncio.run(scenario())
    page = env.inbox(alice)
    assert [n["read"] for n in page["data"]] == [False, True, True] and page["unread"] == 1
    assert [n["title"] for n in env.inbox(bob)["data"]] == ["7 FIT received"]


def test_an_event_notifies_once_and_a_reorg_sends_a_correction(env):
    carol = env.member()
    original = minted(carol["address"], 9 * FIT)
    publish(env.settings, [original, original])  # delivered twice (a producer retry, a replay)
    wait_until(lambda: env.inbox(carol)["data"])
    publish(env.settings, [reverted(original), reverted(original)])
    page = wait_until(lambda: (p := env.inbox(carol)) and len(p["data"]) >= 2 and p)
    import time
    time.sleep(1)  # anything duplicated would have arrived by now
    page = env.inbox(carol)
    assert [n["kind"] for n in page["data"]] == ["token.minted.reverted", "token.minted"]
    correction, first = page["data"]
    assert correction["corrects"] == first["id"] and correction["title"] == "Reversed: 9 FIT received"
    assert correction["data"]["reverts"] == first["id"]


def test_order_receipts_for_buyer_and_seller_only(env):
    buyer, seller, stranger = env.member(), env.member(), env.member()
    order_id = int(uuid.uuid4().int % 2**40)
    order = event(ev.ORDER_CREATED, str(order_id), {
        "orderId": order_id, "listingId": 3, "buyer": buyer["address"], "seller": seller["address"], "itemId": "77",
        "quantity": "2", "unitPrice": str(10 * FIT), "fee": str(FIT // 2), "burned": str(FIT // 2)})
    publish(env.settings, [order])
    wait_until(lambda: env.inbox(buyer)["data"] and env.inbox(seller)["data"])
    receipt = env.http.get(f"/orders/{order_id}/receipt", headers=buyer["headers"]).json()
    assert receipt["total"] == str(20 * FIT) and receipt["seller_proceeds"] == str(19 * FIT)
    assert receipt["status"] == "confirmed" and receipt["quantity"] == "2" and receipt["history"] == []
    assert env.http.get(f"/orders/{order_id}/receipt", headers=seller["headers"]).status_code == 200
    refused = env.http.get(f"/orders/{order_id}/receipt", headers=stranger["headers"])
    assert refused.status_code == 404 and "no receipt" in refused.json()["detail"]
    [bought] = env.inbox(buyer)["data"]
    [sold] = env.inbox(seller)["data"]
    assert bought["kind"] == "order.created" and bought["data"]["receipt"]["order_id"] == order_id
    assert sold["kind"] == "order.sold" and sold["body"] == f"Order #{order_id} paid you 19 FIT."
    publish(env.settings, [reverted(order)])
    wait_until(lambda: env.http.get(f"/orders/{order_id}/receipt", headers=buyer["headers"]).json()["status"]
               == "reverted")


def test_websocket_refuses_missing_bad_and_service_tokens(env):
    async def close_code(headers=None, first=None) -> tuple[int, str]:
        async with websockets.connect(env.ws_url, additional_headers=headers or {}) as socket:
            if first is not None:
                await socket.send(first)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 10)
            return socket.close_code, socket.close_reason

    assert asyncio.run(close_code(first='{"type": "hello"}'))[0] == 4401
    code, reason = asyncio.run(close_code(headers={"Authorization": "Bearer not-a-jwt"}))
    assert code == 4401 and "invalid access token" in reason
    from backend.app.auth.tokens import TokenService
    from redis.asyncio import Redis
    service_token = TokenService(redis=Redis(port=env.settings.redis_port), settings=env.settings).service_token(
        "client-x", str(uuid.uuid4()), "agent")
    assert asyncio.run(close_code(headers={"Authorization": f"Bearer {service_token}"}))[0] == 4403


def test_worker_killed_mid_batch_loses_and_repeats_nothing(env):
    dave = env.member(notification_channels=["websocket", "email"], email="dave@example.org")
    events = [minted(dave["address"], (i + 1) * FIT) for i in range(600)]
    count = lambda: db(env.settings, "SELECT count(*) FROM notifications WHERE user_id = $1::uuid",  # noqa: E731
                       dave["user_id"])[0]["count"]
    publish(env.settings, events)
    for _ in range(2):  # killed twice, at whatever point it has reached
        seen = wait_until(lambda: (n := count()) > 0 and n, interval=0.01)
        env.worker.kill()
        assert seen < len(events), "the worker finished before it could be killed: use more events"
        env.worker = start_worker(env.settings, env.log_dir, "--no-scheduler", "--no-senders")
    wait_until(lambda: count() == len(events), timeout=60)
    import time
    time.sleep(1)
    rows = db(env.settings, "SELECT count(*) AS n, count(DISTINCT source_event) AS events, "
                            "(SELECT count(*) FROM deliveries d JOIN notifications m ON m.id = d.notification_id "
                            " WHERE m.user_id = $1::uuid) AS deliveries "
                            "FROM notifications WHERE user_id = $1::uuid", dave["user_id"])[0]
    assert dict(rows) == {"n": 600, "events": 600, "deliveries": 600}
    amounts = sorted(int(r["data"]) for r in db(env.settings, "SELECT data->>'amount' AS data FROM notifications "
                                                               "WHERE user_id = $1::uuid", dave["user_id"]))
    assert amounts == [(i + 1) * FIT for i in range(600)]
    # Each applied poll announced its emails once: the batches add up to exactly the 600 deliveries.
    batches = db(env.settings, "SELECT payload::text FROM outbox WHERE type = $1", ev.EMAIL_BATCH_READY.ce_type)
    assert sum(json.loads(b["payload"])["count"] for b in batches) == 600
    batch_ids = db(env.settings, "SELECT DISTINCT batch_id::text FROM deliveries")
    assert {r["batch_id"] for r in batch_ids} == {json.loads(b["payload"])["batchId"] for b in batches}
