"""Notifications end to end on real processes: events on the stack's Kafka (CloudEvents as the indexer
and the API publish them) -> the worker's `fitmint-notifications` group -> PostgreSQL inbox and
NotificationQueued in the outbox -> the outbox relay -> Kafka -> the worker's `fitmint-deliveries` group
-> deliveries rows, email batches, Redis -> the API's WebSocket (uvicorn) and HTTP endpoints. Each group
is idempotent by event id and survives a SIGKILL of the worker mid-stream."""

import asyncio
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import websockets
from aiokafka import AIOKafkaProducer

from fitmint import events as ev
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.kafka import wait_drained
from tests.support.outboxfeed import as_published
from tests.support.processes import start_api, start_worker
from tests.support.signin import me, new_wallet, sign_in
from tests.support.stackenv import stack_settings
from tests.support.units import FIT
from tests.support.waiting import wait_until


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
                            notifications_batch_size=20, email_batch_size=50,
                            relay_enabled=True)  # NotificationQueued crosses Kafka: the API (first) relays it
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
                                               time=datetime.now(UTC), data=data), event_id)


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
    wait_until(lambda: len(env.inbox(carol)["data"]) >= 2)
    # Every copy published has taken effect once the group's offsets reach the topic's end: none is in flight.
    wait_drained(env.settings.bootstrap, env.settings.notifications_consumer_group,
                 [env.settings.kafka_topic_prefix + original[0]])
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
    from redis.asyncio import Redis

    from backend.app.auth.tokens import TokenService
    service_token = TokenService(redis=Redis(port=env.settings.redis_port), settings=env.settings).service_token(
        "client-x", str(uuid.uuid4()), "agent", "profile.read")
    assert asyncio.run(close_code(headers={"Authorization": f"Bearer {service_token}"}))[0] == 4403


def reward_claimed(address: str, amount: int, **kwargs) -> tuple:
    return event(ev.FITNESS_REWARD, address, {"kind": "voucher", "claimId": "0x" + uuid.uuid4().hex * 2,
                                              "account": address, "amount": str(amount), "epoch": 1,
                                              "attestor": "0x" + "ab" * 20}, **kwargs)


def order_bought(address: str, amount: int, **kwargs) -> tuple:
    order_id = int(uuid.uuid4().int % 2**40)
    return event(ev.ORDER_CREATED, str(order_id), {
        "orderId": order_id, "listingId": 3, "buyer": address, "seller": "0x" + "cd" * 20, "itemId": "77",
        "quantity": "1", "unitPrice": str(amount), "fee": "0", "burned": "0"}, **kwargs)


CHAIN_EVENTS = {"TokenMinted": (minted, "token.minted"), "FitnessReward": (reward_claimed, "reward.claimed"),
                "OrderCreated": (order_bought, "order.created")}


def kill_twice_while(env, progress, total: int) -> None:
    """SIGKILLs the worker twice, each time once `progress()` has moved and before it reaches `total`
    (whatever it was doing then), and starts a new one."""
    for _ in range(2):
        seen = wait_until(lambda: (n := progress()) > 0 and n, interval=0.01)
        env.worker.kill()
        assert seen < total, "the worker finished before it could be killed: use more events"
        env.worker = start_worker(env.settings, env.log_dir, "--no-scheduler", "--no-senders")


def count(env, query: str, *args) -> int:
    return db(env.settings, query, *args)[0][0]


@pytest.mark.parametrize("kind", sorted(CHAIN_EVENTS))
def test_chain_events_cross_kafka_once_each_through_sigkills(env, kind):
    """The `fitmint-notifications` group: 600 events, each published twice, the worker SIGKILLed twice
    mid-stream: every event gives exactly one notification and one NotificationQueued (and an order one
    receipt), none lost, none applied twice."""
    make, notification_kind = CHAIN_EVENTS[kind]
    dave = env.member()
    events = [make(dave["address"], (i + 1) * FIT) for i in range(600)]

    def stored() -> int:
        return count(env, "SELECT count(*) FROM notifications WHERE user_id = $1::uuid", dave["user_id"])

    publish(env.settings, events + events)  # every event twice (a producer retry, a replay upstream)
    kill_twice_while(env, stored, len(events))
    wait_until(lambda: stored() == len(events), timeout=90)
    wait_drained(env.settings.bootstrap, env.settings.notifications_consumer_group,
                 [env.settings.kafka_topic_prefix + events[0][0]])  # the second copies too: none in flight
    rows = db(env.settings, "SELECT count(*) AS n, count(DISTINCT source_event) AS events, "
                            "count(*) FILTER (WHERE kind = $2) AS kind FROM notifications WHERE user_id = $1::uuid",
              dave["user_id"], notification_kind)[0]
    assert dict(rows) == {"n": 600, "events": 600, "kind": 600}
    assert sorted({e[3] for e in events}) == sorted(r["source_event"] for r in db(
        env.settings, "SELECT source_event::text FROM notifications WHERE user_id = $1::uuid", dave["user_id"]))
    applied = count(env, "SELECT count(*) FROM consumed_events WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                    env.settings.notifications_consumer_group, [e[3] for e in events])
    queued = count(env, "SELECT count(*) FROM outbox WHERE type = $1 AND aggregateid = $2",
                   ev.NOTIFICATION_QUEUED.ce_type, dave["user_id"])
    assert (applied, queued) == (600, 600)
    amounts = sorted(int(json.loads(r["data"])["receipt"]["total"] if kind == "OrderCreated" else
                         json.loads(r["data"])["amount"]) for r in db(
        env.settings, "SELECT data::text FROM notifications WHERE user_id = $1::uuid", dave["user_id"]))
    assert amounts == [(i + 1) * FIT for i in range(600)]
    if kind == "OrderCreated":
        assert count(env, "SELECT count(*) FROM order_receipts WHERE buyer = $1", dave["address"]) == 600


def test_notification_queued_crosses_kafka_once_each_through_sigkills(env):
    """The `fitmint-deliveries` group: 600 notifications of a member with websocket, email and SMS; the
    worker SIGKILLed twice while it dispatches them. Each gets exactly one email and one SMS row, the
    emails are announced in batches (one EmailBatchReady each, counts adding up to 600), and the member's
    open WebSocket receives each notification live exactly once. The same NotificationQueued events
    published again change nothing."""
    erin = env.member(notification_channels=["websocket", "email", "sms"], email="erin@example.org",
                      phone="+491701234567")
    events = [minted(erin["address"], (i + 1) * FIT) for i in range(600)]

    def dispatched() -> int:
        return count(env, "SELECT count(*) FROM deliveries d JOIN notifications n "
                          "ON n.id = d.notification_id WHERE n.user_id = $1::uuid", erin["user_id"])

    received: list[dict] = []

    async def scenario():
        async with websockets.connect(env.ws_url, additional_headers=erin["headers"]) as socket:
            assert await receive(socket) == {"type": "ready", "unread": 0}

            async def listen():
                while True:
                    message = await receive(socket, timeout=600)
                    if message["type"] == "notification":
                        received.append(message)

            listener = asyncio.create_task(listen())
            try:
                await apublish(env.settings, events)
                await asyncio.to_thread(kill_twice_while, env, dispatched, 2 * len(events))
                await asyncio.to_thread(wait_until, lambda: dispatched() == 2 * len(events) and len(received) >= 600,
                                        90, 0.05, "every delivery and push")
                # Every push follows its record's effect and precedes its offset commit: none is pending.
                await asyncio.to_thread(wait_drained, env.settings.bootstrap, env.settings.deliveries_consumer_group,
                                        [env.settings.kafka_topic_prefix + ev.NOTIFICATION_QUEUED.topic])
                before = await asyncio.to_thread(snapshot)
                # The same NotificationQueued events once more, as the relay published them: no-ops.
                again = [(ev.NOTIFICATION_QUEUED.topic, r["aggregateid"], as_published(r, env.settings.chain_id),
                          str(r["id"]))
                    for r in await asyncio.to_thread(
                        db, env.settings, "SELECT id, type, aggregateid, payload::text, event_time FROM outbox "
                                          "WHERE type = $1 AND aggregateid = $2 ORDER BY seq LIMIT 50",
                        ev.NOTIFICATION_QUEUED.ce_type, erin["user_id"])]
                await apublish(env.settings, again)
                await asyncio.to_thread(wait_until, lambda: count(
                    env, "SELECT count(*) FROM consumed_events WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                    env.settings.deliveries_consumer_group, [a[3] for a in again]) == 50, 30)
                await asyncio.to_thread(wait_drained, env.settings.bootstrap, env.settings.deliveries_consumer_group,
                                        [env.settings.kafka_topic_prefix + ev.NOTIFICATION_QUEUED.topic])
                return before, await asyncio.to_thread(snapshot)
            finally:
                listener.cancel()

    def batch_events() -> list[dict]:
        return [json.loads(r["payload"]) for r in db(env.settings, "SELECT payload::text FROM outbox WHERE type = $1",
                                                      ev.EMAIL_BATCH_READY.ce_type)]

    def snapshot() -> tuple:
        return dispatched(), len(received), batch_events()

    before, after = asyncio.run(scenario())
    assert before == after, "a NotificationQueued published again changed something"
    rows = db(env.settings, "SELECT d.channel, count(*) AS n, count(DISTINCT d.notification_id) AS notifications, "
                            "min(d.address) AS address FROM deliveries d "
                            "JOIN notifications n ON n.id = d.notification_id "
                            "WHERE n.user_id = $1::uuid GROUP BY d.channel", erin["user_id"])
    assert {r["channel"]: (r["n"], r["notifications"], r["address"]) for r in rows} == {
        "email": (600, 600, "erin@example.org"), "sms": (600, 600, "+491701234567")}
    # The emails' batches: each announced once, the counts adding up to the 600 email deliveries.
    batches = {b["batchId"]: b["count"] for b in before[2]}
    assert len(batches) == len(before[2]) and sum(batches.values()) == 600
    assert all(0 < n <= env.settings.email_batch_size for n in batches.values())
    by_batch = {r["batch_id"]: r["n"] for r in db(env.settings, "SELECT batch_id::text, count(*) AS n FROM deliveries "
                                                                "WHERE channel = 'email' GROUP BY batch_id")}
    assert by_batch == batches
    # Live: each notification exactly once, none missing.
    ids = [m["id"] for m in received]
    stored = {r["id"] for r in db(env.settings, "SELECT id::text FROM notifications WHERE user_id = $1::uuid",
                                  erin["user_id"])}
    assert len(ids) == 600 and set(ids) == stored
    assert count(env, "SELECT count(*) FROM consumed_events WHERE consumer = $1",
                 env.settings.deliveries_consumer_group) >= 600
