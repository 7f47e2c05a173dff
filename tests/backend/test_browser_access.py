"""What a browser dApp relies on: CORS for the configured origins only, and the SIWE parameters readable
without a token, enough to build a message that signs in."""

import pytest
from fastapi.testclient import TestClient
from siwe import SiweMessage

from backend.app.main import create_app
from tests.support import signin
from tests.support.api import api_settings

ALLOWED = "https://app.example.org"


@pytest.fixture
def browser_settings(stack, tmp_path, backend_database):
    return api_settings(stack, tmp_path, backend_database, cors_origins=(ALLOWED,),
                        siwe_statement="Sign in to the fitmint test club")


def preflight(client, origin: str):
    return client.options("/auth/me", headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                                "Access-Control-Request-Headers": "authorization"})


def test_cors_answers_only_the_configured_origins(browser_settings):
    with TestClient(create_app(browser_settings)) as client:
        allowed = preflight(client, ALLOWED)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ALLOWED
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers  # bearer tokens, never cookies
        foreign = preflight(client, "https://evil.example")
        assert "access-control-allow-origin" not in foreign.headers
        simple = client.get("/auth/siwe", headers={"Origin": ALLOWED})
        assert simple.headers["access-control-allow-origin"] == ALLOWED
        assert "access-control-allow-origin" not in client.get("/auth/siwe", headers={"Origin": "https://x.example"}
                                                               ).headers


def test_no_cors_origins_by_default(settings, client):
    assert settings.cors_origins == ()
    assert "access-control-allow-origin" not in preflight(client, ALLOWED).headers


def test_cors_origins_from_the_environment(monkeypatch, browser_settings):
    monkeypatch.setenv("CORS_ORIGINS", f"{ALLOWED}, https://other.example")
    assert type(browser_settings)().cors_origins == (ALLOWED, "https://other.example")


def test_a_siwe_message_built_from_what_the_api_says_signs_in(browser_settings):
    wallet = signin.new_wallet()
    with TestClient(create_app(browser_settings)) as client:
        parameters = client.get("/auth/siwe")
        assert parameters.status_code == 200
        said = parameters.json()
        message = SiweMessage(domain=said["domain"], uri=said["uri"], chain_id=said["chain_id"],
                              version=said["version"], statement=said["statement"], address=wallet.address,
                              nonce=client.post("/auth/nonce").json()["nonce"],
                              issued_at="2026-01-01T00:00:00Z").prepare_message()
        signed = client.post("/auth/verify", json={"message": message, "signature": signin.sign(message, wallet)})
        assert signed.status_code == 200, signed.text
        assert said["statement"] == "Sign in to the fitmint test club"
