"""A tenant's admins tighten their tenant's policy without a deploy (GET/PUT /tenant/policy): stored in
PostgreSQL, in effect through OPA on this replica at once and on every other replica within the sync
interval; never wider than the base policy. OPA down or stalled: requests fail closed (503/504 naming opa),
and an OPA that restarts empty refuses until the API gives it the tenants' policies again. Every decision
is in OPA's decision log."""

import json
import os
import signal

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.app.main import create_app
from tests.backend.conftest import Member
from tests.support.api import api_settings, db
from tests.support.opa import OpaServer
from tests.support.waiting import wait_until

COACHES_CANNOT_LIST = {"denied": {"coach": ["members.list"]}}


@pytest.fixture
def opa():
    with OpaServer() as server:
        yield server


@pytest.fixture
def replicas(stack, tmp_path, backend_database, opa):
    """Two API replicas on one database, each with its own OPA (the chart's sidecars), syncing fast."""
    with OpaServer() as second_opa:
        first = api_settings(stack, tmp_path, backend_database, opa_url=opa.url, opa_sync_seconds=0.2)
        second = api_settings(stack, tmp_path, backend_database, opa_url=second_opa.url, opa_sync_seconds=0.2)
        with TestClient(create_app(first)) as one, TestClient(create_app(second)) as two:
            yield one, two, first


@pytest.fixture
def club(replicas):
    """A tenant with a user, a coach and an admin, and another tenant with a coach (signed in on replica one)."""
    one, _, settings = replicas
    db(settings, "INSERT INTO tenants (slug, name) VALUES ('alpha', 'Alpha Club'), ('beta', 'Beta Gym')")
    members = {role: Member(one, settings, "alpha", role) for role in ("user", "coach", "admin")}
    members["beta coach"] = Member(one, settings, "beta", "coach")
    return members


def test_an_admin_tightens_the_tenant_on_every_replica_and_loosens_it_back(replicas, club):
    one, two, _ = replicas
    coach, admin = club["coach"], club["admin"]
    assert two.get("/users", headers=coach.headers).status_code == 200
    assert one.get("/tenant/policy", headers=admin.headers).json()["denied"] == {}

    tightened = one.put("/tenant/policy", json=COACHES_CANNOT_LIST, headers=admin.headers)
    assert tightened.status_code == 200, tightened.text
    assert tightened.json()["denied"] == {"coach": ["members.list"]}
    assert "members.list" not in tightened.json()["effective"]["coach"]
    assert tightened.json()["effective"]["admin"]["members.list"] == "tenant"
    refused = one.get("/users", headers=coach.headers)  # this replica: at once
    assert refused.status_code == 403 and "in this tenant" in refused.json()["detail"]
    wait_until(lambda: two.get("/users", headers=coach.headers).status_code == 403, timeout=10,
               what="the other replica applying the tightening")
    assert one.get("/users", headers=admin.headers).status_code == 200  # only the coach's rule went
    assert one.get("/users", headers=club["beta coach"].headers).status_code == 200  # only this tenant's

    assert one.put("/tenant/policy", json={"denied": {}}, headers=admin.headers).status_code == 200
    assert one.get("/users", headers=coach.headers).status_code == 200
    wait_until(lambda: two.get("/users", headers=coach.headers).status_code == 200, timeout=10,
               what="the other replica applying the loosening")


def test_a_tenant_policy_can_only_take_away(replicas, club):
    one, _, _ = replicas
    user, admin = club["user"], club["admin"]
    widen = one.put("/tenant/policy", json={"denied": {"user": ["member.role.set"]}}, headers=admin.headers)
    assert widen.status_code == 422 and "nothing to take away" in widen.json()["detail"]
    grant = one.put("/tenant/policy", json={"denied": {}, "granted": {"user": ["member.role.set"]}},
                    headers=admin.headers)
    assert grant.status_code == 422
    lockout = one.put("/tenant/policy", json={"denied": {"admin": ["tenant_policy.manage"]}}, headers=admin.headers)
    assert lockout.status_code == 422 and "nobody could give it back" in lockout.json()["detail"]
    assert one.put(f"/users/{admin.user_id}/role", json={"role": "user"}, headers=user.headers).status_code == 403
    assert one.get("/tenant/policy", headers=admin.headers).json()["denied"] == {}


@pytest.mark.parametrize("body", [{"denied": {"superuser": ["members.list"]}}, {"denied": {"coach": ["members.drop"]}},
                                  {"denied": {"coach": "members.list"}}, {"denied": None}, {}])
def test_bad_input_is_refused_with_the_reason(replicas, club, body):
    one, _, _ = replicas
    answer = one.put("/tenant/policy", json=body, headers=club["admin"].headers)
    assert answer.status_code == 422 and answer.json()["detail"]


def test_only_the_tenants_admins_manage_its_policy(replicas, club):
    one, _, _ = replicas
    for role in ("user", "coach"):
        assert one.get("/tenant/policy", headers=club[role].headers).status_code == 403
        assert one.put("/tenant/policy", json=COACHES_CANNOT_LIST, headers=club[role].headers).status_code == 403


def test_tenant_data_in_opa_never_grants(opa, replicas, club):
    """Whatever reaches data.tenant_policy (even written straight into OPA), the base policy stays the ceiling."""
    one, _, _ = replicas
    user, admin = club["user"], club["admin"]
    body = {"denied": {}, "rules": {"user": {"member.role.set": "tenant"}}, "granted": {"user": ["member.role.set"]},
            "allow": True}
    opa_put(opa, f"tenant_policy/tenants/{user.tenant_id}", body)
    assert one.put(f"/users/{admin.user_id}/role", json={"role": "user"}, headers=user.headers).status_code == 403
    assert one.get(f"/users/{admin.user_id}", headers=user.headers).status_code == 403


def test_opa_down_or_stalled_fails_closed_and_a_restarted_opa_is_given_the_policies(opa, replicas, club):
    one, _, _ = replicas
    coach, admin = club["coach"], club["admin"]
    assert one.put("/tenant/policy", json=COACHES_CANNOT_LIST, headers=admin.headers).status_code == 200

    os.kill(opa.service.process.pid, signal.SIGSTOP)  # stalled: it accepts, never answers
    try:
        stalled = one.get("/users", headers=admin.headers)
    finally:
        os.kill(opa.service.process.pid, signal.SIGCONT)
    assert stalled.status_code == 504 and stalled.json()["dependency"] == "opa", stalled.text

    opa.stop()
    down = one.get("/users", headers=admin.headers)
    assert down.status_code == 503 and down.json()["dependency"] == "opa", down.text
    assert "opa" in down.json()["detail"] and down.headers["Retry-After"]

    opa.start()  # empty: no tenant policies until the API gives them again (within the sync interval)
    wait_until(lambda: one.get("/users", headers=admin.headers).status_code == 200, timeout=10,
               what="the restarted OPA deciding again")
    assert one.get("/users", headers=coach.headers).status_code == 403, "the tightening was lost with the restart"


def test_every_decision_is_in_the_decision_log(opa, replicas, club):
    one, _, _ = replicas
    coach = club["coach"]
    assert one.get(f"/users/{club['user'].user_id}", headers=coach.headers).status_code == 200

    def logged():
        for line in opa.log.splitlines():
            entry = json.loads(line) if line.startswith("{") else {}
            if entry.get("msg") == "Decision Log" and entry["input"]["principal"]["user_id"] == coach.user_id:
                return entry

    entry = wait_until(logged, timeout=5, what="the decision in OPA's decision log")
    assert entry["path"] == "fitmint/authz/decision" and entry["decision_id"]
    assert entry["input"] == {"action": "profile.read", "principal": {
        "tenant_id": coach.tenant_id, "role": "coach", "user_id": coach.user_id, "scopes": None},
        "target": {"tenant_id": coach.tenant_id, "user_id": club["user"].user_id}}
    assert entry["result"] == {"allow": True, "status": 200, "reason": "allowed"}
    assert all("tenant_policy" not in line for line in opa.log.splitlines() if '"Decision Log"' in line), \
        "the API's data reads are not decisions"


def opa_put(opa: OpaServer, path: str, value) -> None:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(opa.socket)), base_url="http://opa") as client:
        assert client.put(f"/v1/data/{path}", json=value).status_code == 204
