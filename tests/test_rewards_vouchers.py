"""ActivityRewards voucher mode: EIP-712 vouchers signed by attestors, single and batch claims,
the per-account daily cap, attestor rotation and pause."""

import ape
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from backend.rewards.vouchers import RewardVoucher, recover_signer, sign_voucher, typed_data
from chain_helpers import DAY, FIT, reverts_with

ZERO = "0x0000000000000000000000000000000000000000"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def onchain_signer(rewards, voucher, signature):
    """Who the contract recovers from `signature` over its own digest of `voucher`."""
    return Account._recover_hash(bytes(rewards.hashVoucher(voucher.as_tuple())), signature=signature)


def test_contract_digest_matches_eip712_typed_data(rewards, chain, alice):
    voucher = RewardVoucher(alice.address, 3 * FIT, keccak(text="digest"), 1_900_000_000)
    message = encode_typed_data(full_message=typed_data(voucher, chain_id=chain.chain_id, verifying_contract=rewards.address))
    expected = keccak(b"\x19" + message.version + message.header + message.body)
    assert bytes(rewards.hashVoucher(voucher.as_tuple())) == expected


def test_claim_mints_to_the_voucher_account_and_emits(rewards, token, make_voucher, attestor, alice, bob, params):
    voucher, signature = make_voucher(alice, 25 * FIT)
    tx = rewards.claim(voucher.as_tuple(), signature, sender=bob)  # bob relays alice's voucher

    assert token.balanceOf(alice) == 25 * FIT
    assert token.balanceOf(bob) == 0
    [claimed] = tx.decode_logs(rewards.RewardClaimed)
    assert bytes(claimed.claimId) == voucher.claim_id
    assert claimed.account == alice.address
    assert claimed.attestor == attestor.address
    assert claimed.amount == 25 * FIT
    assert claimed.epoch == rewards.currentEpoch()
    [minted] = tx.decode_logs(token.Transfer)
    assert (minted["from"], minted.to, minted.value) == (ZERO, alice.address, 25 * FIT)
    assert rewards.isClaimPaid(voucher.claim_id)
    assert rewards.dailyRemaining(alice) == params.daily_cap - 25 * FIT
    assert rewards.epochEmitted(rewards.currentEpoch()) == 25 * FIT


def test_replayed_claim_id_reverts(rewards, make_voucher, alice, bob):
    voucher, signature = make_voucher(alice)
    rewards.claim(voucher.as_tuple(), signature, sender=bob)
    with ape.reverts(rewards.RewardsClaimAlreadyPaid, claimId=voucher.claim_id):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    # A fresh signature over the same claim id (say, for a larger amount) is refused as well.
    bigger, bigger_signature = make_voucher(alice, 50 * FIT, claim_id=voucher.claim_id)
    with ape.reverts(rewards.RewardsClaimAlreadyPaid, claimId=voucher.claim_id):
        rewards.claim(bigger.as_tuple(), bigger_signature, sender=bob)


def test_expired_voucher_reverts(rewards, make_voucher, chain, alice, bob):
    voucher, signature = make_voucher(alice, deadline=chain.pending_timestamp + 60)
    chain.mine(deltatime=120)
    with ape.reverts(rewards.RewardsVoucherExpired, claimId=voucher.claim_id, deadline=voucher.deadline):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_zero_amount_reverts(rewards, make_voucher, alice, bob):
    voucher, signature = make_voucher(alice, 0)
    with ape.reverts(rewards.RewardsZeroAmount, claimId=voucher.claim_id):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_zero_account_reverts(rewards, make_voucher, bob):
    voucher, signature = make_voucher(ZERO)
    with ape.reverts(rewards.RewardsInvalidAccount, claimId=voucher.claim_id):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_signer_without_attestor_role_reverts(rewards, make_voucher, outsider_key, alice, bob):
    voucher, signature = make_voucher(alice, signer=outsider_key)
    with ape.reverts(rewards.RewardsUnauthorizedAttestor, claimId=voucher.claim_id, signer=outsider_key.address):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)


@pytest.mark.parametrize("domain", ["chain", "contract"])
def test_signature_for_another_domain_reverts(rewards, token, make_voucher, attestor, chain, alice, bob, domain):
    if domain == "chain":
        voucher, signature = make_voucher(alice, chain_id=1)
    else:
        voucher, signature = make_voucher(alice, contract=token.address)
    # Off-chain, that signature is the attestor's for its own domain...
    assert recover_signer(
        voucher,
        signature,
        chain_id=1 if domain == "chain" else chain.chain_id,
        verifying_contract=token.address if domain == "contract" else rewards.address,
    ) == attestor.address
    # ...but over this contract's domain it recovers to some unrelated address.
    stranger = onchain_signer(rewards, voucher, signature)
    assert stranger != attestor.address
    with ape.reverts(rewards.RewardsUnauthorizedAttestor, claimId=voucher.claim_id, signer=stranger):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_malleable_signature_reverts(rewards, make_voucher, alice, bob):
    voucher, signature = make_voucher(alice)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    flipped_s = (SECP256K1_N - s).to_bytes(32, "big")
    twin = r + flipped_s + bytes([55 - v])  # 27 <-> 28: the same point, the other s
    with ape.reverts(rewards.ECDSAInvalidSignatureS, s=flipped_s):
        rewards.claim(voucher.as_tuple(), twin, sender=bob)
    assert not rewards.isClaimPaid(voucher.claim_id)


def test_malformed_signature_reverts(rewards, make_voucher, alice, bob):
    voucher, signature = make_voucher(alice)
    with ape.reverts(rewards.ECDSAInvalidSignatureLength, length=64):
        rewards.claim(voucher.as_tuple(), signature[:64], sender=bob)


def test_daily_cap_per_account(rewards, claim, make_voucher, chain, token, alice, bob, carol, params):
    claim(alice, params.daily_cap - 100 * FIT)
    voucher, signature = make_voucher(alice, 101 * FIT, deadline=chain.pending_timestamp + 2 * DAY)
    with ape.reverts(rewards.RewardsDailyCapExceeded, account=alice.address, requested=101 * FIT, available=100 * FIT):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    # The cap is per account: carol is unaffected.
    claim(carol, params.daily_cap)
    # The next UTC day the allowance is whole again, and the refused voucher (not burnt) now works.
    chain.mine(deltatime=DAY)
    assert rewards.dailyRemaining(alice) == params.daily_cap
    rewards.claim(voucher.as_tuple(), signature, sender=bob)
    assert token.balanceOf(alice) == params.daily_cap + FIT


def test_admin_changes_daily_cap(rewards, admin, alice, params):
    tx = rewards.setDailyCap(5 * FIT, sender=admin)
    [log] = tx.decode_logs(rewards.DailyCapUpdated)
    assert (log.previousCap, log.newCap) == (params.daily_cap, 5 * FIT)
    assert rewards.dailyCap() == 5 * FIT
    with ape.reverts(rewards.RewardsInvalidDailyCap, cap=0):
        rewards.setDailyCap(0, sender=admin)
    with ape.reverts(rewards.AccessControlUnauthorizedAccount, account=alice.address, neededRole=b"\x00" * 32):
        rewards.setDailyCap(1, sender=alice)


def test_batch_claim_pays_every_voucher(rewards, token, make_voucher, accounts, bob):
    receivers = list(accounts[3:8]) * 2
    signed = [make_voucher(account, (i + 1) * FIT) for i, account in enumerate(receivers)]
    tx = rewards.claimBatch([v.as_tuple() for v, _ in signed], [sig for _, sig in signed], sender=bob)

    logs = tx.decode_logs(rewards.RewardClaimed)
    assert [bytes(log.claimId) for log in logs] == [v.claim_id for v, _ in signed]
    assert all(rewards.isClaimPaid(v.claim_id) for v, _ in signed)
    for i, account in enumerate(accounts[3:8]):
        assert token.balanceOf(account) == (i + 1) * FIT + (i + 6) * FIT
    assert rewards.epochEmitted(rewards.currentEpoch()) == sum(range(1, 11)) * FIT


def test_batch_is_atomic_and_names_the_bad_voucher(rewards, token, make_voucher, chain, alice, bob, carol):
    good = make_voucher(alice, 5 * FIT)
    expired = make_voucher(carol, 5 * FIT, deadline=chain.pending_timestamp - 1)
    with ape.reverts(rewards.RewardsVoucherExpired, claimId=expired[0].claim_id):
        rewards.claimBatch([good[0].as_tuple(), expired[0].as_tuple()], [good[1], expired[1]], sender=bob)
    assert token.totalSupply() == 0
    assert not rewards.isClaimPaid(good[0].claim_id)


def test_batch_with_a_duplicate_claim_id_reverts(rewards, make_voucher, alice, bob):
    voucher, signature = make_voucher(alice)
    with ape.reverts(rewards.RewardsClaimAlreadyPaid, claimId=voucher.claim_id):
        rewards.claimBatch([voucher.as_tuple()] * 2, [signature] * 2, sender=bob)


def test_batch_counts_the_daily_cap_across_its_vouchers(rewards, make_voucher, alice, bob, params):
    half = params.daily_cap // 2
    signed = [make_voucher(alice, half), make_voucher(alice, half), make_voucher(alice, 1)]
    with ape.reverts(rewards.RewardsDailyCapExceeded, account=alice.address, requested=1, available=0):
        rewards.claimBatch([v.as_tuple() for v, _ in signed], [s for _, s in signed], sender=bob)


def test_batch_shape_errors(rewards, make_voucher, alice, bob):
    with ape.reverts(rewards.RewardsEmptyBatch):
        rewards.claimBatch([], [], sender=bob)
    voucher, signature = make_voucher(alice)
    with ape.reverts(rewards.RewardsBatchLengthMismatch, vouchers=2, signatures=1):
        rewards.claimBatch([voucher.as_tuple()] * 2, [signature], sender=bob)


def test_attestors_rotate_without_downtime(rewards, make_voucher, admin, attestor, second_attestor, alice, bob):
    role = rewards.ATTESTOR_ROLE()
    rewards.grantRole(role, second_attestor.address, sender=admin)
    # Both attestors are valid at once during the rotation.
    for signer in (attestor, second_attestor):
        voucher, signature = make_voucher(alice, signer=signer)
        rewards.claim(voucher.as_tuple(), signature, sender=bob)

    tx = rewards.revokeRole(role, attestor.address, sender=admin)
    assert tx.decode_logs(rewards.RoleRevoked)[0].account == attestor.address
    voucher, signature = make_voucher(alice, signer=attestor)
    with ape.reverts(rewards.RewardsUnauthorizedAttestor, claimId=voucher.claim_id, signer=attestor.address):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    voucher, signature = make_voucher(alice, signer=second_attestor)
    rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_only_admin_manages_attestors(rewards, alice, outsider_key):
    with ape.reverts(rewards.AccessControlUnauthorizedAccount, account=alice.address, neededRole=b"\x00" * 32):
        rewards.grantRole(rewards.ATTESTOR_ROLE(), outsider_key.address, sender=alice)


def test_pause_stops_claims(rewards, make_voucher, admin, alice, bob):
    voucher, signature = make_voucher(alice)
    rewards.pause(sender=admin)
    with ape.reverts(rewards.EnforcedPause):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    with ape.reverts(rewards.AccessControlUnauthorizedAccount, account=alice.address, neededRole=rewards.PAUSER_ROLE()):
        rewards.unpause(sender=alice)
    rewards.unpause(sender=admin)
    rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_paused_token_stops_claims_too(rewards, token, make_voucher, admin, alice, bob):
    voucher, signature = make_voucher(alice)
    token.pause(sender=admin)
    assert not rewards.paused()
    with reverts_with("EnforcedPause"):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_deployed_wiring(rewards, token, attestor, operator, params):
    assert rewards.token() == token.address
    assert token.hasRole(token.MINTER_ROLE(), rewards)
    assert rewards.hasRole(rewards.ATTESTOR_ROLE(), attestor.address)
    assert rewards.hasRole(rewards.OPERATOR_ROLE(), operator)
    assert rewards.dailyCap() == params.daily_cap
    genesis, duration, budget, halving = rewards.schedule()
    assert (duration, budget, halving) == (params.epoch_duration, params.initial_epoch_budget, params.halving_epochs)


def test_signing_helper_round_trips(chain, rewards, attestor, alice):
    voucher = RewardVoucher(alice.address, FIT, keccak(text="round trip"), 2_000_000_000)
    signature = sign_voucher(voucher, attestor.key, chain_id=chain.chain_id, verifying_contract=rewards.address)
    assert onchain_signer(rewards, voucher, signature) == attestor.address
    with pytest.raises(ValueError):
        RewardVoucher(alice.address, FIT, b"short", 0)
