"""ActivityRewards epoch mode (Merkle distributions) and the emission schedule."""

import ape
import pytest
from eth_utils import keccak

from fitmint.rewards.merkle import Entry, MerkleDistribution
from tests.support.units import DAY, FIT

BUDGET = 100 * FIT
HALVING_EPOCHS = 2


@pytest.fixture
def distribution(accounts):
    return MerkleDistribution([Entry(account.address, (i + 1) * FIT) for i, account in enumerate(accounts[3:8])])


@pytest.fixture
def posted(rewards, operator, distribution):
    epoch = rewards.currentEpoch()
    rewards.postEpochRoot(epoch, distribution.root, distribution.total, sender=operator)
    return epoch


@pytest.fixture
def small_rewards(project, token, admin, attestor, operator, timelock_admin):
    """A rewards contract with a tiny schedule: 100 FIT per one-day epoch, halving every 2 epochs."""
    contract = admin.deploy(project.ActivityRewards, token, admin, 60 * FIT, DAY, BUDGET, HALVING_EPOCHS)
    timelock_admin.grant(token, "MINTER_ROLE", contract.address)
    contract.grantRole(contract.ATTESTOR_ROLE(), attestor.address, sender=admin)
    contract.grantRole(contract.OPERATOR_ROLE(), operator, sender=admin)
    return contract


def test_post_root_emits_and_reserves_budget(rewards, operator, distribution):
    epoch = rewards.currentEpoch()
    tx = rewards.postEpochRoot(epoch, distribution.root, distribution.total, sender=operator)
    [log] = tx.decode_logs(rewards.EpochRootPosted)
    assert (log.epoch, bytes(log.root), log.total, log.operator) == (
        epoch, distribution.root, distribution.total, operator.address)
    root, total, claimed = rewards.epochDistribution(epoch)
    assert (bytes(root), total, claimed) == (distribution.root, distribution.total, 0)
    assert rewards.epochEmitted(epoch) == distribution.total


def test_every_entry_claims_with_its_proof(rewards, token, posted, distribution, carol):
    for index, entry in enumerate(distribution.entries):
        tx = rewards.claimEpoch(posted, index, entry.account, entry.amount, distribution.proof(index), sender=carol)
        [log] = tx.decode_logs(rewards.EpochRewardClaimed)
        assert (log.epoch, log.index, log.account, log.amount) == (posted, index, entry.account, entry.amount)
        assert rewards.isEpochLeafClaimed(posted, index)
    for entry in distribution.entries:
        assert token.balanceOf(entry.account) == entry.amount
    assert rewards.epochDistribution(posted)[2] == distribution.total


def test_leaf_cannot_be_claimed_twice(rewards, posted, distribution, carol):
    entry = distribution.entries[2]
    rewards.claimEpoch(posted, 2, entry.account, entry.amount, distribution.proof(2), sender=carol)
    with ape.reverts(rewards.RewardsEpochAlreadyClaimed, epoch=posted, index=2):
        rewards.claimEpoch(posted, 2, entry.account, entry.amount, distribution.proof(2), sender=carol)


@pytest.mark.parametrize("tamper", ["amount", "account", "index", "proof"])
def test_tampered_claim_is_refused(rewards, posted, distribution, carol, tamper):
    index, entry = 1, distribution.entries[1]
    account, amount, proof = entry.account, entry.amount, distribution.proof(1)
    if tamper == "amount":
        amount += 1
    elif tamper == "account":
        account = carol.address
    elif tamper == "index":
        index = 3
    else:
        proof = [keccak(text="forged")] + proof[1:]
    with ape.reverts(rewards.RewardsInvalidEpochProof, epoch=posted, index=index, account=account, amount=amount):
        rewards.claimEpoch(posted, index, account, amount, proof, sender=carol)


def test_claim_without_root_reverts(rewards, distribution, carol):
    entry = distribution.entries[0]
    with ape.reverts(rewards.RewardsEpochRootMissing, epoch=0):
        rewards.claimEpoch(0, 0, entry.account, entry.amount, distribution.proof(0), sender=carol)


def test_payouts_never_exceed_the_posted_total(rewards, operator, accounts, carol):
    # An operator error: the posted total is less than the tree's sum. The contract holds the line.
    tree = MerkleDistribution([Entry(accounts[3].address, 6 * FIT), Entry(accounts[4].address, 6 * FIT)])
    epoch = rewards.currentEpoch()
    rewards.postEpochRoot(epoch, tree.root, 10 * FIT, sender=operator)
    rewards.claimEpoch(epoch, 0, accounts[3].address, 6 * FIT, tree.proof(0), sender=carol)
    with ape.reverts(rewards.RewardsEpochTotalExceeded, epoch=epoch, requested=6 * FIT, available=4 * FIT):
        rewards.claimEpoch(epoch, 1, accounts[4].address, 6 * FIT, tree.proof(1), sender=carol)


def test_root_posting_rules(rewards, operator, alice, distribution, chain):
    epoch = rewards.currentEpoch()
    with ape.reverts(rewards.AccessControlUnauthorizedAccount, account=alice.address,
                     neededRole=rewards.OPERATOR_ROLE()):
        rewards.postEpochRoot(epoch, distribution.root, distribution.total, sender=alice)
    with ape.reverts(rewards.RewardsEpochNotStarted, epoch=epoch + 1, currentEpoch=epoch):
        rewards.postEpochRoot(epoch + 1, distribution.root, distribution.total, sender=operator)
    with ape.reverts(rewards.RewardsInvalidEpochRoot, epoch=epoch):
        rewards.postEpochRoot(epoch, b"\x00" * 32, distribution.total, sender=operator)
    with ape.reverts(rewards.RewardsInvalidEpochRoot, epoch=epoch):
        rewards.postEpochRoot(epoch, distribution.root, 0, sender=operator)
    rewards.postEpochRoot(epoch, distribution.root, distribution.total, sender=operator)
    with ape.reverts(rewards.RewardsEpochRootAlreadyPosted, epoch=epoch, root=distribution.root):
        rewards.postEpochRoot(epoch, keccak(text="other"), 1, sender=operator)
    # A past epoch's distribution can still be posted once that epoch is over.
    chain.mine(deltatime=2 * DAY)
    rewards.postEpochRoot(epoch + 1, distribution.root, distribution.total, sender=operator)


def test_budget_halves_every_halving_interval(small_rewards):
    budgets = [small_rewards.epochBudget(epoch) for epoch in range(7)]
    assert budgets == [BUDGET, BUDGET, BUDGET // 2, BUDGET // 2, BUDGET // 4, BUDGET // 4, BUDGET // 8]
    assert small_rewards.epochBudget(2 * 300) == 0


def test_vouchers_over_the_epoch_budget_revert(small_rewards, make_voucher, accounts, bob, chain):
    epoch = small_rewards.currentEpoch()

    def signed(account, amount):
        return make_voucher(account, amount, contract=small_rewards.address, deadline=chain.pending_timestamp + 9 * DAY)

    for account in accounts[3:5]:
        voucher, signature = signed(account, 45 * FIT)
        small_rewards.claim(voucher.as_tuple(), signature, sender=bob)
    voucher, signature = signed(accounts[5], 11 * FIT)
    with ape.reverts(small_rewards.RewardsEpochBudgetExceeded, epoch=epoch, requested=11 * FIT, available=10 * FIT):
        small_rewards.claim(voucher.as_tuple(), signature, sender=bob)
    # A new epoch brings a new budget; two epochs later it is halved.
    chain.mine(deltatime=DAY)
    small_rewards.claim(voucher.as_tuple(), signature, sender=bob)
    chain.mine(deltatime=2 * DAY)
    assert small_rewards.currentEpoch() == epoch + 3
    big, big_signature = signed(accounts[6], 51 * FIT)
    with ape.reverts(small_rewards.RewardsEpochBudgetExceeded, epoch=epoch + 3, requested=51 * FIT, available=50 * FIT):
        small_rewards.claim(big.as_tuple(), big_signature, sender=bob)


def test_posted_roots_share_the_epoch_budget(small_rewards, operator, accounts):
    tree = MerkleDistribution([Entry(accounts[3].address, 101 * FIT)])
    epoch = small_rewards.currentEpoch()
    with ape.reverts(small_rewards.RewardsEpochBudgetExceeded, epoch=epoch, requested=101 * FIT, available=BUDGET):
        small_rewards.postEpochRoot(epoch, tree.root, tree.total, sender=operator)


def test_constructor_validates_schedule(project, token, admin):
    with ape.reverts(project.ActivityRewards.RewardsInvalidSchedule, epochDuration=0, initialEpochBudget=BUDGET,
                     halvingEpochs=1):
        admin.deploy(project.ActivityRewards, token, admin, FIT, 0, BUDGET, 1)
    # An epoch's emission is kept in 96 bits, so the budget (which only halves from there) is too.
    with ape.reverts(project.ActivityRewards.RewardsInvalidSchedule, epochDuration=DAY, initialEpochBudget=2**96,
                     halvingEpochs=1):
        admin.deploy(project.ActivityRewards, token, admin, FIT, DAY, 2**96, 1)
    with ape.reverts(project.ActivityRewards.RewardsInvalidDailyCap, cap=0):
        admin.deploy(project.ActivityRewards, token, admin, 0, DAY, BUDGET, 1)
    with ape.reverts(project.ActivityRewards.RewardsInvalidAdmin, admin="0x" + "00" * 20):
        admin.deploy(project.ActivityRewards, token, "0x" + "00" * 20, FIT, DAY, BUDGET, 1)


def test_merkle_helper_rejects_bad_input(accounts):
    with pytest.raises(ValueError):
        MerkleDistribution([])
    with pytest.raises(ValueError):
        MerkleDistribution([Entry(accounts[3].address, 0)])
    with pytest.raises(IndexError):
        MerkleDistribution([Entry(accounts[3].address, 1)]).proof(1)
