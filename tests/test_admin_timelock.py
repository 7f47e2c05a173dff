"""The admin timelock: every contract's DEFAULT_ADMIN_ROLE is the timelock's, a role change waits for the
delay, the deployer keeps no power, the guardian only pauses; the attestor and operator keys rotate
through it (the procedures of README "Keys and admin")."""

import ape
import pytest
from eth_utils import keccak

from fitmint.chain.timelock import RoleChange, State, current_operation, role_id
from tests.support.contracts import reverts_with
from tests.support.units import CID, FIT

ADMIN = b"\x00" * 32
CONTRACTS = ("FitToken", "ActivityRewards", "FitItems", "Marketplace")


def test_the_timelock_is_the_only_admin_and_the_deployer_keeps_nothing(deployment, timelock, admin, governor,
                                                                        guardian, alice, governance):
    assert timelock.getMinDelay() == governance.delay
    for name in CONTRACTS:
        contract = deployment[name]
        assert contract.hasRole(ADMIN, timelock), name
        abi_roles = [entry.name for entry in contract.contract_type.abi
                     if entry.type == "function" and entry.name.endswith("_ROLE")]
        for role in abi_roles:
            assert not contract.hasRole(role_id(role), admin), f"the deployer kept {name}.{role}"
        if "PAUSER_ROLE" in abi_roles:
            assert contract.hasRole(role_id("PAUSER_ROLE"), guardian), name
    # The governor proposes and cancels; anyone executes (address(0) is the open executor).
    assert timelock.hasRole(timelock.PROPOSER_ROLE(), governor)
    assert timelock.hasRole(timelock.CANCELLER_ROLE(), governor)
    assert timelock.hasRole(timelock.EXECUTOR_ROLE(), "0x" + "00" * 20)
    assert not timelock.hasRole(timelock.PROPOSER_ROLE(), guardian)
    assert not timelock.hasRole(ADMIN, admin) and timelock.hasRole(ADMIN, timelock)  # it administers itself


def test_the_deployer_cannot_grant_itself_the_minter_role(token, admin):
    with ape.reverts(token.AccessControlUnauthorizedAccount, account=admin.address, neededRole=ADMIN):
        token.grantRole(token.MINTER_ROLE(), admin, sender=admin)


def test_a_role_grant_waits_for_the_delay(token, timelock, timelock_admin, alice, bob, chain):
    operation = timelock_admin.role_operation("grant", token, "MINTER_ROLE", alice)
    timelock_admin.schedule(operation)
    ready_at = timelock.getTimestamp(operation.id)
    assert timelock.getOperationState(operation.id) == State.WAITING

    # One second short of the delay: the timelock refuses, naming the operation and the state it needs.
    chain.mine(timestamp=ready_at - 2)
    with ape.reverts(timelock.TimelockUnexpectedOperationState, operationId=operation.id,
                     expectedStates=(1 << State.READY).to_bytes(32, "big")):
        timelock_admin.execute(operation)
    assert not token.hasRole(token.MINTER_ROLE(), alice)

    chain.mine(timestamp=ready_at)
    assert timelock.getOperationState(operation.id) == State.READY
    tx = timelock_admin.execute(operation, sender=bob)  # open execution: anyone may press the button
    assert tx.decode_logs(token.RoleGranted)[0].account == alice.address
    assert token.hasRole(token.MINTER_ROLE(), alice)
    assert timelock.getOperationState(operation.id) == State.DONE


def test_operation_ids_are_deterministic_and_a_duplicate_is_refused(token, timelock, timelock_admin, alice):
    abi = [entry.model_dump(mode="json", by_alias=True) for entry in token.contract_type.abi]
    change = RoleChange("grant", "FitToken", "MINTER_ROLE", alice.address)
    first, state = current_operation(change, token.address, abi, timelock.getOperationState)
    assert state == State.UNSET
    timelock_admin.schedule(first)
    again, state = current_operation(change, token.address, abi, timelock.getOperationState)
    assert (again.id, state) == (first.id, State.WAITING)  # what the CLI reports instead of scheduling twice
    with ape.reverts(timelock.TimelockUnexpectedOperationState, operationId=first.id,
                     expectedStates=(1 << State.UNSET).to_bytes(32, "big")):
        timelock_admin.schedule(first)
    timelock_admin.wait()
    timelock_admin.execute(first)
    # Done: the same change made again (after a revoke) is the next generation, a new id.
    timelock_admin.revoke(token, "MINTER_ROLE", alice)
    next_time, state = current_operation(change, token.address, abi, timelock.getOperationState)
    assert state == State.UNSET and next_time.id != first.id


def test_the_governor_cancels_and_no_one_else_schedules(token, timelock, timelock_admin, governor, guardian, alice):
    operation = timelock_admin.role_operation("grant", token, "MINTER_ROLE", alice)
    with ape.reverts(timelock.AccessControlUnauthorizedAccount, account=guardian.address,
                     neededRole=timelock.PROPOSER_ROLE()):
        timelock.schedule(*operation.call, timelock.getMinDelay(), sender=guardian)
    timelock_admin.schedule(operation)
    with ape.reverts(timelock.AccessControlUnauthorizedAccount, account=alice.address,
                     neededRole=timelock.CANCELLER_ROLE()):
        timelock.cancel(operation.id, sender=alice)
    timelock.cancel(operation.id, sender=governor)
    timelock_admin.wait()
    with ape.reverts(timelock.TimelockUnexpectedOperationState):
        timelock_admin.execute(operation)
    assert not token.hasRole(token.MINTER_ROLE(), alice)


def test_the_guardian_pauses_at_once_but_administers_nothing(token, rewards, market, guardian):
    for contract in (token, rewards, market):
        contract.pause(sender=guardian)
        assert contract.paused()
        contract.unpause(sender=guardian)
    with ape.reverts(token.AccessControlUnauthorizedAccount, account=guardian.address, neededRole=ADMIN):
        token.grantRole(token.MINTER_ROLE(), guardian, sender=guardian)
    with ape.reverts(market.AccessControlUnauthorizedAccount, account=guardian.address, neededRole=ADMIN):
        market.setFees(0, 0, sender=guardian)


def test_attestor_key_rotation(rewards, token, timelock_admin, make_voucher, attestor, second_attestor, alice, bob):
    """README "Keys and admin", rotating the attestor: grant the new key, switch the API, revoke the old."""
    issued_by_old = make_voucher(alice, 3 * FIT, signer=attestor)  # issued before the switch, not yet claimed
    # 1. The new key gets ATTESTOR_ROLE through the timelock (both keys valid meanwhile).
    timelock_admin.grant(rewards, "ATTESTOR_ROLE", second_attestor.address)
    # 2. The API signs with the new key from now on.
    voucher, signature = make_voucher(alice, 5 * FIT, signer=second_attestor)
    rewards.claim(voucher.as_tuple(), signature, sender=bob)
    # 3. The old key's role is revoked through the timelock: its vouchers are refused from then on.
    tx = timelock_admin.revoke(rewards, "ATTESTOR_ROLE", attestor.address)
    assert tx.decode_logs(rewards.RoleRevoked)[0].account == attestor.address
    old_voucher, old_signature = issued_by_old
    with ape.reverts(rewards.RewardsUnauthorizedAttestor, claimId=old_voucher.claim_id, signer=attestor.address):
        rewards.claim(old_voucher.as_tuple(), old_signature, sender=bob)
    voucher, signature = make_voucher(alice, 7 * FIT, signer=second_attestor)
    rewards.claim(voucher.as_tuple(), signature, sender=bob)
    assert token.balanceOf(alice) == 12 * FIT


def test_operator_key_rotation(deploy_module, deployment, rewards, market, items, timelock_admin, operator, carol,
                               accounts):
    """README "Keys and admin", rotating the operator: each of its roles granted to the new key, then revoked
    from the old one, all through the timelock."""
    new_operator = accounts[7]
    roles = [(name.split(".")[1], contract) for name, contract, _ in deploy_module.operator_roles(deployment)]
    for role, contract in roles:
        timelock_admin.grant(contract, role, new_operator)
    for role, contract in roles:
        timelock_admin.revoke(contract, role, operator)

    epoch = rewards.currentEpoch()
    with ape.reverts(rewards.AccessControlUnauthorizedAccount, account=operator.address,
                     neededRole=rewards.OPERATOR_ROLE()):
        rewards.postEpochRoot(epoch, keccak(text="root"), FIT, sender=operator)
    with ape.reverts(market.AccessControlUnauthorizedAccount, account=operator.address,
                     neededRole=market.LISTER_ROLE()):
        market.createListing(1, FIT, 10, CID, carol, sender=operator)
    with ape.reverts(items.AccessControlUnauthorizedAccount, account=operator.address,
                     neededRole=items.METADATA_ROLE()):
        items.setCid(1, CID, sender=operator)
    rewards.postEpochRoot(epoch, keccak(text="root"), FIT, sender=new_operator)
    market.createListing(1, FIT, 10, CID, carol, sender=new_operator)
    items.setCid(2, CID, sender=new_operator)


def test_an_admin_call_through_the_timelock_bubbles_its_custom_error(market, timelock_admin):
    with reverts_with("MarketInvalidFees", feeBps=5_000, burnBps=1):
        timelock_admin.call(market, "setFees", 5_000, 1)


@pytest.mark.parametrize("role", ["NOT_A_ROLE", "MINTER_ROLE"])
def test_a_role_the_contract_does_not_have_is_refused_before_scheduling(rewards, role):
    abi = [entry.model_dump(mode="json", by_alias=True) for entry in rewards.contract_type.abi]
    with pytest.raises(ValueError, match=f"ActivityRewards has no role {role}"):
        current_operation(RoleChange("grant", "ActivityRewards", role, "0x" + "11" * 20), rewards.address, abi,
                          lambda _: State.UNSET)
