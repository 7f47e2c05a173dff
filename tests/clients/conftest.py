"""Fixtures for the client tests (SDKs, the reference dApp): everything goes to `make up`'s stack - its API
over HTTP, its Anvil, its indexer - as a wallet app or a dApp would; the only side door is the operator's
(`python -m backend.app.manage role`, which makes the catalog admin that lists an item)."""

import os
import subprocess
import sys
import uuid

import httpx
import pytest
from eth_account import Account

from tests.support.paths import ROOT
from tests.support.stackclient import fund_gas, list_product, sign_in_over_http
from tests.support.stackenv import stack_settings


@pytest.fixture(scope="session")
def stack(running_stack_settings):
    return running_stack_settings


@pytest.fixture(scope="session")
def running_stack_settings():
    """Fails (does not skip) when the stack is down: these tests prove the real services."""
    settings = stack_settings()
    status = subprocess.run([str(ROOT / "scripts" / "stack" / "stack.sh"), "status"], env=settings,
                            capture_output=True, text=True)
    assert status.returncode == 0, \
        f"the local stack is not healthy; run `make up` first:\n{status.stdout}{status.stderr}"
    return settings


@pytest.fixture(scope="session")
def api_url(stack) -> str:
    return f"http://127.0.0.1:{stack['BACKEND_PORT']}"


@pytest.fixture(scope="session")
def rpc_url(stack) -> str:
    return stack["FITMINT_RPC_URL"]


@pytest.fixture(scope="session")
def api(api_url):
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def catalog_admin(api, stack):
    """A wallet made admin of the stack's default tenant the way an operator does it; its header."""
    wallet = Account.create()
    sign_in_over_http(api, wallet)  # the member exists once signed in
    subprocess.run([sys.executable, "-m", "backend.app.manage", "role", "fitmint", wallet.address, "admin"],
                   cwd=ROOT, env={**os.environ, **stack}, check=True, capture_output=True)
    return sign_in_over_http(api, wallet)


@pytest.fixture
def listed_item(api, catalog_admin):
    """A fresh primary listing of a new catalog item: 1.5 FIT each, 5 in supply."""
    return list_product(api, catalog_admin, name=f"Test Band {uuid.uuid4().hex[:6]}", price_fit="1.5", supply=5)


@pytest.fixture
def wallet(rpc_url):
    """A new member wallet with 1 ETH for gas (and no FIT: it earns them by working out)."""
    account = Account.create()
    fund_gas(rpc_url, account.address)
    return account
