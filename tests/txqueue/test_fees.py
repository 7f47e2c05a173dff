"""The fee policy: a replacement always clears the node's +10% rule, and the cap is never exceeded."""

import pytest

from fitmint.txqueue.fees import FeeCapReached, FeePolicy, Fees

GWEI = 10**9


def test_a_first_attempt_leaves_room_for_the_base_fee_to_rise():
    assert FeePolicy().initial(base_fee=10 * GWEI, suggested_tip=GWEI) == Fees(21 * GWEI, GWEI)


def test_a_bump_raises_both_fees_by_more_than_ten_percent_and_follows_the_base_fee():
    previous = Fees(21 * GWEI, GWEI)
    bumped = FeePolicy().bump(previous, base_fee=10 * GWEI, suggested_tip=GWEI)
    assert bumped.max_fee_per_gas * 10 >= previous.max_fee_per_gas * 11
    assert bumped.max_priority_fee_per_gas * 10 >= previous.max_priority_fee_per_gas * 11
    assert FeePolicy().bump(previous, base_fee=100 * GWEI, suggested_tip=GWEI).max_fee_per_gas >= 200 * GWEI


def test_the_cap_holds_and_a_bump_the_cap_forbids_is_refused():
    policy = FeePolicy(max_fee_cap=30 * GWEI, max_priority_fee_cap=2 * GWEI)
    assert policy.initial(base_fee=20 * GWEI, suggested_tip=5 * GWEI) == Fees(30 * GWEI, 2 * GWEI)
    with pytest.raises(FeeCapReached):
        policy.bump(Fees(30 * GWEI, 2 * GWEI), base_fee=20 * GWEI, suggested_tip=GWEI)
    with pytest.raises(FeeCapReached):
        policy.initial(base_fee=31 * GWEI, suggested_tip=GWEI)
