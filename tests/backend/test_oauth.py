"""OAuth 2.0 for service clients and the token signing keys, against running API processes (uvicorn on free
ports, the stack's Redis and PostgreSQL): Authlib's client fetches tokens by client credentials; tokens are
introspected and revoked; a third party verifies them with only the JWKS; keys rotate with overlap and two
replicas sharing the ring agree throughout."""

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from secrets import randbelow

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.jwk import OKPKey

from backend.app.auth import oauth
from backend.app.auth.keyring import KeyRing
from backend.app.core.policy import Role, actions_of
from fitmint import secrets
from tests.backend.conftest import Member
from tests.support import signin
from tests.support.api import a_run, api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.processes import ROOT, settings_env, start_api
from tests.support.stackenv import stack_settings

PUBLISH_SECONDS = 3  # a rotated key signs this long after it is published (the tests' overlap)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """Two API replicas on one database, one Redis and one key ring directory; tenants alpha and beta."""
    stack = stack_settings()
    database = create_database(stack)
    state = tmp_path_factory.mktemp("oauth")
    settings = api_settings(stack, state, database, jwt_keys_reload_seconds=0.2,
                            jwt_key_publish_seconds=PUBLISH_SECONDS, jwks_max_age_seconds=2)
    first, base = start_api(settings, state)
    second, other = start_api(settings, state)
    try:
        db(settings, "INSERT INTO tenants (slug, name) VALUES ('alpha', 'Alpha Club'), ('beta', 'Beta Gym')")
        yield settings, base, other
    finally:
        first.stop()
        second.stop()
        drop_database(stack, database)


@pytest.fixture(scope="module")
def http(api):
    with httpx.Client(base_url=api[1], timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def people(api, http):
    settings = api[0]
    return {slug: {role: Member(http, settings, slug, role) for role in ("user", "admin")}
            for slug in ("alpha", "beta")}


def new_client(http, admin, role="attestor") -> tuple[str, str]:
    created = http.post("/tenant/service-clients", json={"name": f"{role} integration", "role": role},
                        headers=admin.headers)
    assert created.status_code == 201, created.text
    return created.json()["client_id"], created.json()["client_secret"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_authlib_client_gets_tokens_by_client_credentials(api, http, people):
    base, alpha = api[1], people["alpha"]
    client_id, secret = new_client(http, alpha["admin"])
    with OAuth2Client(client_id, secret, token_endpoint_auth_method="client_secret_basic") as oauth:
        token = oauth.fetch_token(base + "/auth/token", grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["expires_in"] == 900
    assert token["scope"].split() == actions_of(Role.ATTESTOR)  # no scope asked: all the role's
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["scope"] == token["scope"] and claims["cid"] == client_id and claims["iss"] == api[0].issuer
    assert claims["aud"] == api[0].audience == api[0].issuer  # RFC 9068: the audience, by default the issuer
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt" and claims["client_id"] == client_id
    recorded = http.post("/fitness/workouts", params={"user_id": alpha["user"].user_id}, json=a_run(),
                         headers=bearer(token["access_token"]))
    assert recorded.status_code == 201, recorded.text

    # client_secret_post, a narrower scope: the token can do only what it was granted.
    with OAuth2Client(client_id, secret, token_endpoint_auth_method="client_secret_post",
                      scope="workout.read") as oauth:
        narrow = oauth.fetch_token(base + "/auth/token", grant_type="client_credentials")
    assert narrow["scope"] == "workout.read"
    refused = http.post("/fitness/workouts", params={"user_id": alpha["user"].user_id}, json=a_run(hours_ago=6),
                        headers=bearer(narrow["access_token"]))
    assert refused.status_code == 403 and "scope" in refused.json()["detail"]


def test_token_endpoint_answers_oauth_errors(http, people):
    client_id, secret = new_client(http, people["alpha"]["admin"])
    form = {"grant_type": "client_credentials"}
    ok = http.post("/auth/token", data=form, auth=(client_id, secret))
    assert ok.status_code == 200 and ok.headers["Cache-Control"] == "no-store"

    wrong = http.post("/auth/token", data=form, auth=(client_id, "x" * 43))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["WWW-Authenticate"].startswith("Basic ") and wrong.headers["Cache-Control"] == "no-store"
    assert http.post("/auth/token", data=form | {"client_id": "svc_" + "0" * 16, "client_secret": "y" * 43}
                     ).json()["error"] == "invalid_client"
    unsupported = http.post("/auth/token", data={"grant_type": "password"}, auth=(client_id, secret))
    assert unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    beyond = http.post("/auth/token", data=form | {"scope": "workout.create analytics.read"}, auth=(client_id, secret))
    assert beyond.status_code == 400 and beyond.json()["error"] == "invalid_scope"
    assert "analytics.read" in beyond.json()["error_description"]
    as_json = http.post("/auth/token", json=form, auth=(client_id, secret))
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    twice = http.post("/auth/token", content="grant_type=client_credentials&grant_type=client_credentials",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=(client_id, secret))
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
    revoked = http.delete(f"/tenant/service-clients/{client_id}", headers=people["alpha"]["admin"].headers)
    assert revoked.status_code == 204
    assert http.post("/auth/token", data=form, auth=(client_id, secret)).status_code == 401


@pytest.mark.parametrize("route", ["/auth/token", "/auth/introspect", "/auth/revoke"])
def test_undecodable_basic_credentials_are_invalid_client(http, people, route):
    """Not base64 of UTF-8 `id:secret`: 401 invalid_client (RFC 6749 5.2), never a 500."""
    client_id, secret = new_client(http, people["alpha"]["admin"])
    token = http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()
    form = {"grant_type": "client_credentials", "token": token["access_token"]}
    undecodable = [b"Basic " + base64.b64encode(b"\xff:\xff"), b"Basic " + base64.b64encode(b"\xff"),
                   b"Basic not base64!", b"Basic " + base64.b64encode(client_id.encode()),  # no colon
                   b"Basic " + base64.b64encode(f"{client_id}:%ff".encode()),  # %-escaped, but not UTF-8
                   b"Basic \xe9\xe9\xe9\xe9"]
    for header in undecodable:
        answer = http.post(route, data=form, headers={"Authorization": header})
        assert answer.status_code == 401, (header, answer.text)
        assert answer.json()["error"] == "invalid_client" and answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert http.post(route, data=form, auth=(client_id, secret)).status_code == 200  # and the right ones work


def test_the_granted_scope_is_normalised_and_its_syntax_checked(http, people):
    client_id, secret = new_client(http, people["alpha"]["admin"])

    def grant(scope: str) -> httpx.Response:
        return http.post("/auth/token", data={"grant_type": "client_credentials", "scope": scope},
                         auth=(client_id, secret))

    def scope_of(answer: httpx.Response) -> str:
        assert answer.status_code == 200, answer.text
        granted = answer.json()["scope"]
        assert jwt.decode(answer.json()["access_token"], options={"verify_signature": False})["scope"] == granted
        return granted

    assert scope_of(grant("workout.read workout.create workout.read")) == "workout.create workout.read"
    assert scope_of(grant("")) == " ".join(oauth.scopes(Role.ATTESTOR))  # none asked: all the role's
    # RFC 6749 3.3: printable ASCII but space, " and \, separated by single spaces.
    for bad in (" ", "workout.read ", " workout.read", "workout.read  workout.create", "workout.read\tworkout.create",
                "workout.read\nworkout.create", 'workout."read"', "workout.read\\", "workout.réad"):
        refused = grant(bad)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope", (bad, refused.text)


def test_a_token_without_the_access_token_type_or_audience_is_refused(api, http, people):
    """RFC 9068: tokens are `typ: at+jwt` for this audience, naming their client; a JWT of the same key meant
    for something else (another type, another audience, none) is refused."""
    token = people["alpha"]["user"].headers["Authorization"][7:]
    claims = jwt.decode(token, options={"verify_signature": False})
    key = KeyRing.from_settings(api[0]).signing()

    def signed(body: dict, typ: str | None = "at+jwt") -> str:
        return jwt.encode(body, key.private, algorithm="EdDSA", headers={"kid": key.kid, "typ": typ})

    assert claims["client_id"] == "fitmint-siwe"  # a member's: the public client of SIWE sessions
    assert http.get("/auth/me", headers=bearer(signed(claims))).status_code == 200  # the same, re-signed: fine
    without = [{name: value for name, value in claims.items() if name != left_out} for left_out in ("aud", "client_id")]
    for forged in (signed(claims, "JWT"), signed(claims, None), *map(signed, without),
                   signed(claims | {"aud": "https://other-api.example"})):
        refused = http.get("/auth/me", headers=bearer(forged))
        assert refused.status_code == 401, refused.text


def test_authenticated_clients_have_their_own_limit_and_failures_count_per_ip(api, people, tmp_path):
    """The OAuth endpoints: a service client's calls count against that client (RATE_LIMIT_OAUTH), not its IP,
    so a busy resource server neither is throttled by nor uses up its address's sign-in limit; calls that do
    not authenticate count per IP (RATE_LIMIT_AUTH, the sign-in limit)."""
    window = 3600 + randbelow(1_000_000)  # keys of their own (see test_client_address.window)
    settings = api[0].model_copy(update={"rate_limit_oauth": 3, "rate_limit_oauth_window_seconds": window,
                                         "rate_limit_auth": 3, "rate_limit_auth_window_seconds": window})
    service, base = start_api(settings, tmp_path)
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            busy, other = new_client(http, people["alpha"]["admin"]), new_client(http, people["alpha"]["admin"])
            token = http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=busy).json()

            def introspect(auth) -> int:
                return http.post("/auth/introspect", data={"token": token["access_token"]}, auth=auth).status_code

            assert [introspect(busy) for _ in range(3)] == [200, 200, 429]  # the token request was one
            assert http.post("/auth/nonce").status_code == 200  # the IP's sign-in limit is untouched
            assert [introspect(other) for _ in range(3)] == [200, 200, 200]
            assert [introspect((busy[0], "wrong-secret")) for _ in range(3)] == [401, 401, 429]  # the IP's: 1 + 2
            assert http.post("/auth/nonce").status_code == 429
            assert introspect(other) == 429  # its own limit (3): spent
            third = new_client(http, people["alpha"]["admin"])
            assert introspect(third) == 200  # an authenticated client: not limited by its IP's failures
    finally:
        service.stop()


def test_introspection_reports_only_live_tokens_of_the_callers_tenant(api, http, people):
    alpha, beta = people["alpha"], people["beta"]
    client_id, secret = new_client(http, alpha["admin"])
    token = http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()

    def introspect(value, **extra):
        response = http.post("/auth/introspect", data={"token": value, **extra}, auth=(client_id, secret))
        assert response.status_code == 200, response.text
        return response.json()

    own = introspect(token["access_token"])
    assert own["active"] and own["client_id"] == client_id and own["scope"] == token["scope"]
    assert own["exp"] > time.time() and own["tid"] == alpha["user"].tenant_id
    member = introspect(alpha["user"].headers["Authorization"][7:], token_type_hint="access_token")
    assert member["active"] and member["sub"].startswith("did:pkh:") and member["role"] == "user"
    assert introspect(beta["user"].headers["Authorization"][7:]) == {"active": False}  # another tenant's
    # Signed by the API's own key, but expired: inactive.
    key = KeyRing.from_settings(api[0]).signing()
    claims = jwt.decode(alpha["user"].headers["Authorization"][7:], options={"verify_signature": False})
    expired = jwt.encode(claims | {"exp": int(time.time()) - 5}, key.private, algorithm="EdDSA",
                         headers={"kid": key.kid, "typ": "at+jwt"})
    assert introspect(expired) == {"active": False}
    assert introspect("not-a-token") == {"active": False}
    unauthenticated = http.post("/auth/introspect", data={"token": token["access_token"]})
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "invalid_client"
    missing = http.post("/auth/introspect", data={}, auth=(client_id, secret))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_revocation_stops_tokens_at_once(api, http, people):
    settings, alpha = api[0], people["alpha"]
    client_id, secret = new_client(http, alpha["admin"])
    token = http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()
    assert http.get("/auth/me", headers=bearer(token["access_token"])).status_code == 200
    revoked = http.post("/auth/revoke", data={"token": token["access_token"], "token_type_hint": "access_token"},
                        auth=(client_id, secret))
    assert revoked.status_code == 200
    assert http.get("/auth/me", headers=bearer(token["access_token"])).status_code == 401
    with httpx.Client(base_url=api[2]) as replica:  # the other replica refuses it too (Redis)
        assert replica.get("/auth/me", headers=bearer(token["access_token"])).status_code == 401
    assert http.post("/auth/introspect", data={"token": token["access_token"]},
                     auth=(client_id, secret)).json() == {"active": False}
    # The client's other tokens live on; an unknown token is "revoked" too (200), as RFC 7009 says.
    other = http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()
    assert http.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200
    assert http.post("/auth/revoke", data={"token": "unknown-token"}, auth=(client_id, secret)).status_code == 200
    assert http.post("/auth/revoke", data={"token": other["access_token"]},
                     auth=(client_id, "z" * 43)).status_code == 401

    # A member's refresh token, revoked through the public SIWE client: the whole session ends.
    wallet = Member(http, settings, "alpha").wallet
    message = signin.siwe_message(http, settings, wallet)
    pair = http.post("/auth/verify", json={"message": message, "signature": signin.sign(message, wallet),
                                           "tenant": "alpha"}).json()
    assert http.post("/auth/revoke", data={"token": pair["refresh_token"], "token_type_hint": "refresh_token",
                                           "client_id": "fitmint-siwe"}).status_code == 200
    assert http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert http.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    # A service may not revoke a member's token: it was not issued to it.
    theirs = alpha["user"].headers["Authorization"][7:]
    assert http.post("/auth/revoke", data={"token": theirs}, auth=(client_id, secret)).status_code == 400
    assert http.get("/auth/me", headers=alpha["user"].headers).status_code == 200


def test_metadata_document_names_the_endpoints(api, http):
    document = http.get("/.well-known/oauth-authorization-server").json()
    # Every RFC 8414 rule Authlib checks, but one: response_types_supported is empty, since this server has no
    # authorization endpoint (services only: client credentials), which Authlib cannot imagine.
    checked = AuthorizationServerMetadata(document)
    for rule in dir(checked):
        if rule.startswith("validate_") and rule != "validate_response_types_supported":
            getattr(checked, rule)()
    assert document["issuer"] == api[0].issuer and document["token_endpoint"] == api[0].issuer + "/auth/token"
    assert set(actions_of(Role.ATTESTOR)) <= set(document["scopes_supported"])
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]


def test_a_third_party_verifies_tokens_with_only_the_jwks(api, people):
    jwks = jwt.PyJWKClient(api[1] + "/.well-known/jwks.json")
    token = people["alpha"]["user"].headers["Authorization"][7:]
    signing_key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key, algorithms=["EdDSA"], issuer=api[0].issuer, audience=api[0].audience)
    assert claims["tid"] == people["alpha"]["user"].tenant_id


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_none_and_hs256_with_the_public_key_are_refused(api, http, people):
    token = people["alpha"]["admin"].headers["Authorization"][7:]
    header, claims = jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    public = next(k for k in http.get("/.well-known/jwks.json").json()["keys"] if k["kid"] == header["kid"])
    public_key = OKPKey.import_key(public).get_op_key("verify")
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    pem = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def forged(alg: str, key: bytes | None) -> str:
        head = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": header["kid"]}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()) if key else ""
        return f"{head}.{body}.{signature}"

    attacks = [forged("none", None), forged("HS256", raw), forged("HS256", pem), forged("HS256", public["x"].encode())]
    for attack in attacks:
        refused = http.get("/auth/me", headers=bearer(attack))
        assert refused.status_code == 401, attack
    key = KeyRing.from_settings(api[0]).signing()  # the right key, another issuer's token
    elsewhere = jwt.encode(claims | {"iss": "https://other.example"}, key.private, algorithm="EdDSA",
                           headers={"kid": key.kid, "typ": "at+jwt"})
    assert http.get("/auth/me", headers=bearer(elsewhere)).status_code == 401
    assert http.get("/auth/me", headers=bearer(token)).status_code == 200


def _kids(base: str) -> list[str]:
    response = httpx.get(base + "/.well-known/jwks.json")
    max_age = int(response.headers["Cache-Control"].split("max-age=")[1])
    assert max_age < PUBLISH_SECONDS  # a cache refreshes before a published key signs
    return [key["kid"] for key in response.json()["keys"]]


def test_rotation_overlaps_so_no_one_is_signed_out(api, people):
    settings, base, other = api
    member = people["beta"]["user"]
    before = member.headers["Authorization"][7:]
    old_kid = jwt.get_unverified_header(before)["kid"]
    rotated = subprocess.run([sys.executable, "-m", "backend.app.manage", "rotate-jwt-key"], cwd=ROOT,
                             env=settings_env(settings), capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.split("published signing key ")[1].split()[0]
    time.sleep(0.5)  # every replica re-reads the ring (jwt_keys_reload_seconds)
    for replica in (base, other):
        assert _kids(replica) == [old_kid, new_kid]  # published before it signs
        assert _kid_of_new_token(replica, settings, member) == old_kid
    time.sleep(PUBLISH_SECONDS)
    for replica in (base, other):
        assert _kid_of_new_token(replica, settings, member) == new_kid
        assert httpx.get(replica + "/auth/me", headers=bearer(before)).status_code == 200  # still signed in
        assert _kids(replica) == [old_kid, new_kid]


def _kid_of_new_token(base: str, settings, member) -> str:
    with httpx.Client(base_url=base) as client:
        headers = signin.sign_in(client, settings, member.wallet, member.tenant)
    return jwt.get_unverified_header(headers["Authorization"][7:])["kid"]


def test_retired_keys_are_refused_and_unpublished(tmp_path, stack):
    """A ring where the older key's successor has signed longer than a token lifetime: the older key is
    retired, so a token it signed is refused even before its own expiry."""
    keys = tmp_path / "secrets" / "jwt-keys"
    keys.mkdir(parents=True, mode=0o700)
    now = int(time.time())
    seeds = {"retired": Ed25519PrivateKey.generate(), "current": Ed25519PrivateKey.generate()}
    for name, signs_from in (("retired", now - 5000), ("current", now - 3000)):
        secrets.write(keys / f"ed25519-{signs_from}", seeds[name].private_bytes_raw().hex())
    database = create_database(stack)
    settings = api_settings(stack, tmp_path, database)
    service, base = start_api(settings, tmp_path)
    try:
        kids = {name: OKPKey.import_key(key.public_key()).thumbprint() for name, key in seeds.items()}
        assert [k["kid"] for k in httpx.get(base + "/.well-known/jwks.json").json()["keys"]] == [kids["current"]]
        db(settings, "INSERT INTO tenants (slug, name) VALUES ('alpha', 'Alpha Club')")
        member = Member(httpx.Client(base_url=base), settings, "alpha")
        claims = jwt.decode(member.headers["Authorization"][7:], options={"verify_signature": False})
        claims |= {"exp": now + 600, "jti": "f" * 32}
        for name, expected in (("current", 200), ("retired", 401)):
            token = jwt.encode(claims, seeds[name], algorithm="EdDSA", headers={"kid": kids[name], "typ": "at+jwt"})
            response = httpx.get(base + "/auth/me", headers=bearer(token))
            assert response.status_code == expected, (name, response.text)
        assert "retired" in response.json()["detail"]
    finally:
        service.stop()
        drop_database(stack, database)
