"""Fixtures: the four contracts deployed and wired as `scripts/deploy.py` does, on Anvil.

Roles: `admin` deploys, then hands DEFAULT_ADMIN_ROLE to the `timelock` and stays its `governor` (it
schedules admin changes; `timelock_admin` schedules, waits out the delay and executes them), `guardian`
pauses, `attestor` signs vouchers (an off-chain key, like the backend's), `operator` posts Merkle roots
and lists catalog items, `treasury` takes fees, `alice`, `bob` and `carol` are users. Ape reverts the
chain after every test.
"""

import pytest
from eth_account import Account
from eth_utils import keccak

from fitmint.rewards.vouchers import RewardVoucher, sign_voucher
from tests.support.contracts import load_deploy_module
from tests.support.processes import stop_all
from tests.support.roles import ApeTimelockAdmin
from tests.support.units import DAY, FIT

# The recommend venv runs these (`make test-recommend`): Feast and implicit need numpy 2, Ape numpy 1. The chaos
# suite is its own root too (`make chaos`: minutes of faults under load, called by CI).
collect_ignore = ["recommend", "chaos"]


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
def governor(admin):
    """The deployer stays the timelock's governor, as `ape run deploy` sets it up by default."""
    return admin


@pytest.fixture(scope="session")
def guardian(accounts):
    return accounts[9]


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
def governance(deploy_module, governor, guardian):
    """The local chain's delay (the one `make up` deploys with): tests wait it out by moving the clock."""
    return deploy_module.Governance(governor.address, guardian.address, deploy_module.LOCAL_TIMELOCK_DELAY)


@pytest.fixture(scope="session")
def deployment(deploy_module, admin, attestor, operator, treasury, params, governance):
    _, contracts = deploy_module.deploy_stack(
        admin, attestors=[attestor.address], operators=[operator.address], treasury=treasury.address, params=params,
        governance=governance,
    )
    return contracts


@pytest.fixture(scope="session")
def timelock(deployment):
    return deployment["AdminTimelock"]


@pytest.fixture(scope="session")
def timelock_admin(timelock, governor, chain):
    return ApeTimelockAdmin(timelock, governor, chain)


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
