// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Events, errors and types of the ActivityRewards ("mining") contract.
interface IActivityRewards {
    /// @notice What an attestor signs (EIP-712): `account` may receive `amount` FIT once for `claimId`,
    /// charged to the daily cap of UTC day `day` (unix time / 86400), redeemable on that day or the next
    /// one and until `deadline` (a unix timestamp, inclusive), whichever ends first.
    struct RewardVoucher {
        address account;
        uint256 amount;
        bytes32 claimId;
        uint256 day;
        uint256 deadline;
    }

    /// @notice A voucher was redeemed: `amount` FIT minted to `account`, charged to emission `epoch`.
    event RewardClaimed(
        bytes32 indexed claimId, address indexed account, address indexed attestor, uint256 amount, uint256 epoch
    );
    /// @notice Leaf `index` of emission `epoch`'s Merkle distribution was paid to `account`.
    event EpochRewardClaimed(uint256 indexed epoch, uint256 indexed index, address indexed account, uint256 amount);
    /// @notice An operator posted the Merkle root of `epoch`'s distribution, reserving `total` FIT.
    event EpochRootPosted(uint256 indexed epoch, bytes32 root, uint256 total, address indexed operator);
    /// @notice The per-account daily voucher cap changed.
    event DailyCapUpdated(uint256 previousCap, uint256 newCap);
    /// @notice Claims and root posts stopped / resumed (the events and errors of OpenZeppelin's Pausable).
    event Paused(address account);
    event Unpaused(address account);

    error EnforcedPause();
    error ExpectedPause();

    error RewardsInvalidAccount(bytes32 claimId);
    error RewardsZeroAmount(bytes32 claimId);
    error RewardsVoucherExpired(bytes32 claimId, uint256 deadline);
    /// @notice `day` is neither `today` nor `today - 1` (UTC days): too old, or not begun yet.
    error RewardsVoucherDayOutOfRange(bytes32 claimId, uint256 day, uint256 today);
    error RewardsClaimAlreadyPaid(bytes32 claimId);
    error RewardsUnauthorizedAttestor(bytes32 claimId, address signer);
    error RewardsDailyCapExceeded(address account, uint256 requested, uint256 available);
    error RewardsEpochBudgetExceeded(uint256 epoch, uint256 requested, uint256 available);
    error RewardsEmptyBatch();
    error RewardsBatchLengthMismatch(uint256 vouchers, uint256 signatures);
    error RewardsInvalidDailyCap(uint256 cap);
    error RewardsInvalidSchedule(uint256 epochDuration, uint256 initialEpochBudget, uint256 halvingEpochs);
    error RewardsInvalidAdmin(address admin);
    error RewardsEpochNotStarted(uint256 epoch, uint256 currentEpoch);
    error RewardsEpochRootAlreadyPosted(uint256 epoch, bytes32 root);
    error RewardsInvalidEpochRoot(uint256 epoch);
    error RewardsEpochRootMissing(uint256 epoch);
    error RewardsEpochAlreadyClaimed(uint256 epoch, uint256 index);
    error RewardsInvalidEpochProof(uint256 epoch, uint256 index, address account, uint256 amount);
    error RewardsEpochTotalExceeded(uint256 epoch, uint256 requested, uint256 available);
}
