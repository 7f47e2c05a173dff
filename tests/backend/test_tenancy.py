"""Tenants through HTTP: a token of one tenant can never read or change another tenant's data. Every
endpoint that takes a member's or a record's id is tried with ids of the other tenant (404, nothing
changed); list endpoints only ever show the caller's tenant. A table checks that no endpoint is left out."""

import uuid

import pytest

from tests.support.api import a_run, db

# Endpoints that are about "the caller" or public chain state: no foreign id can be named.
NO_FOREIGN_ID = {
    ("POST", "/auth/nonce"), ("POST", "/auth/verify"), ("POST", "/auth/refresh"), ("POST", "/auth/logout"),
    ("GET", "/auth/me"), ("POST", "/auth/service-token"), ("GET", "/health"),
    # OAuth for services: a client's own tokens; introspection calls another tenant's token inactive and
    # revocation refuses a token not issued to the caller (tests/backend/test_oauth.py). Keys, metadata and
    # the SIWE parameters are the deployment's.
    ("POST", "/auth/token"), ("POST", "/auth/introspect"), ("POST", "/auth/revoke"), ("GET", "/auth/siwe"),
    ("GET", "/.well-known/jwks.json"), ("GET", "/.well-known/oauth-authorization-server"),
    # Credential status lists: public by design (W3C Bitstring Status List), the platform issuer's, whose bits
    # say only "revoked or not" of credentials whoever holds them may show anyone.
    ("GET", "/identity/status/{list_id}"),
    ("GET", "/users/me"), ("PATCH", "/users/me"), ("PUT", "/users/me/preferences"), ("POST", "/users/me/wallets"),
    ("DELETE", "/users/me/wallets/{address}"), ("POST", "/tenant/service-clients"),
    ("GET", "/tenant/policy"), ("PUT", "/tenant/policy"),  # the caller's tenant's own policy
    ("GET", "/wallets/{address}/balance"), ("GET", "/wallets/{address}/transfers"),
    ("GET", "/wallets/{address}/claims"), ("GET", "/wallets/{address}/items"), ("GET", "/wallets/{address}/orders"),
    # The client surface: the chain, marketplace listings (their items are the catalog's public reads) and
    # quotes are public chain state, the same for every tenant.
    ("GET", "/chain"), ("GET", "/chain/abis/{name}"), ("GET", "/marketplace/listings"),
    ("GET", "/marketplace/listings/{listing_id}"), ("GET", "/wallets/{address}/listings"),
    ("POST", "/marketplace/listings/{listing_id}/quote"),
    # Reward epochs and their proofs are the deployment's, posted on chain: one root for every tenant.
    ("GET", "/rewards/epochs"), ("GET", "/rewards/epochs/{epoch}/proofs/{address}"),
    # The catalog: uploads and new products go to the caller's tenant; reads are public.
    ("POST", "/catalog/images"), ("POST", "/catalog/products"), ("GET", "/catalog/products"),
    ("GET", "/catalog/products/{product_id}"), ("GET", "/catalog/products/{product_id}/versions"),
    ("GET", "/catalog/items/{item_id}"), ("GET", "/catalog/metadata/{cid}"), ("GET", "/catalog/images/{cid}"),
    # Notifications are the caller's own inbox; receipts are found through the caller's own wallets.
    ("GET", "/notifications"), ("POST", "/notifications/read"), ("GET", "/orders/{order_id}/receipt"),
    # Identity: the caller's own connections, credentials and exchanges; trusted issuers of the caller's
    # tenant; gates read the caller's presentations; webhooks come from our agent (its key, no token).
    ("POST", "/identity/connections/invitations"), ("GET", "/identity/connections"), ("GET", "/identity/credentials"),
    ("POST", "/identity/trusted-issuers"), ("GET", "/identity/trusted-issuers"), ("GET", "/identity/exchanges"),
    ("POST", "/identity/gates/{gate}/authorize"), ("POST", "/agent/webhooks/topic/{topic}/"),
    ("POST", "/identity/credentials/verify"),
    # Credential status lists are published for any verifier (public, signed by the platform's issuer DID).
    ("GET", "/identity/status/{list_id}"),
    # Transactions are submitted to, and listed from, the caller's tenant (one by id: below).
    ("POST", "/transactions"), ("GET", "/transactions"),
    # Relayed purchases are the caller's own (a wallet of theirs signs); sponsorship is the caller's tenant's.
    ("POST", "/relay/purchases"), ("GET", "/relay/sponsorship"),
    # Analytics read the caller's tenant; another one (`tenant=`) is refused but to the platform's own
    # tenant's admins (tests/backend/test_analytics_api.py). The coaches' flagged list is the caller's tenant's.
    *{("GET", f"/analytics/{name}") for name in ("scope", "overview", "activity", "workouts", "refusals", "rewards",
                                                  "token", "marketplace", "retention", "funnel")},
    ("GET", "/fitness/flagged"),
    # Recommendations and goals are the caller's own: products of the caller's tenant on sale.
    ("GET", "/recommendations/products"), ("GET", "/recommendations/workouts"), ("GET", "/recommendations/goals"),
    ("PUT", "/recommendations/goals"),
}


# A valid body (validation comes before the tenant check); its image CID need not exist for a 404.
PRODUCT_UPDATE = {"name": "Hijacked", "images": ["bafkreiablk6x6xgfpiw5ss3vsdyevwaiijzzaxxdh3c45pvomitwvf7ymi"],
                  "price_fit": "1", "supply": 1}


def foreign_requests(victim, records) -> list[tuple[str, str, dict | None]]:
    """Every endpoint naming something of the victim's tenant: (method, url, json)."""
    uid, workout, client = victim.user_id, records["workout"], records["service_client"]
    return [
        ("GET", f"/users/{uid}", None),
        ("PUT", f"/users/{uid}/role", {"role": "admin"}),
        ("DELETE", f"/tenant/service-clients/{client}", None),
        ("GET", "/users", None),  # list: checked separately for content
        ("POST", f"/fitness/workouts?user_id={uid}", a_run(hours_ago=30)),
        ("GET", f"/fitness/workouts?user_id={uid}", None),
        ("GET", f"/fitness/workouts/{workout}", None),
        ("GET", "/fitness/review", None),
        ("PUT", f"/fitness/flagged/{workout}", {"decision": "cleared"}),
        ("POST", f"/fitness/nutrition?user_id={uid}",
         {"eaten_at": "2026-11-26T08:00:00Z", "meal": "breakfast", "calories": 400}),
        ("GET", f"/fitness/nutrition?user_id={uid}", None),
        ("POST", f"/rewards/workouts/{workout}/voucher", None),
        ("GET", f"/rewards/vouchers?user_id={uid}", None),
        ("GET", f"/rewards/vouchers/{records['claim_id']}", None),
        ("PUT", f"/catalog/products/{records['product']}", PRODUCT_UPDATE),
        ("POST", f"/catalog/products/{records['product']}/listing", None),
        ("POST", "/identity/bindings", {"connection_id": records["connection"], "message": "m", "signature": "0x00",
                                        "holder_did": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}),
        ("POST", "/identity/credentials/achievements", {"connection_id": records["connection"],
                                                         "achievement": "distance-10k"}),
        ("POST", "/identity/presentations", {"connection_id": records["connection"], "purpose": "verified-athlete"}),
        ("POST", f"/identity/credentials/{records['credential']}/revoke", None),
        ("GET", f"/identity/exchanges/{records['thread']}", None),
        ("GET", f"/transactions/{records['transaction']}", None),
        ("POST", f"/rewards/vouchers/{records['claim_id']}/relay", None),
        ("GET", f"/rewards/vouchers/{records['claim_id']}/relay", None),
        ("GET", f"/relay/{records['relay']}", None),
    ]


@pytest.fixture
def alpha_records(client, settings, tenants):
    alpha = tenants["alpha"]
    workout = client.post("/fitness/workouts", json=a_run(), headers=alpha["user"].headers)
    assert workout.status_code == 201, workout.text
    created = client.post("/tenant/service-clients", json={"name": "watch sync", "role": "attestor"},
                          headers=alpha["admin"].headers)
    assert created.status_code == 201, created.text
    # A voucher row as the rewards service writes it, after the workout's one reward record (no chain needed to
    # test who may see it).
    claim_id = "0x" + "ab" * 32
    db(settings, "INSERT INTO workout_rewards (workout_id, mode) VALUES ($1::uuid, 'voucher')", workout.json()["id"])
    db(settings, "INSERT INTO vouchers (claim_id, tenant_id, user_id, workout_id, account, amount, deadline, chain_id, "
                 "contract, attestor, signature, issued_day) "
                 "VALUES ($1, $2::uuid, $3::uuid, $4::uuid, $5, 1, 1, 31337, "
                 "$5, $5, '0x', current_date)", claim_id, alpha["user"].tenant_id, alpha["user"].user_id,
       workout.json()["id"], alpha["user"].address.lower())
    # A product row as the catalog writes it (its document need not be pinned to test who may change it).
    product = uuid.uuid4()
    db(settings, "INSERT INTO products (id, tenant_id, item_id, version, cid, name, price_fit, supply, created_by) "
                 "VALUES ($1, $2::uuid, $3, 1, $4, 'Shoes', 1, 1, 'test')", product, alpha["admin"].tenant_id,
       product.int, PRODUCT_UPDATE["images"][0])
    db(settings, "INSERT INTO product_versions (product_id, version, cid, document, created_by) "
                 "VALUES ($1, 1, $2, '{}', 'test')", product, PRODUCT_UPDATE["images"][0])
    # A DIDComm connection, an issue exchange and its credential as the identity controller writes them.
    user = alpha["user"]
    db(settings, "INSERT INTO didcomm_connections (connection_id, tenant_id, user_id, invitation_msg_id, state) "
                 "VALUES ('conn-alpha', $1::uuid, $2::uuid, 'inv-alpha', 'active')", user.tenant_id, user.user_id)
    db(settings, "INSERT INTO identity_exchanges (thread_id, kind, tenant_id, user_id, connection_id, deadline) "
                 "VALUES ('thread-alpha', 'issue', $1::uuid, $2::uuid, 'conn-alpha', now())",
       user.tenant_id, user.user_id)
    db(settings, "INSERT INTO issued_credentials (credential_id, tenant_id, user_id, kind, subject_did, thread_id, "
                 "document) VALUES ('urn:uuid:00000000-0000-4000-8000-000000000001', $1::uuid, $2::uuid, "
                 "'FitnessAchievement', 'did:key:z', 'thread-alpha', '{}')", user.tenant_id, user.user_id)
    # A transaction an admin of alpha submitted.
    transaction = client.post("/transactions", json={"target": "0x" + "0b" * 20, "value": "1"},
                              headers={**alpha["admin"].headers, "Idempotency-Key": "alpha-payout-1"})
    assert transaction.status_code == 202, transaction.text
    # The relay of that voucher, as the relayer records it.
    relay = db(settings, "INSERT INTO relays (kind, tenant_id, user_id, claim_id) VALUES ('claim', $1::uuid, "
                         "$2::uuid, $3) RETURNING id", user.tenant_id, user.user_id, claim_id)[0]["id"]
    return {"workout": workout.json()["id"], "service_client": created.json()["client_id"], "claim_id": claim_id,
            "product": str(product), "connection": "conn-alpha", "thread": "thread-alpha",
            "credential": "urn:uuid:00000000-0000-4000-8000-000000000001", "transaction": transaction.json()["id"],
            "relay": relay}


def test_every_endpoint_is_in_the_cross_tenant_table(client):
    routes = {(method, path) for path, item in client.app.openapi()["paths"].items() for method in
              (m.upper() for m in item)}
    covered = NO_FOREIGN_ID | {(m, u.split("?")[0]) for m, u, _ in foreign_requests(
        type("V", (), {"user_id": "{user_id}"}), {"workout": "{workout_id}", "service_client": "{client_id}",
                                                  "claim_id": "{claim_id}", "product": "{product_id}",
                                                  "connection": "c", "thread": "{thread_id}",
                                                  "credential": "{credential_id}",
                                                  "transaction": "{request_id}", "relay": "{relay_id}"})}
    assert routes == covered, f"not covered: {routes - covered}; stale: {covered - routes}"


@pytest.mark.parametrize("role", ["user", "coach", "admin"])
def test_another_tenant_can_neither_read_nor_change(client, settings, tenants, alpha_records, role):
    victim, intruder = tenants["alpha"]["user"], tenants["beta"][role]
    before = db(settings, "SELECT (SELECT count(*) FROM workouts) w, (SELECT count(*) FROM nutrition_logs) n, "
                          "(SELECT count(*) FROM vouchers) v, (SELECT role FROM users WHERE id = $1::uuid) r, "
                          "(SELECT count(*) FROM service_clients WHERE revoked_at IS NULL) s, "
                          "(SELECT count(*) FROM product_versions) pv, (SELECT status FROM products) ps, "
                          "(SELECT count(*) FROM relays) rl, (SELECT count(*) FROM sponsorship_member_days) sp",
                victim.user_id)
    for method, url, body in foreign_requests(victim, alpha_records):
        response = client.request(method, url, json=body, headers=intruder.headers)
        if url in ("/users", "/fitness/review"):
            if response.status_code == 200:  # allowed for the role, but only ever its own tenant
                listed = {row.get("user_id", row.get("id")) for row in response.json()["data"]}
                assert victim.user_id not in listed
                assert alpha_records["workout"] not in {row.get("id") for row in response.json()["data"]}
            else:
                assert response.status_code == 403, (url, response.text)
            continue
        # 404 without revealing anything; a role that may not act at all is told so (403) first.
        assert response.status_code in (403, 404), (method, url, response.status_code, response.text)
        if response.status_code == 404 or role == "admin":
            assert response.json()["detail"] == "not found in your tenant", (method, url, response.text)
    after = db(settings, "SELECT (SELECT count(*) FROM workouts) w, (SELECT count(*) FROM nutrition_logs) n, "
                         "(SELECT count(*) FROM vouchers) v, (SELECT role FROM users WHERE id = $1::uuid) r, "
                         "(SELECT count(*) FROM service_clients WHERE revoked_at IS NULL) s, "
                         "(SELECT count(*) FROM product_versions) pv, (SELECT status FROM products) ps, "
                         "(SELECT count(*) FROM relays) rl, (SELECT count(*) FROM sponsorship_member_days) sp",
                victim.user_id)
    assert after == before


def test_the_same_wallet_is_a_separate_member_in_each_tenant(client, settings, tenants):
    from tests.support.signin import me, sign_in
    wallet = tenants["alpha"]["user"].wallet
    beta_headers = sign_in(client, settings, wallet, "beta")
    assert me(client, beta_headers)["user_id"] != tenants["alpha"]["user"].user_id
    assert client.get("/fitness/workouts", headers=beta_headers).json()["data"] == []


def test_unknown_and_invite_only_tenants_refuse_sign_in(client, settings):
    from tests.support.signin import new_wallet, sign, siwe_message
    db(settings, "INSERT INTO tenants (slug, name, open_signup) VALUES ('closed', 'Closed', false)")
    for tenant, code, reason in (("nowhere", 404, "unknown tenant"), ("closed", 403, "invitation only")):
        wallet = new_wallet()
        message = siwe_message(client, settings, wallet)
        response = client.post("/auth/verify", json={"message": message, "signature": sign(message, wallet),
                                                     "tenant": tenant})
        assert response.status_code == code and reason in response.json()["detail"]
