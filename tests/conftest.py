"""Fixtures: the four contracts deployed and wired as `scripts/deploy.py` does, on Anvil.

Roles: `admin` deploys and administers, `attestor` signs vouchers (an off-chain key, like the
backend's), `operator` posts Merkle roots and lists catalog items, `treasury` takes fees, `alice`,
`bob` and `carol` are users. Ape reverts the chain after every test.
"""

import pytest
from eth_account import Account
from eth_utils import keccak

from fitmint.rewards.vouchers import RewardVoucher, sign_voucher
from tests.support.contracts import load_deploy_module
from tests.support.processes import stop_all
from tests.support.units import DAY, FIT


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_session():
    """Whatever a failed test or fixture left running (bench/processes.py remembers it) is stopped."""
    yield
    stop_all()


@pytest.fixture(scope="session")
def deploy_module():
    return load_deploy_module()


@pytest.fixture(scope="session")
def params(deploy_module):
    return deploy_module.DeployParameters()


@pytest.fixture(scope="session")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def operator(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def treasury(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def alice(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def bob(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def carol(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def attestor():
    return Account.from_key(keccak(text="fitmint test attestor"))


@pytest.fixture(scope="session")
def second_attestor():
    return Account.from_key(keccak(text="fitmint second attestor"))


@pytest.fixture(scope="session")
def outsider_key():
    return Account.from_key(keccak(text="not an attestor"))


@pytest.fixture(scope="session")
def deployment(deploy_module, admin, attestor, operator, treasury, params):
    _, contracts = deploy_module.deploy_stack(
        admin, attestors=[attestor.address], operators=[operator.address], treasury=treasury.address, params=params
    )
    return contracts


@pytest.fixture(scope="session")
def token(deployment):
    return deployment["FitToken"]


@pytest.fixture(scope="session")
def rewards(deployment):
    return deployment["ActivityRewards"]


@pytest.fixture(scope="session")
def items(deployment):
    return deployment["FitItems"]


@pytest.fixture(scope="session")
def market(deployment):
    return deployment["Marketplace"]


@pytest.fixture
def make_voucher(chain, rewards, attestor):
    """Factory: a signed voucher (voucher tuple, signature), varying one input at a time. `day` (the UTC
    day the voucher is charged to) defaults to the pending block's day."""
    counter = iter(range(1, 10**9))

    def make(account, amount=10 * FIT, claim_id=None, deadline=None, signer=None, chain_id=None, contract=None,
             day=None):
        voucher = RewardVoucher(
            account=account.address if hasattr(account, "address") else account,
            amount=amount,
            claim_id=claim_id or keccak(text=f"claim-{next(counter)}"),
            day=day if day is not None else chain.pending_timestamp // DAY,
            deadline=deadline if deadline is not None else chain.pending_timestamp + 3_600,
        )
        signature = sign_voucher(
            voucher,
            (signer or attestor).key,
            chain_id=chain_id if chain_id is not None else chain.chain_id,
            verifying_contract=contract or rewards.address,
        )
        return voucher, signature

    return make


@pytest.fixture
def claim(rewards, make_voucher, bob):
    """Redeems a fresh voucher for `account` (submitted by bob, as a relayer would) and returns the receipt."""

    def do_claim(account, amount=10 * FIT, sender=None, **kwargs):
        voucher, signature = make_voucher(account, amount, **kwargs)
        return rewards.claim(voucher.as_tuple(), signature, sender=sender or bob)

    return do_claim


@pytest.fixture
def fund(claim, token, market, chain, params):
    """Gives `account` FIT through real voucher claims and approves the marketplace for all of it."""

    def do_fund(account, amount):
        remaining = amount
        while remaining > 0:
            step = min(remaining, params.daily_cap)
            claim(account, step)
            remaining -= step
            if remaining:
                chain.mine(deltatime=DAY)
        token.approve(market, 2**256 - 1, sender=account)

    return do_fund
