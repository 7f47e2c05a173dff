"""`python -m scripts.admin` against a private Anvil deployed by `ape run deploy` (its clock moved past the
timelock's delay): the attestor key rotated as README "Keys and admin" says, step by step."""

import os
import subprocess
import sys

import pytest
from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from fitmint.rewards.vouchers import RewardVoucher, sign_voucher
from tests.support.paths import ROOT
from tests.support.scenario import ScenarioChain
from tests.support.units import FIT


@pytest.fixture
def chain(tmp_path):
    scenario = ScenarioChain(tmp_path / "state")
    yield scenario
    scenario.stop()


def admin_cli(chain, *args, ok=True) -> str:
    env = dict(os.environ, FITMINT_RPC_URL=chain.url, MANIFEST=str(chain.manifest_path))
    result = subprocess.run([sys.executable, "-m", "scripts.admin", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, output
    return output


def claim(chain, signer, account, amount):
    voucher = RewardVoucher(account, amount, keccak(text=f"cli {signer.address} {amount}"), chain.today(), 2**40)
    signature = sign_voucher(voucher, signer.key, chain_id=31337, verifying_contract=chain.rewards.address)
    return chain.send(chain.rewards.functions.claim(voucher.as_tuple(), signature), chain.accounts[9])


def test_attestor_rotation_through_the_cli(chain):
    old, new = chain.attestor, Account.from_key(keccak(text="the new attestor key"))
    member = chain.accounts[3]
    grant = ["grant", "ActivityRewards", "ATTESTOR_ROLE", new.address]

    scheduled = admin_cli(chain, "schedule", *grant)
    assert f"scheduled: grant ActivityRewards.ATTESTOR_ROLE to {new.address}" in scheduled
    assert "ready at" in scheduled and " s" in scheduled
    # The same change again: the same operation, reported, nothing sent.
    height = chain.head()
    assert "already scheduled" in admin_cli(chain, "schedule", *grant) and chain.head() == height
    assert f"grant ActivityRewards.ATTESTOR_ROLE to {new.address}" in admin_cli(chain, "pending")
    not_ready = admin_cli(chain, "execute", *grant, ok=False)
    assert "not ready" in not_ready and "ready at" in not_ready

    chain.mine(seconds=10)  # the local chain's delay
    assert "executed" in admin_cli(chain, "execute", *grant)
    assert chain.rewards.functions.hasRole(keccak(text="ATTESTOR_ROLE"), new.address).call()
    assert "no pending operation" in admin_cli(chain, "pending")

    # The API signs with the new key (FITMINT_ATTESTOR_KEY_FILE): its vouchers pay.
    claim(chain, new, member, 5 * FIT)
    revoke = ["revoke", "ActivityRewards", "ATTESTOR_ROLE", old.address]
    admin_cli(chain, "schedule", *revoke)
    chain.mine(seconds=10)
    assert "executed" in admin_cli(chain, "execute", *revoke)
    with pytest.raises(ContractCustomError) as refused:
        claim(chain, old, member, 3 * FIT)
    # RewardsUnauthorizedAttestor(claimId, signer): the old key's signature is no attestor's any more.
    assert refused.value.data[:10] == "0x" + keccak(text="RewardsUnauthorizedAttestor(bytes32,address)")[:4].hex()
    assert old.address[2:].lower() in refused.value.data
    claim(chain, new, member, 7 * FIT)
    assert chain.token.functions.balanceOf(member).call() == 12 * FIT


def test_cli_refusals_are_clear(chain):
    assert "has no role MINTER_ROLE" in admin_cli(chain, "schedule", "grant", "ActivityRewards", "MINTER_ROLE",
                                                  chain.accounts[4], ok=False)
    assert "has no Treasury" in admin_cli(chain, "schedule", "grant", "Treasury", "MINTER_ROLE", chain.accounts[4],
                                          ok=False)
    assert "not scheduled" in admin_cli(chain, "execute", "grant", "FitToken", "MINTER_ROLE", chain.accounts[4],
                                        ok=False)
    # Only the governor schedules: another account is refused with the timelock's decoded error.
    refused = admin_cli(chain, "schedule", "grant", "FitToken", "MINTER_ROLE", chain.accounts[4],
                        "--from", chain.accounts[5], ok=False)
    assert f"AccessControlUnauthorizedAccount(account={chain.accounts[5]}" in refused
    # A multisig governor: the call to submit is printed, nothing is sent.
    height = chain.head()
    printed = admin_cli(chain, "schedule", "grant", "FitToken", "MINTER_ROLE", chain.accounts[4], "--print")
    schedule_selector = keccak(text="schedule(address,uint256,bytes,bytes32,bytes32,uint256)")[:4].hex()
    assert f"to {chain.manifest.timelock.checksum_address} data 0x{schedule_selector}" in printed
    assert chain.head() == height
    # The governor cancels.
    admin_cli(chain, "schedule", "grant", "FitToken", "MINTER_ROLE", chain.accounts[4])
    assert "cancelled" in admin_cli(chain, "cancel", "grant", "FitToken", "MINTER_ROLE", chain.accounts[4])
    assert "no pending operation" in admin_cli(chain, "pending")
