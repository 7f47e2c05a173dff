"""A dependency failing mid-request: the API answers 503 (unavailable) or 504 (timed out) naming it, with
Retry-After, never a 500; and a write retried after such an answer is applied once.

The classifier is checked on the errors the real client libraries raise against a closed port (refused) and a
server that accepts and never answers (a stall). The app is checked with its real PostgreSQL and Redis behind
Toxiproxy: partitioned (proxy disabled: connections reset, new ones refused) and stalled (timeout toxic)."""

import asyncio
import socket
import threading
import uuid

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import HTTPException
from fastapi.testclient import TestClient
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from backend.app.core.outages import Outage, OutageClassifier
from backend.app.main import create_app
from fitmint.signers import SignerRefused
from tests.support.api import a_run, api_settings, db
from tests.support.processes import free_port
from tests.support.signin import new_wallet, sign_in
from tests.support.toxiproxy import ToxiproxyServer

RPC = "http://127.0.0.1:{port}"


@pytest.fixture
def closed_port():
    return free_port()


@pytest.fixture
def stalled_port():
    """A server that accepts connections and never answers (what a black-holed dependency looks like)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    listener.close()


def raised(coroutine) -> BaseException:
    async def run():
        try:
            await coroutine
        except Exception as exc:  # noqa: BLE001 - the error is what the test looks at
            return exc
        raise AssertionError("no error raised")

    return asyncio.run(run())


async def redis_ping(port: int):
    client = Redis(port=port, socket_timeout=0.3, socket_connect_timeout=0.3, retry=Retry(NoBackoff(), 0))
    try:
        await client.ping()
    finally:
        await client.aclose()


async def http_post(url: str):
    async with httpx.AsyncClient(timeout=0.3) as client:
        await client.post(url, json={})


async def kafka_start(port: int):
    producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=300)
    try:
        await producer.start()
    finally:
        await producer.stop()


def test_each_library_error_names_its_dependency_and_whether_it_timed_out(closed_port, stalled_port):
    classify = OutageClassifier({"rpc": RPC.format(port=closed_port), "ipfs": RPC.format(port=stalled_port)})
    cases = {
        "postgres refused": (asyncpg.connect(host="127.0.0.1", port=closed_port, user="x", timeout=0.3),
                             Outage("postgres", False)),
        "postgres stalled": (asyncpg.connect(host="127.0.0.1", port=stalled_port, user="x", timeout=0.3),
                             Outage("postgres", True)),
        "redis refused": (redis_ping(closed_port), Outage("redis", False)),
        "redis stalled": (redis_ping(stalled_port), Outage("redis", True)),
        "rpc refused": (http_post(RPC.format(port=closed_port)), Outage("rpc", False)),
        "ipfs stalled": (http_post(RPC.format(port=stalled_port) + "/api/v0/add"), Outage("ipfs", True)),
        "kafka refused": (kafka_start(closed_port), Outage("kafka", False)),
    }
    seen = {name: classify(raised(coroutine)) for name, (coroutine, _) in cases.items()}
    assert seen == {name: expected for name, (_, expected) in cases.items()}


def test_an_unknown_http_service_is_named_as_such_and_bugs_stay_bugs(closed_port, tmp_path):
    classify = OutageClassifier({"rpc": "http://127.0.0.1:1"})
    assert classify(raised(http_post(RPC.format(port=closed_port)))) == Outage("an upstream service", False)
    assert classify(ValueError("a bug")) is None
    missing = raised(asyncio.to_thread((tmp_path / "missing").read_text))
    assert isinstance(missing, OSError) and classify(missing) is None  # an OSError of no dependency: a 500


@pytest.fixture
def behind_toxiproxy(stack, tmp_path, backend_database):
    """The API on the stack's PostgreSQL and Redis, each through a Toxiproxy proxy; waits of 1 s at most."""
    with ToxiproxyServer(tmp_path) as toxiproxy:
        postgres = toxiproxy.proxy("postgres", int(stack["POSTGRES_PORT"]))
        redis = toxiproxy.proxy("redis", int(stack["REDIS_PORT"]))
        settings = api_settings(stack, tmp_path, backend_database, postgres_port=postgres.port,
                                redis_port=redis.port, postgres_timeout_seconds=1.0, redis_timeout_seconds=1.0)
        with TestClient(create_app(settings)) as client:
            yield client, settings, postgres, redis


def assert_outage(response: httpx.Response, status: int, dependency: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["dependency"] == dependency and dependency in response.json()["detail"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_partitions_answer_503_stalls_504_and_the_api_recovers_when_healed(behind_toxiproxy):
    client, settings, postgres, redis = behind_toxiproxy
    headers = sign_in(client, settings, new_wallet())
    assert client.get("/fitness/workouts", headers=headers).status_code == 200

    with redis.disabled():
        assert_outage(client.post("/auth/nonce"), 503, "redis")
    with redis.toxic("timeout", timeout=0):
        assert_outage(client.post("/auth/nonce"), 504, "redis")
    assert client.post("/auth/nonce").status_code == 200

    with postgres.disabled():
        assert_outage(client.get("/fitness/workouts", headers=headers), 503, "postgres")
    with postgres.toxic("timeout", timeout=0):
        assert_outage(client.get("/fitness/workouts", headers=headers), 504, "postgres")
    assert client.get("/fitness/workouts", headers=headers).status_code == 200


def test_a_write_retried_after_an_outage_answer_is_applied_once(behind_toxiproxy):
    client, settings, postgres, _ = behind_toxiproxy
    headers = sign_in(client, settings, new_wallet())
    key = {"Idempotency-Key": f"chaos-{uuid.uuid4().hex}"}
    workout = a_run()
    # The answers to the API's statements are held past its timeout: the write may or may not have committed.
    with postgres.toxic("latency", latency=1_500):
        assert_outage(client.post("/fitness/workouts", json=workout, headers=headers | key), 504, "postgres")
    with postgres.disabled():
        assert_outage(client.post("/fitness/workouts", json=workout, headers=headers | key), 503, "postgres")
    retried = client.post("/fitness/workouts", json=workout, headers=headers | key)
    again = client.post("/fitness/workouts", json=workout, headers=headers | key)
    assert retried.status_code in (200, 201) and again.status_code == 200, (retried.text, again.text)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == retried.json()["id"]
    assert len(db(settings, "SELECT id FROM workouts WHERE idempotency_key = $1", key["Idempotency-Key"])) == 1


def test_a_routes_own_503_says_when_to_retry(settings):
    app = create_app(settings)

    @app.get("/test-outage/{status}")
    async def refuse(status: int):  # what a route raises when a dependency it checked is missing
        raise HTTPException(status, "the backend database is not reachable")

    with TestClient(app) as client:
        for status in (503, 504):
            refused = client.get(f"/test-outage/{status}")
            assert refused.status_code == status and int(refused.headers["Retry-After"]) >= 1
            assert refused.json() == {"detail": "the backend database is not reachable"}
        assert "Retry-After" not in client.get("/test-outage/404").headers


def test_each_client_error_is_answered_as_its_outage_not_a_500(settings):
    """Every error our own clients raise for a service that fails (a remote signer refusing to sign too)
    reaches the outage answer: a handler is registered for each type the classifier maps."""
    app = create_app(settings)

    @app.get("/test-signer-refused")
    async def refuse():
        raise SignerRefused("the signer at http://127.0.0.1:1 refused eth_signTypedData_v4")

    with TestClient(app) as client:
        refused = client.get("/test-signer-refused")
    assert refused.status_code == 503, refused.text
    assert refused.json()["dependency"] == "attestor-signer" and int(refused.headers["Retry-After"]) >= 1
