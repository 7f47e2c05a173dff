"""FitToken: capped, burnable, pausable ERC-20 with EIP-2612 permit; only minters mint."""

import ape
import pytest
from eth_account import Account

from tests.support.contracts import permit_signature
from tests.support.units import FIT

ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture
def minter(accounts, token, timelock_admin):
    """An extra minter, so token rules are tested apart from the rewards contract's (granted through the
    admin timelock: tests/support/roles.py)."""
    account = accounts[6]
    timelock_admin.grant(token, "MINTER_ROLE", account)
    return account


def test_metadata_and_cap(token, params):
    assert token.name() == "Fitmint"
    assert token.symbol() == "FIT"
    assert token.decimals() == 18
    assert token.cap() == params.supply_cap
    assert token.totalSupply() == 0


def test_constructor_rejects_zero_admin(project, admin):
    with ape.reverts(project.FitToken.FitTokenInvalidAdmin, admin=ZERO):
        admin.deploy(project.FitToken, ZERO, 100 * FIT)


def test_constructor_rejects_zero_cap(project, admin):
    with ape.reverts(project.FitToken.ERC20InvalidCap, cap=0):
        admin.deploy(project.FitToken, admin, 0)


def test_minter_mints_and_emits_transfer(token, minter, alice):
    tx = token.mint(alice, 5 * FIT, sender=minter)
    assert token.balanceOf(alice) == 5 * FIT
    assert token.totalSupply() == 5 * FIT
    [log] = tx.decode_logs(token.Transfer)
    assert (log["from"], log.to, log.value) == (ZERO, alice.address, 5 * FIT)


def test_only_minter_role_mints(token, alice, admin):
    role = token.MINTER_ROLE()
    with ape.reverts(token.AccessControlUnauthorizedAccount, account=alice.address, neededRole=role):
        token.mint(alice, 1, sender=alice)
    # Nor does the deployer: it handed admin to the timelock and kept no role.
    with ape.reverts(token.AccessControlUnauthorizedAccount, account=admin.address, neededRole=role):
        token.mint(alice, 1, sender=admin)


def test_minting_beyond_cap_reverts(token, minter, alice, params):
    token.mint(alice, params.supply_cap - 1, sender=minter)
    with ape.reverts(token.ERC20ExceededCap, increasedSupply=params.supply_cap + 1, cap=params.supply_cap):
        token.mint(alice, 2, sender=minter)
    token.mint(alice, 1, sender=minter)
    assert token.totalSupply() == token.cap()


def test_burn_and_burn_from(token, minter, alice, bob):
    token.mint(alice, 10 * FIT, sender=minter)
    token.burn(3 * FIT, sender=alice)
    assert token.totalSupply() == 7 * FIT
    with ape.reverts(token.ERC20InsufficientAllowance, spender=bob.address, allowance=0, needed=FIT):
        token.burnFrom(alice, FIT, sender=bob)
    token.approve(bob, 2 * FIT, sender=alice)
    token.burnFrom(alice, 2 * FIT, sender=bob)
    assert token.balanceOf(alice) == 5 * FIT
    assert token.allowance(alice, bob) == 0


def test_pause_blocks_every_balance_change(token, minter, guardian, alice, bob):
    token.mint(alice, 10 * FIT, sender=minter)
    tx = token.pause(sender=guardian)
    assert tx.decode_logs(token.Paused)[0].account == guardian.address
    with ape.reverts(token.EnforcedPause):
        token.transfer(bob, FIT, sender=alice)
    with ape.reverts(token.EnforcedPause):
        token.mint(alice, FIT, sender=minter)
    with ape.reverts(token.EnforcedPause):
        token.burn(FIT, sender=alice)
    token.unpause(sender=guardian)
    token.transfer(bob, FIT, sender=alice)
    assert token.balanceOf(bob) == FIT


def test_only_pauser_pauses(token, alice):
    with ape.reverts(token.AccessControlUnauthorizedAccount, account=alice.address, neededRole=token.PAUSER_ROLE()):
        token.pause(sender=alice)


def test_permit_sets_allowance_without_a_transaction_from_owner(token, chain, bob):
    owner = Account.from_key(b"\x11" * 32)
    deadline = chain.pending_timestamp + 600
    v, r, s = permit_signature(token, owner.key, owner.address, bob.address, 7 * FIT, 0, deadline, chain.chain_id)
    token.permit(owner.address, bob, 7 * FIT, deadline, v, r, s, sender=bob)
    assert token.allowance(owner.address, bob) == 7 * FIT
    assert token.nonces(owner.address) == 1
    # The same signature cannot be used twice: the nonce moved on, so it recovers another signer.
    with ape.reverts(token.ERC2612InvalidSigner):
        token.permit(owner.address, bob, 7 * FIT, deadline, v, r, s, sender=bob)


def test_expired_permit_reverts(token, chain, bob):
    owner = Account.from_key(b"\x12" * 32)
    deadline = chain.pending_timestamp - 1
    v, r, s = permit_signature(token, owner.key, owner.address, bob.address, FIT, 0, deadline, chain.chain_id)
    with ape.reverts(token.ERC2612ExpiredSignature, deadline=deadline):
        token.permit(owner.address, bob, FIT, deadline, v, r, s, sender=bob)


def test_permit_signed_by_someone_else_reverts(token, chain, bob):
    owner = Account.from_key(b"\x13" * 32)
    impostor = Account.from_key(b"\x14" * 32)
    deadline = chain.pending_timestamp + 600
    v, r, s = permit_signature(token, impostor.key, owner.address, bob.address, FIT, 0, deadline, chain.chain_id)
    with ape.reverts(token.ERC2612InvalidSigner, signer=impostor.address, owner=owner.address):
        token.permit(owner.address, bob, FIT, deadline, v, r, s, sender=bob)
