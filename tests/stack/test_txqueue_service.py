"""`make up` runs the transaction queue's worker (scripts/stack/stack.sh), on a private stack of the services a
listing needs (its own state folder and ports): it starts after the deployment and the API's migrations on the
operator pool the deploy wired, `status` shows it healthy and names a key below the funding threshold, a
product listed through the running API is sent from the pool by it, and `down` stops it."""

import os
import subprocess
import sys

import httpx
from eth_account import Account

from fitmint.chain.manifest import Manifest
from fitmint.keys import KeySettings
from tests.support import stackclient
from tests.support.paths import ROOT
from tests.support.privatestack import PrivateStack
from tests.support.stackclient import list_product, sign_in_over_http
from tests.support.waiting import wait_until

SERVICES = ("anvil", "postgres", "redis", "ipfs", "opa", "api", "txqueue")
ETH = 10**18


def rpc(stack: PrivateStack, method: str, *params):
    return stackclient.rpc(f"http://127.0.0.1:{stack.port('ANVIL_PORT')}", method, *params)


def status_line(stack: PrivateStack, service: str) -> str:
    out = stack("status", service).stdout
    return next(line for line in out.splitlines() if line.startswith(f"{service} "))


def test_up_runs_the_queue_worker_on_the_pool_and_a_listing_goes_through_it(private_stack):
    up = private_stack("up", *SERVICES, env={"TXQUEUE_BALANCE_CHECK_SECONDS": "1"})
    assert up.returncode == 0, up.stdout + up.stderr
    assert "txqueue: started" in up.stdout
    assert " healthy " in status_line(private_stack, "txqueue")
    assert private_stack("status", "txqueue").returncode == 0

    # The pool: the operator key and two dev keys beside it, each wired by the deploy, all the queue's.
    pool = [Account.from_key(key).address for key in KeySettings(fitmint_state_dir=private_stack.state).operator_keys()]
    manifest = Manifest.load(private_stack.state / "deployments" / "31337.json")
    assert len(set(pool)) == 3 and manifest.roles.operator == pool
    assert "transaction queue: 3 key(s)" in private_stack.log("txqueue")

    # An admin lists a product through the running API: the queue's worker sends it from the pool.
    wallet = Account.create()
    subprocess.run([sys.executable, "-m", "backend.app.manage", "role", "fitmint", wallet.address, "admin"],
                   cwd=ROOT, env={**private_stack.env, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True)
    with httpx.Client(base_url=f"http://127.0.0.1:{private_stack.port('BACKEND_PORT')}", timeout=60) as api:
        headers = sign_in_over_http(api, wallet, "fitmint")
        item = list_product(api, headers, name="Queue Band", price_fit="2", supply=3)
    listing = item["product"]["listing"]
    assert item["listing_id"] == 1 and item["product"]["status"] == "listed"
    sender = rpc(private_stack, "eth_getTransactionByHash", listing["tx_hash"])["from"]
    assert sender.lower() in {address.lower() for address in pool}
    [request] = private_stack.sql("SELECT state, signer, mined_hash FROM txqueue_request WHERE requester = 'catalog'",
                                  database=private_stack.env["BACKEND_DATABASE"])
    assert (request["state"], request["signer"], request["mined_hash"]) == ("mined", sender.lower(), listing["tx_hash"])

    # A key running out of ETH is a status line (and a warning in the queue's log); the worker stays healthy.
    low = pool[2]
    rpc(private_stack, "anvil_setBalance", low, hex(ETH // 100))
    wait_until(lambda: f"operator key {low.lower()} holds 0.0100 ETH" in private_stack("status", "txqueue").stdout,
               timeout=30, what="the low balance in make status")
    assert f"operator key {low.lower()} holds 0.0100 ETH, below the funding threshold" in private_stack.log("txqueue")
    assert private_stack("status", "txqueue").returncode == 0

    # `down` stops exactly it.
    group = private_stack.process_group("txqueue")
    assert private_stack("down", "txqueue").returncode == 0
    wait_until(lambda: not any(_alive(pid) for pid in group), timeout=15, what="the queue worker's processes gone")
    assert private_stack("status", "txqueue").returncode != 0 and " down " in status_line(private_stack, "txqueue")
    assert private_stack("status", "api").returncode == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
