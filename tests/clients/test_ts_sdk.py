"""The TypeScript SDK (@fitmint/sdk) against `make up`'s stack, as a Node app uses it: its own tests
(clients/ts/test/*.test.ts, Node's test runner) compiled with tsc and run here. This side prepares what
Node cannot do alone - fresh wallets with ETH for gas (the stack Anvil's funder) and a listed catalog item
(the operator's way) - and hands them over in environment variables; a failing Node test fails this one
with Node's report."""

import functools
import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from eth_account import Account

from tests.support.paths import ROOT
from tests.support.stackclient import await_sign_in_budget, fund_gas, list_product

SDK = ROOT / "clients" / "ts"
NODE_SUITE_TIMEOUT = 150  # seconds; the suite takes well under a minute on the stack
# One fresh wallet per role the Node tests play (support.ts `wallet(role)`).
ROLES = ("member", "earner", "cheater", "buyer", "seller", "late-buyer", "gasless", "athlete")
SIGN_INS = 10  # the Node tests' sign-ins and refreshes, with room: they share make up's per-IP limit


def run(command: list[str], *, cwd: Path = ROOT, env: dict | None = None, timeout: float = 300,
        what: str) -> subprocess.CompletedProcess:
    """Runs `command` in its own process group (killed whole on timeout: node --test has a child per file);
    fails with its output when it exits non-zero."""
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{what} did not finish within {timeout} s:\n{output}")
    if process.returncode != 0:
        pytest.fail(f"{what} failed (exit {process.returncode}):\n{output}")
    return subprocess.CompletedProcess(command, process.returncode, output, "")


@functools.cache
def build_sdk() -> None:
    """`npm run build -w clients/ts` (tsc to clients/ts/dist), as a fresh clone does after `npm ci`."""
    run(["npm", "run", "build", "-w", "clients/ts"], what="building the SDK")


@pytest.fixture(scope="module")
def node_tests() -> list[str]:
    build_sdk()
    run(["npm", "run", "build:test", "-w", "clients/ts"], what="compiling the SDK's tests")
    return sorted(str(path.relative_to(SDK)) for path in (SDK / "build-test" / "test").glob("*.test.js"))


def test_the_sdk_against_the_stack(node_tests, stack, api, api_url, rpc_url, catalog_admin, listed_item):
    keys = []
    for role in ROLES:
        account = Account.create()
        fund_gas(rpc_url, account.address)
        keys.append(f"{role}={account.key.to_0x_hex()}")
    listing = {"listing_id": listed_item["listing_id"], "item_id": listed_item["item_id"],
               "image_cid": listed_item["image_cid"], "name": listed_item["product"]["name"]}
    gasless_listing = list_product(api, catalog_admin, name=f"Gasless Band {uuid.uuid4().hex[:6]}", price_fit="1",
                                   supply=3)
    await_sign_in_budget(stack, SIGN_INS)
    done = run(["node", "--test", "--test-reporter=tap", "--test-concurrency=4", "--test-timeout=90000", *node_tests],
               cwd=SDK, timeout=NODE_SUITE_TIMEOUT, what="the SDK's Node tests",
               env={"FITMINT_API_URL": api_url, "FITMINT_RPC_URL": rpc_url, "FITMINT_TEST_KEYS": ",".join(keys),
                    "FITMINT_TEST_LISTING": json.dumps(listing),
                    "FITMINT_TEST_GASLESS_LISTING": json.dumps(gasless_listing)})
    summary = dict(line[2:].split(" ", 1) for line in done.stdout.splitlines()
                   if line.startswith("# ") and line[2:].split(" ")[0] in ("tests", "pass", "fail", "duration_ms"))
    print(f"node --test: {summary}")
    assert summary.get("fail") == "0" and int(summary.get("pass", 0)) >= 25, done.stdout
