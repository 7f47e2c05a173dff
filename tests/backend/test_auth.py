"""Sign-In with Ethereum through HTTP against the stack's Redis: a test wallet (eth-account) signs
EIP-4361 messages; tokens are issued, rotated and revoked."""

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from backend.app.main import create_app
from tests.support import signin
from tests.support.api import api_settings

WALLET = Account.from_key(b"\x42" * 32)


@pytest.fixture
def settings(stack, tmp_path, backend_database):
    return api_settings(stack, tmp_path, backend_database, siwe_nonce_ttl_seconds=2)


def siwe_message(client, settings, *, wallet=WALLET, expires_in=None, **fields):
    """The test wallet's sign-in message (tests.support.signin), expiring `expires_in` seconds from now."""
    if expires_in is not None:
        expiry = datetime.now(UTC) + timedelta(seconds=expires_in)
        fields["expiration_time"] = expiry.isoformat().replace("+00:00", "Z")
    return signin.siwe_message(client, settings, wallet, **fields)


def sign(message, wallet=WALLET):
    return signin.sign(message, wallet)


def sign_in(client, settings, **kwargs):
    """An attempt: the /auth/verify response, refused or not."""
    message = siwe_message(client, settings, **kwargs)
    return client.post("/auth/verify", json={"message": message, "signature": sign(message)})


def test_sign_in_issues_tokens_for_the_wallet(client, settings):
    response = sign_in(client, settings)
    assert response.status_code == 200, response.text
    tokens = response.json()
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    body = me.json()
    assert {k: body[k] for k in ("did", "address", "chain_id", "role")} == {
        "did": f"did:pkh:eip155:31337:{WALLET.address}", "address": WALLET.address, "chain_id": 31337, "role": "user"}
    assert body["tenant_id"] and body["user_id"]


def test_nonce_is_single_use(client, settings):
    message = siwe_message(client, settings)
    assert client.post("/auth/verify", json={"message": message, "signature": sign(message)}).status_code == 200
    replay = client.post("/auth/verify", json={"message": message, "signature": sign(message)})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]


def test_expired_nonce_is_refused(client, settings):
    message = siwe_message(client, settings)
    time.sleep(settings.siwe_nonce_ttl_seconds + 0.5)
    response = client.post("/auth/verify", json={"message": message, "signature": sign(message)})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_unknown_nonce_is_refused(client, settings):
    response = sign_in(client, settings, nonce="a1b2c3d4e5f6a7b8")
    assert response.status_code == 401 and "nonce unknown" in response.json()["detail"]


def test_wrong_chain_and_domain_are_refused_with_the_reason(client, settings):
    wrong_chain = sign_in(client, settings, chain_id=1)
    assert wrong_chain.status_code == 401 and "chain 1" in wrong_chain.json()["detail"]
    wrong_domain = sign_in(client, settings, domain="evil.example")
    assert wrong_domain.status_code == 401 and "evil.example" in wrong_domain.json()["detail"]


def test_expired_message_is_refused(client, settings):
    message = siwe_message(client, settings, expires_in=1)
    time.sleep(1.5)
    response = client.post("/auth/verify", json={"message": message, "signature": sign(message)})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_signature_of_another_wallet_is_refused(client, settings):
    message = siwe_message(client, settings)
    forged = sign(message, wallet=Account.from_key(b"\x43" * 32))
    response = client.post("/auth/verify", json={"message": message, "signature": forged})
    assert response.status_code == 401 and "signature" in response.json()["detail"]


@pytest.mark.parametrize("body", [{"message": "hello", "signature": "0x" + "00" * 65}, {"message": "x"},
                                  {"message": "x", "signature": "0x1234"}], ids=["not-eip4361", "no-signature",
                                                                               "short-signature"])
def test_malformed_requests_are_4xx(client, body):
    response = client.post("/auth/verify", json=body)
    assert response.status_code == 422


def test_tampered_or_missing_access_token_is_refused(client, settings):
    access = sign_in(client, settings).json()["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    forged = jwt.encode({**claims, "address": "0x" + "00" * 20}, "guessed-secret", algorithm="HS256")
    for headers in ({"Authorization": f"Bearer {forged}"}, {"Authorization": f"Bearer {access[:-4]}abcd"}, {}):
        assert client.get("/auth/me", headers=headers).status_code == 401


def test_refresh_rotates_and_reuse_revokes_the_family(client, settings):
    first = sign_in(client, settings).json()
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 200

    reuse = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401 and "reuse detected" in reuse.json()["detail"]
    # The whole family is gone: the legitimate latest tokens stop working too.
    assert client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 401


def test_logout_ends_the_session(client, settings):
    tokens = sign_in(client, settings).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.post("/auth/logout", headers=headers).status_code == 204
    assert client.get("/auth/me", headers=headers).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_first_signing_key_is_generated_private_and_stable(client, settings):
    keys = list((settings.fitmint_state_dir / "secrets" / "jwt-keys").iterdir())
    assert len(keys) == 1 and keys[0].stat().st_mode & 0o077 == 0 and len(keys[0].read_text()) == 64
    access = sign_in(client, settings).json()["access_token"]
    assert jwt.get_unverified_header(access)["alg"] == "EdDSA"
    with TestClient(create_app(settings)) as again:  # a second start (another replica) uses the same key
        assert again.get("/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200
    assert list((settings.fitmint_state_dir / "secrets" / "jwt-keys").iterdir()) == keys


def test_sign_in_endpoints_are_rate_limited_per_ip(settings):
    limited = settings.model_copy(update={"rate_limit_auth": 3, "rate_limit_auth_window_seconds": 3600,
                                          "relay_enabled": False})
    with TestClient(create_app(limited), client=(f"caller-{time.time_ns()}", 1234)) as client:
        codes = [client.post("/auth/nonce").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.post("/auth/nonce")
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600 and "rate limit" in refused.json()["detail"]


def test_health_reports_redis(client):
    assert client.get("/health").json() == {"status": "ok", "redis": "ok", "opa": "ok", "backend_database": "ok"}


def test_purchase_quotes_are_rate_limited_per_ip(settings):
    limited = settings.model_copy(update={"rate_limit_quote": 2, "rate_limit_quote_window_seconds": 3600,
                                          "relay_enabled": False})
    body = {"buyer": "0x" + "11" * 20, "quantity": 1}
    with TestClient(create_app(limited), client=(f"quoter-{time.time_ns()}", 1234)) as client:
        codes = [client.post("/marketplace/listings/1/quote", json=body).status_code for _ in range(3)]
        assert codes[2] == 429 and 429 not in codes[:2]  # the first two reach the chain (none here: 503)
        with TestClient(create_app(limited), client=(f"other-{time.time_ns()}", 1234)) as other:
            assert other.post("/marketplace/listings/1/quote", json=body).status_code != 429
