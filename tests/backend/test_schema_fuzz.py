"""Schemathesis against the OpenAPI schema of a real API process (uvicorn on the stack's Redis and
PostgreSQL, a fresh backend database): generated requests for every operation, signed in as an admin
so the authenticated paths are reached, many with a hostile value spliced in (tests/support/hostile.py:
NUL and lone surrogates, NaN, 1e400 and huge integers, dates in year 9999, 20,000-character text, 200
levels of nesting). Whatever the input, the answer is never a 5xx."""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.hostile import query_text, spoiled
from tests.support.processes import free_port, spawn, stop_group
from tests.support.signin import new_wallet, sign, siwe_message

ROOT = Path(__file__).resolve().parents[2]
SENT: Counter = Counter()  # what the run's hostile requests carried


class HttpClient:
    """The little of TestClient's interface apihelpers.siwe_message needs, over real HTTP."""

    def __init__(self, base: str):
        self.http = httpx.Client(base_url=base, timeout=10)

    def post(self, path, **kwargs):
        return self.http.post(path, **kwargs)


@pytest.fixture(scope="module")
def served_api(tmp_path_factory):
    from tests.support.stackenv import stack_settings
    stack = stack_settings()
    database = create_database(stack)
    state = tmp_path_factory.mktemp("state")
    settings = api_settings(stack, state, database)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), FITMINT_STATE_DIR=str(state), BACKEND_DATABASE=database,
               POSTGRES_PASSWORD_FILE=str(settings.postgres_password_file), RELAY_ENABLED="false",
               RATE_LIMIT_AUTH="1000000", RATE_LIMIT_ACCOUNT="1000000", RATE_LIMIT_PUBLIC="1000000",
               RATE_LIMIT_PUBLIC_WINDOW_SECONDS="3600",  # counted apart from make up's API (tests/support/api.py)
               REDIS_PORT=stack["REDIS_PORT"], POSTGRES_PORT=stack["POSTGRES_PORT"],
               OPA_URL=settings.opa_url,  # its decisions: the tests' OPA (tests/support/opa.py)
               # The stack's chain and deployment: GET /chain and quotes answer from them (without, 503).
               MANIFEST=str(Path(stack["FITMINT_STATE_DIR"]) / "deployments" / "31337.json"),
               FITMINT_RPC_URL=stack["FITMINT_RPC_URL"])
    log = open(state / "api.log", "w")
    process = spawn([sys.executable, "-m", "uvicorn", "backend.app.main:app", "--host", "127.0.0.1",
                     "--port", str(port), "--no-access-log", "--no-proxy-headers"], env=env, stdout=log,
                    stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (state / "api.log").read_text()
            time.sleep(0.2)
        client, wallet = HttpClient(base), new_wallet()
        message = siwe_message(client, settings, wallet)
        first = client.post("/auth/verify", json={"message": message, "signature": sign(message, wallet)}).json()
        db(settings, "UPDATE users SET role = 'admin'")
        message = siwe_message(client, settings, wallet)
        tokens = client.post("/auth/verify", json={"message": message, "signature": sign(message, wallet)}).json()
        assert first["access_token"] and tokens["access_token"]
        yield base, {"Authorization": f"Bearer {tokens['access_token']}"}, state / "api.log"
    finally:
        stop_group(process)
        log.close()
        drop_database(stack, database)


@pytest.fixture(scope="module")
def api_schema(served_api):
    base, _, _ = served_api
    schema = schemathesis.openapi.from_url(base + "/openapi.json").exclude(path="/auth/logout")
    # Schemathesis keeps to what the schema allows and to JSON proper (no NaN): splice in what it would not.
    schema.config.generation.update(allow_x00=True, codec="utf-8")

    @schema.hook
    def flatmap_body(context, body):
        return st.one_of(st.just(body), spoiled(body)) if isinstance(body, (dict, list)) else st.just(body)

    @schema.hook
    def flatmap_query(context, query):
        if not query:
            return st.just(query)
        return st.one_of(st.just(query), st.builds(lambda name, text: {**query, name: text},
                                                   st.sampled_from(sorted(query)), query_text()))

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case, served_api):
    base, headers, log = served_api
    SENT["requests"] += 1
    if isinstance(case.body, bytes):  # spoiled (hostile.spoiled): raw JSON
        SENT["hostile bodies"] += 1
        SENT["non-finite numbers"] += any(token in case.body for token in (b"NaN", b"Infinity", b"1e400"))
        SENT["NUL characters"] += b"\\u0000" in case.body
    case.call_and_validate(base_url=base, headers=headers, checks=[not_a_server_error])


def test_the_run_sent_hostile_inputs():
    """The hooks above did their work (a Schemathesis upgrade that stops calling them fails here)."""
    if not SENT["requests"]:
        pytest.skip("the Schemathesis run was not part of this session")
    assert SENT["hostile bodies"] >= 20 and SENT["non-finite numbers"] and SENT["NUL characters"], SENT
