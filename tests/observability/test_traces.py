"""One connected trace per flow, end to end, as Jaeger (make up's) holds it:
- a purchase on chain: its trace is named by the transaction hash, from the indexer's span of the
  transaction through the relay's publish, the worker's processing and push, to the API's send on the
  buyer's WebSocket (and the receipt email's batch sent to the stack's SMTP server);
- a voucher request carrying the caller's traceparent: the API's request, the voucher's signature, the
  outbox's publish, the worker's processing and the live delivery, all in the caller's trace.
"""

import json
import secrets
import time

import httpx
import pytest
from eth_account import Account
from websockets.sync.client import connect

from fitmint.telemetry.propagation import chain_trace_id
from fitmint_client import Fitmint
from tests.support.api import a_run
from tests.support.stackclient import admin_headers, fund_gas, list_product

TRACE_TIMEOUT = 30  # seconds for a flow's spans to reach Jaeger (exported every second by the stack's processes)


@pytest.fixture
def member(running_stack):
    """A new member with gas in their wallet, signed in through the Python client."""
    wallet = Account.create()
    fund_gas(running_stack["FITMINT_RPC_URL"], wallet.address)
    with Fitmint(f"http://127.0.0.1:{running_stack['BACKEND_PORT']}") as client:
        client.sign_in(wallet)
        yield client, wallet


class Socket:
    """The member's notifications WebSocket, opened (and its backlog read) before the flow starts, so what
    the flow notifies arrives as a live push."""

    def __init__(self, client: Fitmint):
        url = client.session.url("/notifications/ws").replace("http://", "ws://", 1)
        self.socket = connect(url, additional_headers={"Authorization": f"Bearer {client.session.tokens.access_token}"},
                              open_timeout=10)
        ready = json.loads(self.socket.recv(timeout=10))
        assert ready["type"] == "ready", ready
        self.backlog = {json.loads(self.socket.recv(timeout=10))["id"] for _ in range(ready["unread"])}

    def wait_for(self, matches, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the notification never came on the WebSocket"
            message = json.loads(self.socket.recv(timeout=left))
            if message["type"] == "notification" and message["id"] not in self.backlog and matches(message):
                return message

    def close(self):
        self.socket.close()


def jaeger_trace(settings, trace_id: str, expected: set[tuple[str, str]], external_parent: str | None = None) -> dict:
    """The trace `trace_id` from Jaeger's query API once it holds every (service, span name) of `expected`
    and is connected: each span's parent is in the trace, but for the one root (whose parent may be
    `external_parent`, the caller's span). Fails with what it holds after TRACE_TIMEOUT."""
    url = f"http://127.0.0.1:{settings['JAEGER_QUERY_PORT']}/api/traces/{trace_id}"
    deadline, held = time.monotonic() + TRACE_TIMEOUT, None
    while time.monotonic() < deadline:
        answer = httpx.get(url, timeout=5)
        if answer.status_code == 200 and answer.json()["data"]:
            held = answer.json()["data"][0]
            top, lost = roots(held, external_parent), orphans(held, external_parent)
            if expected <= named(held) and len(top) == 1 and not lost:
                return held
        time.sleep(0.5)
    assert held is not None, f"Jaeger has no trace {trace_id}"
    assert expected <= named(held), f"missing spans {sorted(expected - named(held))}; trace has {sorted(named(held))}"
    assert not lost, f"spans whose parent is not in the trace: {lost}"
    raise AssertionError(f"{len(top)} roots in trace {trace_id}: {top}")


def named(trace: dict) -> set[tuple[str, str]]:
    return {(trace["processes"][span["processID"]]["serviceName"], span["operationName"]) for span in trace["spans"]}


def _parent(span: dict) -> str | None:
    return next((ref["spanID"] for ref in span["references"] if ref["refType"] == "CHILD_OF"), None)


def roots(trace: dict, external_parent: str | None) -> list[str]:
    return [span["operationName"] for span in trace["spans"] if _parent(span) in (None, external_parent)]


def orphans(trace: dict, external_parent: str | None) -> list[str]:
    ids = {span["spanID"] for span in trace["spans"]}
    return [span["operationName"] for span in trace["spans"]
            if _parent(span) not in (None, external_parent) and _parent(span) not in ids]


def span_named(trace: dict, service: str, name: str) -> dict:
    return next(span for span in trace["spans"] if span["operationName"] == name
                and trace["processes"][span["processID"]]["serviceName"] == service)


def tags(span: dict) -> dict:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def parent_of(trace: dict, span: dict) -> dict:
    return next(other for other in trace["spans"] if other["spanID"] == _parent(span))


def test_a_purchase_is_one_trace_from_its_block_to_the_buyers_websocket(running_stack, member):
    client, wallet = member
    with httpx.Client(base_url=f"http://127.0.0.1:{running_stack['BACKEND_PORT']}", timeout=30) as api:
        listed = list_product(api, admin_headers(api, running_stack), name=f"Trace Band {secrets.token_hex(3)}",
                              price_fit="1.5", supply=5)
    client.session.request("PUT", "/users/me/preferences", auth=True, json={
        "notification_channels": ["websocket", "email"], "email": f"trace-{secrets.token_hex(4)}@example.org"})
    voucher = client.request_voucher(client.record_workout(a_run(hours_ago=2)).id)
    client.wait_for_indexed(client.claim_voucher(wallet, voucher).block_number)
    socket = Socket(client)
    try:
        quote = client.quote(listed["listing_id"], buyer=wallet.address, quantity=1)
        purchase = client.buy_with_permit(wallet, quote=quote)
        note = socket.wait_for(lambda note: note["kind"] == "order.created"
                               and note["data"]["receipt"]["tx_hash"] == purchase.tx_hash)
    finally:
        socket.close()
    assert "traceparent" not in note  # the trace context rode in the Redis message, not to the member

    trace_id = f"{chain_trace_id(purchase.tx_hash):032x}"
    assert trace_id == purchase.tx_hash.removeprefix("0x")[:32]  # what an operator searches for
    trace = jaeger_trace(running_stack, trace_id, {
        ("indexer", "chain tx"), ("indexer", "publish fitmint.orders"), ("worker", "process fitmint.orders"),
        ("worker", "process fitmint.notifications"), ("worker", "websocket push"), ("api", "websocket send"),
        ("worker", "process fitmint.email"), ("worker", "email batch")})
    assert roots(trace, None) == ["chain tx"]
    chain_tx = tags(span_named(trace, "indexer", "chain tx"))
    assert chain_tx["fitmint.chain.tx.hash"] == purchase.tx_hash
    assert chain_tx["fitmint.chain.block.number"] == purchase.block_number
    assert "Marketplace.OrderCreated" in chain_tx["fitmint.chain.events"]
    publish = span_named(trace, "indexer", "publish fitmint.orders")
    assert tags(publish)["messaging.system"] == "kafka" and tags(publish)["fitmint.outbox.wait_ms"] >= 0
    assert parent_of(trace, span_named(trace, "worker", "process fitmint.orders")) == publish
    send = span_named(trace, "api", "websocket send")
    assert parent_of(trace, send) == span_named(trace, "worker", "websocket push")
    # NotificationQueued and the receipt's EmailBatchReady went through the API's outbox relay (whichever
    # process holds its lock), in the same trace; the batch's email was sent in it.
    assert {"publish fitmint.notifications", "publish fitmint.email"} <= {name for _, name in named(trace)}
    assert tags(span_named(trace, "worker", "email batch"))["fitmint.deliveries.sent"] == 1


def test_a_voucher_request_continues_the_callers_trace_to_the_delivery(running_stack, member):
    client, _ = member
    workout = client.record_workout(a_run(hours_ago=2))
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    socket = Socket(client)
    try:
        answer = client.session.request("POST", f"/rewards/workouts/{workout.id}/voucher", auth=True,
                                        headers={"traceparent": f"00-{trace_id}-{caller}-01"})
        assert answer.status_code in (200, 201), answer.text
        note = socket.wait_for(lambda note: note["kind"] == "reward.issued")
    finally:
        socket.close()
    assert "traceparent" not in note

    trace = jaeger_trace(running_stack, trace_id, {
        ("api", "POST /rewards/workouts/{workout_id}/voucher"), ("api", "sign voucher"),
        ("worker", "process fitmint.rewards"), ("worker", "process fitmint.notifications"),
        ("worker", "websocket push"), ("api", "websocket send")}, external_parent=caller)
    assert roots(trace, caller) == ["POST /rewards/workouts/{workout_id}/voucher"]
    publishes = {name for _, name in named(trace) if name.startswith("publish ")}
    assert publishes == {"publish fitmint.rewards", "publish fitmint.notifications"}, publishes
