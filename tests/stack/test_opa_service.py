"""`make up` runs the API's OPA (scripts/stack/stack.sh), on a private stack of its own: the API refuses to
start without it, `status` shows it healthy, its decision socket is its user's alone, each decision the API
makes is a line of its decision log (<state>/logs/opa.log), and with it down the API fails closed (503
naming opa, its /health too) until it is back."""

import json
import stat

import httpx
from eth_account import Account

from tests.support.stackclient import sign_in_over_http
from tests.support.waiting import wait_until

NO_CLIENTS = {"FITMINT_SKIP_CLIENT_BUILD": "1"}


def decisions(private_stack) -> list[dict]:
    return [json.loads(line) for line in private_stack.log("opa").splitlines()
            if line.startswith("{") and '"Decision Log"' in line]


def test_the_api_decides_with_the_stacks_opa_and_fails_closed_without_it(private_stack):
    up = private_stack("up", "postgres", "redis", env=NO_CLIENTS)
    assert up.returncode == 0, up.stdout + up.stderr
    refused = private_stack("up", "api", env=NO_CLIENTS)
    assert refused.returncode != 0 and "needs redis, postgres and opa" in refused.stderr

    up = private_stack("up", "opa", "api", env=NO_CLIENTS)
    assert up.returncode == 0, up.stdout + up.stderr
    assert private_stack("status", "opa").returncode == 0
    socket = private_stack.state / "run" / "opa.sock"
    assert stat.S_ISSOCK(socket.stat().st_mode) and stat.S_IMODE(socket.stat().st_mode) == 0o600

    with httpx.Client(base_url=f"http://127.0.0.1:{private_stack.port('BACKEND_PORT')}", timeout=30) as api:
        headers = sign_in_over_http(api, Account.create())
        me = api.get("/auth/me", headers=headers).json()
        assert api.get(f"/users/{me['user_id']}", headers=headers).status_code == 200
        wait_until(lambda: any(d["input"]["principal"]["user_id"] == me["user_id"] for d in decisions(private_stack)),
                   timeout=10, what="the decision in <state>/logs/opa.log")
        [logged] = [d for d in decisions(private_stack) if d["input"]["principal"]["user_id"] == me["user_id"]]
        assert logged["decision_id"] and logged["result"]["allow"] is True

        assert private_stack("down", "opa").returncode == 0
        down = api.get(f"/users/{me['user_id']}", headers=headers)
        assert down.status_code == 503 and down.json()["dependency"] == "opa", down.text
        health = api.get("/health")  # out of rotation (the chart's readiness probe) while it cannot decide
        assert health.status_code == 503 and "opa" in health.json()["detail"], health.text
        assert private_stack("up", "opa").returncode == 0
        wait_until(lambda: api.get(f"/users/{me['user_id']}", headers=headers).status_code == 200, timeout=15,
                   what="the API deciding again once OPA is back")
