"""Members through HTTP: profiles, preferences (validated), linked wallets proven by signature, roles
set by admins, the Redis cache dropped on change; service clients with their own credentials."""

from tests.support.api import db
from tests.support.signin import me, new_wallet, sign, sign_in, siwe_message


def test_profile_and_preferences_round_trip_and_cache_is_invalidated(client, settings, tenants):
    alice = tenants["alpha"]["user"]
    first = client.get("/users/me", headers=alice.headers).json()
    assert first["wallets"] == [alice.address.lower()] and first["preferences"]["units"] == "metric"
    updated = client.patch("/users/me", json={"display_name": "Alice", "height_cm": 171.5}, headers=alice.headers)
    assert updated.status_code == 200 and updated.json()["display_name"] == "Alice"
    prefs = {"units": "imperial", "timezone": "Europe/Berlin", "notification_channels": ["email", "websocket"],
             "email": "alice@example.org", "reminder_times": ["18:30", "07:15"], "privacy": "private"}
    assert client.put("/users/me/preferences", json=prefs, headers=alice.headers).status_code == 200
    again = client.get("/users/me", headers=alice.headers).json()  # served from the cache after the first read
    assert again["display_name"] == "Alice" and again["height_cm"] == 171.5
    assert again["preferences"] | {} == prefs | {"reminder_times": ["07:15", "18:30"], "phone": None}
    # A change behind the API's back is not seen until the cache entry goes: proof the cache is used...
    db(settings, "UPDATE users SET display_name = 'Bypassed' WHERE id = $1::uuid", alice.user_id)
    assert client.get("/users/me", headers=alice.headers).json()["display_name"] == "Alice"
    # ...and a change through the API drops it.
    client.patch("/users/me", json={"bio": "runner"}, headers=alice.headers)
    assert client.get("/users/me", headers=alice.headers).json()["display_name"] == "Bypassed"


def test_bad_preferences_get_the_reason(client, tenants):
    alice = tenants["alpha"]["user"]
    for body, reason in (({"timezone": "Mars/Olympus"}, "unknown time zone"),
                         ({"reminder_times": ["25:00"]}, "not HH:MM"),
                         ({"notification_channels": ["email"]}, "needs an email address"),
                         ({"units": "cubits"}, "metric"),
                         ({"surprise": 1}, "Extra inputs are not permitted")):
        response = client.put("/users/me/preferences", json=body, headers=alice.headers)
        assert response.status_code == 422 and reason in response.text, (body, response.text)


def test_linking_a_wallet_needs_its_signature(client, settings, tenants):
    alice = tenants["alpha"]["user"]
    second = new_wallet()
    message = siwe_message(client, settings, second)
    forged = client.post("/users/me/wallets", json={"message": message, "signature": sign(message, new_wallet())},
                         headers=alice.headers)
    assert forged.status_code == 422 and "signature" in forged.json()["detail"]
    message = siwe_message(client, settings, second)
    linked = client.post("/users/me/wallets", json={"message": message, "signature": sign(message, second)},
                         headers=alice.headers)
    assert linked.status_code == 201 and second.address.lower() in linked.json()["wallets"]
    # The linked wallet signs in as the same member.
    assert me(client, sign_in(client, settings, second, "alpha"))["user_id"] == alice.user_id
    # Another member cannot take it over.
    bob = tenants["alpha"]["coach"]
    message = siwe_message(client, settings, second)
    taken = client.post("/users/me/wallets", json={"message": message, "signature": sign(message, second)},
                        headers=bob.headers)
    assert taken.status_code == 409
    assert client.delete(f"/users/me/wallets/{second.address}", headers=alice.headers).status_code == 200
    last = client.delete(f"/users/me/wallets/{alice.address}", headers=alice.headers)
    assert last.status_code == 409 and "only wallet" in last.json()["detail"]


def test_roles_are_set_by_admins_and_apply_after_refresh(client, settings, tenants):
    alpha = tenants["alpha"]
    target = alpha["user"]
    assert client.put(f"/users/{target.user_id}/role", json={"role": "coach"},
                      headers=alpha["coach"].headers).status_code == 403
    assert client.get("/users", headers=target.headers).status_code == 403
    message = siwe_message(client, settings, target.wallet)
    tokens = client.post("/auth/verify", json={"message": message, "signature": sign(message, target.wallet),
                                               "tenant": "alpha"}).json()
    promoted = client.put(f"/users/{target.user_id}/role", json={"role": "coach"}, headers=alpha["admin"].headers)
    assert promoted.status_code == 200 and promoted.json()["role"] == "coach"
    refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert me(client, headers)["role"] == "coach"
    members = client.get("/users", params={"limit": 2}, headers=headers).json()
    seen = [m["id"] for m in members["data"]]
    while members["next_cursor"]:
        members = client.get("/users", params={"limit": 2, "cursor": members["next_cursor"]}, headers=headers).json()
        seen += [m["id"] for m in members["data"]]
    assert sorted(seen) == sorted(m.user_id for m in alpha.values())
    assert client.put(f"/users/{alpha['admin'].user_id}/role", json={"role": "user"},
                      headers=alpha["admin"].headers).status_code == 409
    assert client.put(f"/users/{target.user_id}/role", json={"role": "root"},
                      headers=alpha["admin"].headers).status_code == 422


def test_service_clients_authenticate_with_their_own_credentials(client, tenants):
    alpha = tenants["alpha"]
    assert client.post("/tenant/service-clients", json={"name": "x", "role": "attestor"},
                       headers=alpha["coach"].headers).status_code == 403
    created = client.post("/tenant/service-clients", json={"name": "watch sync", "role": "attestor"},
                          headers=alpha["admin"].headers).json()
    token = client.post("/auth/service-token", json={"client_id": created["client_id"],
                                                     "client_secret": created["client_secret"]})
    assert token.status_code == 200
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    identity = me(client, headers)
    assert (identity["role"], identity["tenant_id"], identity["user_id"]) == ("attestor", alpha["user"].tenant_id, None)
    # The attestor records a member's workout on their behalf, but may not read profiles or act as a member.
    from tests.support.api import a_run
    recorded = client.post("/fitness/workouts", params={"user_id": alpha["user"].user_id}, json=a_run(),
                           headers=headers)
    assert recorded.status_code == 201 and recorded.json()["submitted_by"] == f"service:{created['client_id']}"
    assert client.get("/users/me", headers=headers).status_code == 403
    assert client.post("/fitness/workouts", json=a_run(hours_ago=9), headers=headers).status_code == 422
    wrong = client.post("/auth/service-token", json={"client_id": created["client_id"], "client_secret": "x" * 40})
    assert wrong.status_code == 401
    assert client.delete(f"/tenant/service-clients/{created['client_id']}",
                         headers=alpha["admin"].headers).status_code == 204
    assert client.get("/auth/me", headers=headers).status_code == 401  # its live token ends with it
    assert client.post("/auth/service-token", json={"client_id": created["client_id"],
                                                    "client_secret": created["client_secret"]}).status_code == 401
