"""ActivityRewards voucher mode: EIP-712 vouchers signed by attestors, single and batch claims,
the per-account daily cap charged to the day each voucher names, attestor rotation and pause."""

import ape
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from fitmint.rewards.vouchers import RewardVoucher, recover_signer, sign_voucher, typed_data, voucher_digest
from tests.support.contracts import reverts_with
from tests.support.units import DAY, FIT, HOUR

ZERO = "0x0000000000000000000000000000000000000000"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture
def day_start(chain):
    """Moves the chain to 01:00 UTC of the next day and returns that day's number (unix time // 86400),
    so a test has the rest of the day ahead of it."""
    day = chain.pending_timestamp // DAY + 1
    chain.pending_timestamp = day * DAY + HOUR
    chain.mine()
    return day


def at(chain, day, hour):
    """Moves the chain to `hour`:00 UTC of `day` (forwards only)."""
    target = day * DAY + hour * HOUR
    assert target > chain.pending_timestamp, "at() only moves forwards"
    chain.pending_timestamp = target
    chain.mine()


def onchain_signer(rewards, voucher, signature):
    """Who the contract recovers from `signature` over its own digest of `voucher`."""
    return Account._recover_hash(bytes(rewards.hashVoucher(voucher.as_tuple())), signature=signature)


def test_contract_digest_matches_eip712_typed_data(rewards, chain, alice):
    voucher = RewardVoucher(alice.address, 3 * FIT, keccak(text="digest"), 21_990, 1_900_000_000)
    message = encode_typed_data(
        full_message=typed_data(voucher, chain_id=chain.chain_id, verifying_contract=rewards.address))
    expected = keccak(b"\x19" + message.version + message.header + message.body)
    assert bytes(rewards.hashVoucher(voucher.as_tuple())) == expected
    # The attestor's quick path (fitmint/chain/eip712.py StaticStruct) hashes it to the same digest.
    assert voucher_digest(voucher, chain_id=chain.chain_id, verifying_contract=rewards.address) == expected


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
    assert rewards.dailyRemaining(alice, voucher.day) == params.daily_cap - 25 * FIT
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


def test_claim_ids_sharing_a_bitmap_word_are_paid_independently(rewards, make_voucher, alice, bob):
    # Ids 255 and 256 straddle a word boundary, 256-258 share a word: each is paid once, its neighbours stay unpaid.
    ids = [n.to_bytes(32, "big") for n in (255, 256, 258)]
    for claim_id in ids:
        voucher, signature = make_voucher(alice, claim_id=claim_id)
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    assert all(rewards.isClaimPaid(claim_id) for claim_id in ids)
    assert not any(rewards.isClaimPaid(n.to_bytes(32, "big")) for n in (254, 257, 259, 2**255 + 256))
    voucher, signature = make_voucher(alice, claim_id=ids[1])
    with ape.reverts(rewards.RewardsClaimAlreadyPaid, claimId=ids[1]):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    neighbour, signature = make_voucher(alice, claim_id=(257).to_bytes(32, "big"))
    rewards.claim(neighbour.as_tuple(), signature, sender=bob)
    assert rewards.isClaimPaid(neighbour.claim_id)


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


def test_daily_cap_per_account(rewards, claim, make_voucher, chain, token, day_start, alice, bob, carol, params):
    day = day_start
    claim(alice, params.daily_cap - 100 * FIT)
    voucher, signature = make_voucher(alice, 101 * FIT, deadline=chain.pending_timestamp + 2 * DAY)
    with ape.reverts(rewards.RewardsDailyCapExceeded, account=alice.address, requested=101 * FIT, available=100 * FIT):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    # The cap is per account: carol is unaffected.
    claim(carol, params.daily_cap)
    # The next UTC day the refused voucher (not burnt) is still charged to its own, full day...
    at(chain, day + 1, 1)
    with ape.reverts(rewards.RewardsDailyCapExceeded, account=alice.address, requested=101 * FIT, available=100 * FIT):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    # ...while the new day's allowance is whole.
    assert rewards.dailyRemaining(alice, day + 1) == params.daily_cap
    claim(alice, params.daily_cap)
    assert token.balanceOf(alice) == 2 * params.daily_cap - 100 * FIT


def test_a_third_party_cannot_make_a_member_lose_an_older_voucher(
    rewards, token, make_voucher, chain, day_start, alice, bob, carol, params
):
    """Issue 13, item 8. Alice holds voucher A (day D, issued late on D) and voucher B (day D + 1, issued
    early on D + 1), both for the whole daily cap and valid 24 h. Carol, who got hold of B, submits it
    first on D + 1: A is charged to D, not to the day it is redeemed, so it still pays."""
    cap, day = params.daily_cap, day_start
    at(chain, day, 22)
    older, older_signature = make_voucher(alice, cap, day=day, deadline=chain.pending_timestamp + DAY)
    at(chain, day + 1, 0)
    newer, newer_signature = make_voucher(alice, cap, day=day + 1, deadline=chain.pending_timestamp + DAY)

    rewards.claim(newer.as_tuple(), newer_signature, sender=carol)
    assert rewards.dailyRemaining(alice, day + 1) == 0
    assert rewards.dailyRemaining(alice, day) == cap
    at(chain, day + 1, 9)
    tx = rewards.claim(older.as_tuple(), older_signature, sender=bob)

    assert [bytes(log.claimId) for log in tx.decode_logs(rewards.RewardClaimed)] == [older.claim_id]
    assert token.balanceOf(alice) == 2 * cap
    assert token.balanceOf(carol) == 0
    assert (rewards.dailyRemaining(alice, day), rewards.dailyRemaining(alice, day + 1)) == (0, 0)


def test_yesterdays_voucher_is_redeemed_and_charged_to_yesterday(
    rewards, token, make_voucher, chain, day_start, alice, bob, params
):
    day = day_start
    voucher, signature = make_voucher(alice, 300 * FIT, day=day, deadline=chain.pending_timestamp + 2 * DAY)
    at(chain, day + 1, 23)
    rewards.claim(voucher.as_tuple(), signature, sender=bob)
    assert token.balanceOf(alice) == 300 * FIT
    assert rewards.dailyRemaining(alice, day) == params.daily_cap - 300 * FIT
    assert rewards.dailyRemaining(alice, day + 1) == params.daily_cap


def test_voucher_two_days_old_reverts(rewards, make_voucher, chain, day_start, alice, bob):
    day = day_start
    voucher, signature = make_voucher(alice, day=day, deadline=chain.pending_timestamp + 3 * DAY)
    at(chain, day + 2, 0)
    with ape.reverts(rewards.RewardsVoucherDayOutOfRange, claimId=voucher.claim_id, day=day, today=day + 2):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    assert not rewards.isClaimPaid(voucher.claim_id)


@pytest.mark.parametrize("days_ahead", [1, 2**200])  # 2**200: no overflow in the range check
def test_voucher_for_a_future_day_reverts(rewards, make_voucher, chain, day_start, alice, bob, days_ahead):
    day = day_start
    voucher, signature = make_voucher(alice, day=day + days_ahead)
    with ape.reverts(rewards.RewardsVoucherDayOutOfRange, claimId=voucher.claim_id, day=day + days_ahead, today=day):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_expiry_is_checked_before_the_day(rewards, make_voucher, chain, day_start, alice, bob):
    """ERC20Permit's order: a voucher both expired and out of its days reports the deadline."""
    day = day_start
    voucher, signature = make_voucher(alice, day=day, deadline=chain.pending_timestamp + HOUR)
    at(chain, day + 2, 12)
    with ape.reverts(rewards.RewardsVoucherExpired, claimId=voucher.claim_id, deadline=voucher.deadline):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)


# The cap is kept in one slot per account: the latest day charged, its usage and the day before's.
# Each case of that slot: charging the same day, the day before it, the next day (the latest day becomes
# the previous one) and a later day (the previous day starts empty).


def test_cap_same_day(rewards, claim, make_voucher, day_start, alice, bob, params):
    day = day_start
    claim(alice, params.daily_cap - 100 * FIT, day=day)
    claim(alice, 60 * FIT, day=day)
    voucher, signature = make_voucher(alice, 41 * FIT, day=day)
    with ape.reverts(rewards.RewardsDailyCapExceeded, account=alice.address, requested=41 * FIT, available=40 * FIT):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    claim(alice, 40 * FIT, day=day)
    assert rewards.dailyRemaining(alice, day) == 0


def test_cap_previous_day_after_the_slot_moved_on(rewards, claim, make_voucher, chain, day_start, alice, bob, params):
    day = day_start
    claim(alice, 600 * FIT, day=day)
    at(chain, day + 1, 1)
    claim(alice, 300 * FIT, day=day + 1)  # the slot now holds day + 1, and day as its previous day
    late, late_signature = make_voucher(alice, 401 * FIT, day=day)
    with ape.reverts(rewards.RewardsDailyCapExceeded, account=alice.address, requested=401 * FIT, available=400 * FIT):
        rewards.claim(late.as_tuple(), late_signature, sender=bob)
    claim(alice, 400 * FIT, day=day)  # charged to the previous day...
    assert rewards.dailyRemaining(alice, day) == 0
    assert rewards.dailyRemaining(alice, day + 1) == params.daily_cap - 300 * FIT  # ...not to the latest one
    claim(alice, 700 * FIT, day=day + 1)
    assert rewards.dailyRemaining(alice, day + 1) == 0


def test_cap_shift_by_one_day_keeps_the_previous_day(
    rewards, claim, make_voucher, chain, day_start, alice, bob, params
):
    day = day_start
    claim(alice, 600 * FIT, day=day)
    at(chain, day + 1, 1)
    claim(alice, params.daily_cap, day=day + 1)  # a whole day's cap: the new day starts empty
    assert rewards.dailyRemaining(alice, day) == 400 * FIT  # the old latest day is now the previous one
    voucher, signature = make_voucher(alice, 401 * FIT, day=day)
    with ape.reverts(rewards.RewardsDailyCapExceeded, account=alice.address, requested=401 * FIT, available=400 * FIT):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    claim(alice, 400 * FIT, day=day)


def test_cap_shift_by_more_days_starts_the_previous_day_empty(rewards, claim, chain, day_start, alice, params):
    day = day_start
    claim(alice, 600 * FIT, day=day)
    at(chain, day + 3, 1)
    claim(alice, 100 * FIT, day=day + 3)  # the slot jumps from day to day + 3
    # day + 2 was never charged: its whole cap is there, none of day's 600 carried over.
    assert rewards.dailyRemaining(alice, day + 2) == params.daily_cap
    claim(alice, params.daily_cap, day=day + 2)
    assert rewards.dailyRemaining(alice, day + 2) == 0
    assert rewards.dailyRemaining(alice, day + 3) == params.daily_cap - 100 * FIT


def test_cap_shift_to_yesterday_after_a_gap(rewards, claim, chain, day_start, alice, params):
    """The slot moves to a day the chain has already left (yesterday), one day after its latest day."""
    day = day_start
    claim(alice, 600 * FIT, day=day)
    at(chain, day + 2, 1)
    claim(alice, 100 * FIT, day=day + 1)  # shift by one: day becomes the previous (no longer redeemable) day
    assert rewards.dailyRemaining(alice, day + 1) == params.daily_cap - 100 * FIT
    assert rewards.dailyRemaining(alice, day + 2) == params.daily_cap
    claim(alice, params.daily_cap, day=day + 2)  # and on to today
    assert rewards.dailyRemaining(alice, day + 1) == params.daily_cap - 100 * FIT


def test_daily_remaining_per_day(rewards, claim, chain, day_start, alice, carol, params):
    day = day_start
    claim(alice, 250 * FIT, day=day)
    assert rewards.dailyRemaining(alice, day) == params.daily_cap - 250 * FIT
    assert rewards.dailyRemaining(carol, day) == params.daily_cap
    assert rewards.dailyRemaining(alice, day - 1) == params.daily_cap  # yesterday, never charged
    for past in (day - 2, 0):  # no voucher can be redeemed for these any more
        assert rewards.dailyRemaining(alice, past) == 0
    for coming in (day + 1, 2**256 - 1):  # nothing charged yet (an attestor past midnight asks for day + 1)
        assert rewards.dailyRemaining(alice, coming) == params.daily_cap
    at(chain, day + 1, 1)
    assert rewards.dailyRemaining(alice, day) == params.daily_cap - 250 * FIT  # now yesterday
    assert rewards.dailyRemaining(alice, day + 1) == params.daily_cap
    at(chain, day + 2, 1)
    assert rewards.dailyRemaining(alice, day) == 0  # two days old: no longer redeemable
    assert rewards.dailyRemaining(alice, day + 1) == params.daily_cap


def test_admin_changes_daily_cap(rewards, timelock_admin, alice, params):
    tx = timelock_admin.call(rewards, "setDailyCap", 5 * FIT)
    [log] = tx.decode_logs(rewards.DailyCapUpdated)
    assert (log.previousCap, log.newCap) == (params.daily_cap, 5 * FIT)
    assert rewards.dailyCap() == 5 * FIT
    with reverts_with("RewardsInvalidDailyCap", cap=0):
        timelock_admin.call(rewards, "setDailyCap", 0)
    # Each day's usage is kept in 112 bits, so the cap is too.
    with reverts_with("RewardsInvalidDailyCap", cap=2**112):
        timelock_admin.call(rewards, "setDailyCap", 2**112)
    timelock_admin.call(rewards, "setDailyCap", 2**112 - 1)
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


def test_batch_mixing_days_charges_each_voucher_to_its_day(
    rewards, token, make_voucher, chain, day_start, alice, bob, carol, params
):
    cap, day = params.daily_cap, day_start
    at(chain, day, 20)
    signed = [make_voucher(alice, 200 * FIT, day=day, deadline=chain.pending_timestamp + DAY)]
    at(chain, day + 1, 1)
    signed += [make_voucher(alice, cap, day=day + 1), make_voucher(alice, cap - 200 * FIT, day=day),
               make_voucher(carol, 5 * FIT, day=day)]
    tx = rewards.claimBatch([v.as_tuple() for v, _ in signed], [s for _, s in signed], sender=bob)

    assert len(tx.decode_logs(rewards.RewardClaimed)) == 4
    assert token.balanceOf(alice) == 2 * cap  # a whole cap for each of the two days, in one batch
    assert (rewards.dailyRemaining(alice, day), rewards.dailyRemaining(alice, day + 1)) == (0, 0)
    assert rewards.dailyRemaining(carol, day) == cap - 5 * FIT
    assert rewards.dailyRemaining(carol, day + 1) == cap
    # Within a batch, each day's cap still holds, and the batch names the voucher over it.
    over = [make_voucher(carol, cap - 5 * FIT, day=day), make_voucher(carol, 1, day=day)]
    with ape.reverts(rewards.RewardsDailyCapExceeded, account=carol.address, requested=1, available=0):
        rewards.claimBatch([v.as_tuple() for v, _ in over], [s for _, s in over], sender=bob)
    # A batch with a voucher out of its days reverts with that voucher's error.
    stale = make_voucher(carol, FIT, day=day - 1)
    with ape.reverts(rewards.RewardsVoucherDayOutOfRange, claimId=stale[0].claim_id, day=day - 1, today=day + 1):
        rewards.claimBatch([over[1][0].as_tuple(), stale[0].as_tuple()], [over[1][1], stale[1]], sender=bob)


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


def test_attestors_rotate_without_downtime(rewards, make_voucher, timelock_admin, attestor, second_attestor, alice,
                                           bob):
    timelock_admin.grant(rewards, "ATTESTOR_ROLE", second_attestor.address)
    # Both attestors are valid at once during the rotation.
    for signer in (attestor, second_attestor):
        voucher, signature = make_voucher(alice, signer=signer)
        rewards.claim(voucher.as_tuple(), signature, sender=bob)

    tx = timelock_admin.revoke(rewards, "ATTESTOR_ROLE", attestor.address)
    assert tx.decode_logs(rewards.RoleRevoked)[0].account == attestor.address
    voucher, signature = make_voucher(alice, signer=attestor)
    with ape.reverts(rewards.RewardsUnauthorizedAttestor, claimId=voucher.claim_id, signer=attestor.address):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    voucher, signature = make_voucher(alice, signer=second_attestor)
    rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_only_admin_manages_attestors(rewards, alice, outsider_key):
    with ape.reverts(rewards.AccessControlUnauthorizedAccount, account=alice.address, neededRole=b"\x00" * 32):
        rewards.grantRole(rewards.ATTESTOR_ROLE(), outsider_key.address, sender=alice)


def test_pause_stops_claims(rewards, make_voucher, guardian, alice, bob):
    voucher, signature = make_voucher(alice)
    rewards.pause(sender=guardian)
    with ape.reverts(rewards.EnforcedPause):
        rewards.claim(voucher.as_tuple(), signature, sender=bob)
    with ape.reverts(rewards.AccessControlUnauthorizedAccount, account=alice.address, neededRole=rewards.PAUSER_ROLE()):
        rewards.unpause(sender=alice)
    rewards.unpause(sender=guardian)
    rewards.claim(voucher.as_tuple(), signature, sender=bob)


def test_paused_token_stops_claims_too(rewards, token, make_voucher, guardian, alice, bob):
    voucher, signature = make_voucher(alice)
    token.pause(sender=guardian)
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
    voucher = RewardVoucher(alice.address, FIT, keccak(text="round trip"), 23_148, 2_000_000_000)
    signature = sign_voucher(voucher, attestor.key, chain_id=chain.chain_id, verifying_contract=rewards.address)
    assert onchain_signer(rewards, voucher, signature) == attestor.address
    with pytest.raises(ValueError):
        RewardVoucher(alice.address, FIT, b"short", 0, 0)
