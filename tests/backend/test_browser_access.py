"""What a browser dApp relies on: CORS for the configured origins only, and the SIWE parameters readable
without a token, enough to build a message that signs in."""

import json

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from siwe import SiweMessage

from backend.app.core.config import Settings
from backend.app.main import create_app
from tests.support import signin
from tests.support.api import api_settings, db

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


def test_a_page_may_send_the_headers_the_api_reads_and_read_those_it_answers(browser_settings):
    with TestClient(create_app(browser_settings)) as client:
        preflight = client.options("/fitness/workouts", headers={
            "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
        assert preflight.status_code == 200, preflight.text  # POST /fitness/workouts reads Idempotency-Key
        revalidate = client.options("/chain", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET",
                                                       "Access-Control-Request-Headers": "if-none-match"})
        assert revalidate.status_code == 200, revalidate.text  # the TypeScript client's ETag revalidation
        exposed = client.get("/auth/siwe", headers={"Origin": ALLOWED}).headers["access-control-expose-headers"]
        assert {"retry-after", "etag", "location"} <= {name.strip().lower() for name in exposed.split(",")}


@pytest.mark.parametrize("origin", ["*", "https://app.example.org/", "https://app.example.org/app",
                                    "https://App.Example.org", "app.example.org", "ftp://app.example.org",
                                    "https://user@app.example.org", "https://app.example.org:x", "https://"])
def test_a_cors_origin_that_no_browser_sends_is_refused_at_start(origin):
    with pytest.raises(ValidationError) as refused:
        Settings(cors_origins=(ALLOWED, origin))
    assert "CORS_ORIGINS" in str(refused.value) and repr(origin) in str(refused.value)
    assert Settings(cors_origins=(ALLOWED, "http://localhost:5173")).cors_origins[1] == "http://localhost:5173"


@pytest.mark.parametrize("configured", [(), (ALLOWED,)])
def test_the_public_documents_are_readable_from_any_origin(stack, tmp_path, backend_database, configured):
    """What a verifier in a browser fetches to check tokens and credentials: the JWKS, the OAuth metadata, a
    credential status list; from pages of any origin, whatever CORS_ORIGINS says."""
    settings = api_settings(stack, tmp_path, backend_database, cors_origins=configured)
    with TestClient(create_app(settings)) as client:
        db(settings, "INSERT INTO status_lists (list_id, url, purpose, size, capacity, credential, signed_revision, "
                     "signed_at) VALUES (7, 'https://x.example/identity/status/7', 'revocation', 131072, 1, $1, 1, "
                     "now())", json.dumps({"id": "https://x.example/identity/status/7"}))
        for path in ("/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/identity/status/7"):
            answer = client.get(path, headers={"Origin": "https://verifier.example"})
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers["access-control-allow-origin"] == "*", path
        assert "access-control-allow-origin" not in client.get("/auth/siwe", headers={
            "Origin": "https://verifier.example"}).headers  # the rest: only the configured origins


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
