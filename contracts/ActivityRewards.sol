// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {IActivityRewards} from "./interfaces/IActivityRewards.sol";
import {IFitToken} from "./interfaces/IFitToken.sol";

/// @notice Mints FIT for verified activity ("mining"), in two modes:
/// - vouchers: an attestor (the fitness backend) signs an EIP-712 RewardVoucher that anyone may submit,
///   alone (`claim`) or many per transaction (`claimBatch`). A voucher names the UTC day whose daily cap
///   it is charged to and is redeemable on that day or the next only, so whoever submits a member's
///   newer voucher first cannot use up the cap of the day an older voucher was issued for;
/// - Merkle epochs: an operator posts one root per emission epoch and accounts claim their leaf with a
///   proof (`claimEpoch`), as in Uniswap's MerkleDistributor.
/// @dev Invariants:
/// - A claim id is paid at most once; a Merkle leaf (epoch, index) is paid at most once.
/// - Voucher payouts charged to any one (account, UTC day) never exceed `dailyCap()` (the cap in force
///   at each charge); a voucher is charged to the day it names (not the day it is redeemed), and is
///   redeemed only on that day or the next one.
/// - Emission charged to an epoch (voucher payouts + posted Merkle totals) never exceeds
///   `epochBudget(epoch) = initialEpochBudget >> (epoch / halvingEpochs)`.
/// - Merkle payouts of an epoch never exceed the total posted with its root.
/// Leaves are `keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))))` (OpenZeppelin's
/// standard Merkle tree), with sorted pair hashing.
/// Gas: paid claim ids are a bitmap (256 ids a slot), so sequentially issued ids share a slot; the pause
/// flag, the daily cap and the current epoch's emission counter share one slot (`Emission`), which every
/// claim reads and writes once (reports/gas.md).
contract ActivityRewards is IActivityRewards, EIP712, AccessControl {
    using BitMaps for BitMaps.BitMap;

    bytes32 public constant ATTESTOR_ROLE = keccak256("ATTESTOR_ROLE");
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("RewardVoucher(address account,uint256 amount,bytes32 claimId,uint256 day,uint256 deadline)");

    /// @dev An account's voucher usage in one slot: `amount` charged to `day` (the latest day charged),
    /// `previousAmount` charged to `day - 1`. Only today and yesterday can be charged, and `day` is never
    /// after today, so these two days are all the cap ever needs.
    struct DailyUsage {
        uint32 day;
        uint112 amount;
        uint112 previousAmount;
    }

    /// @dev What every claim reads and updates, in one slot: the pause flag, the daily cap, and the emission
    /// charged to the latest epoch charged (`epoch`). Totals of earlier epochs are in `_pastEpochEmitted`;
    /// `epoch` only grows, so no epoch after it has been charged yet.
    struct Emission {
        uint112 dailyCap;
        uint96 emitted;
        uint40 epoch;
        bool paused;
    }

    struct EpochDistribution {
        bytes32 root;
        uint128 total;
        uint128 claimed;
    }

    IFitToken private immutable _token;
    uint256 private immutable _genesis;
    uint256 private immutable _epochDuration;
    uint256 private immutable _initialEpochBudget;
    uint256 private immutable _halvingEpochs;

    Emission private _emission;
    /// @dev Bit `id & 255` of word `id >> 8` is set once claim id `id` (as a number) is paid.
    mapping(uint256 word => uint256 bits) private _paidClaims;
    mapping(address account => DailyUsage) private _dailyUsage;
    mapping(uint256 epoch => uint256 amount) private _pastEpochEmitted;
    mapping(uint256 epoch => EpochDistribution) private _distributions;
    mapping(uint256 epoch => BitMaps.BitMap) private _epochClaimed;

    /// @param epochDuration seconds per emission epoch; epoch 0 starts at deployment.
    /// @param initialEpochBudget FIT that epoch 0 may emit; the budget halves every `halvingEpochs`.
    constructor(
        IFitToken rewardToken,
        address admin,
        uint256 dailyCap_,
        uint256 epochDuration,
        uint256 initialEpochBudget,
        uint256 halvingEpochs
    ) EIP712("FitmintActivityRewards", "1") {
        if (admin == address(0)) revert RewardsInvalidAdmin(admin);
        // An epoch's emission (at most its budget, at most the initial one) is kept in 96 bits.
        if (epochDuration == 0 || initialEpochBudget == 0 || initialEpochBudget > type(uint96).max || halvingEpochs == 0)
        {
            revert RewardsInvalidSchedule(epochDuration, initialEpochBudget, halvingEpochs);
        }
        _token = rewardToken;
        _genesis = block.timestamp;
        _epochDuration = epochDuration;
        _initialEpochBudget = initialEpochBudget;
        _halvingEpochs = halvingEpochs;
        _setDailyCap(dailyCap_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    // ----------------------------------------------------------------------------------------------
    // Vouchers
    // ----------------------------------------------------------------------------------------------

    /// @notice Redeems one attestor-signed voucher, minting its amount to `voucher.account`.
    function claim(RewardVoucher calldata voucher, bytes calldata signature) external {
        uint256 cap = _requireNotPaused();
        uint256 epoch = currentEpoch();
        _redeem(voucher, signature, epoch, cap);
        _chargeEpoch(epoch, voucher.amount);
        _token.mint(voucher.account, voucher.amount);
    }

    /// @notice Redeems several vouchers atomically: one bad voucher reverts the whole batch with that
    /// voucher's error, so a relayer can drop it and resubmit.
    function claimBatch(RewardVoucher[] calldata vouchers, bytes[] calldata signatures) external {
        uint256 cap = _requireNotPaused();
        uint256 count = vouchers.length;
        if (count == 0) revert RewardsEmptyBatch();
        if (count != signatures.length) revert RewardsBatchLengthMismatch(count, signatures.length);
        uint256 epoch = currentEpoch();
        uint256 total = 0;
        for (uint256 i; i < count; ++i) {
            _redeem(vouchers[i], signatures[i], epoch, cap);
            total += vouchers[i].amount;
        }
        _chargeEpoch(epoch, total);
        for (uint256 i; i < count; ++i) {
            _token.mint(vouchers[i].account, vouchers[i].amount);
        }
    }

    /// @dev Follows ERC20Permit's order: deadline (and the voucher's day), consume the claim id, hash,
    /// recover, check the signer, then the effect. ECDSA.recoverCalldata rejects high-s (malleable)
    /// signatures.
    function _redeem(RewardVoucher calldata voucher, bytes calldata signature, uint256 epoch, uint256 cap) private {
        bytes32 claimId = voucher.claimId;
        if (block.timestamp > voucher.deadline) revert RewardsVoucherExpired(claimId, voucher.deadline);
        uint256 day = voucher.day;
        uint256 today = block.timestamp / 1 days;
        if (!_isRedeemableDay(day, today)) revert RewardsVoucherDayOutOfRange(claimId, day, today);
        if (voucher.amount == 0) revert RewardsZeroAmount(claimId);
        if (voucher.account == address(0)) revert RewardsInvalidAccount(claimId);
        uint256 id = uint256(claimId);
        uint256 paid = _paidClaims[id >> 8];
        uint256 bit = 1 << (id & 0xff);
        if (paid & bit != 0) revert RewardsClaimAlreadyPaid(claimId);
        _paidClaims[id >> 8] = paid | bit;

        address signer = ECDSA.recoverCalldata(hashVoucher(voucher), signature);
        if (!hasRole(ATTESTOR_ROLE, signer)) revert RewardsUnauthorizedAttestor(claimId, signer);

        _chargeDailyCap(voucher.account, day, voucher.amount, cap);
        emit RewardClaimed(claimId, voucher.account, signer, voucher.amount, epoch);
    }

    /// @dev Charges `amount` to `account`'s usage of `day`, which _redeem checked is today or yesterday.
    /// The stored day is one charged earlier, so never after today: day >= today - 1 >= usage.day - 1,
    /// and `day` is the stored day, the day before it, or a later day (the slot then moves to `day`).
    function _chargeDailyCap(address account, uint256 day, uint256 amount, uint256 cap) private {
        DailyUsage storage stored = _dailyUsage[account];
        DailyUsage memory usage = stored;
        uint256 used = _usedOn(usage, day);
        uint256 available = cap > used ? cap - used : 0;
        if (amount > available) revert RewardsDailyCapExceeded(account, amount, available);
        // used + amount <= cap, which _setDailyCap keeps within uint112.
        uint112 charged = uint112(used + amount);
        uint256 latest = usage.day;
        // Writing only the field that changes saves ~230 gas on the same-day and previous-day paths.
        if (day == latest) {
            stored.amount = charged;
        } else if (day > latest) {
            _dailyUsage[account] = DailyUsage({
                // day <= today = block.timestamp / 1 days, below 2**32 for the next eleven million years.
                day: uint32(day),
                amount: charged,
                // The latest day stays on as the previous day only if it is the day before `day`.
                previousAmount: day == latest + 1 ? usage.amount : 0
            });
        } else {
            // Unreachable for day < latest - 1 (see above); latest >= 1 here, so latest - 1 cannot underflow.
            assert(day == latest - 1);
            stored.previousAmount = charged;
        }
    }

    /// @dev What `usage` records as charged to `day`: nothing for a day it no longer (or never) held.
    function _usedOn(DailyUsage memory usage, uint256 day) private pure returns (uint256) {
        uint256 latest = usage.day;
        if (day == latest) return usage.amount;
        // latest - 1 only when latest >= 1, so it cannot underflow.
        if (latest != 0 && day == latest - 1) return usage.previousAmount;
        return 0;
    }

    /// @dev A voucher for UTC `day` is redeemable today and tomorrow: `day` is today or yesterday.
    function _isRedeemableDay(uint256 day, uint256 today) private pure returns (bool) {
        // day <= today is checked first, so today - day cannot underflow.
        return day <= today && today - day <= 1;
    }

    // ----------------------------------------------------------------------------------------------
    // Merkle epochs
    // ----------------------------------------------------------------------------------------------

    /// @notice Posts the Merkle root of `epoch`'s distribution (the current or a past epoch), reserving
    /// `total` from that epoch's emission budget.
    function postEpochRoot(uint256 epoch, bytes32 root, uint256 total) external onlyRole(OPERATOR_ROLE) {
        _requireNotPaused();
        uint256 current = currentEpoch();
        if (epoch > current) revert RewardsEpochNotStarted(epoch, current);
        if (root == bytes32(0) || total == 0) revert RewardsInvalidEpochRoot(epoch);
        bytes32 existing = _distributions[epoch].root;
        if (existing != bytes32(0)) revert RewardsEpochRootAlreadyPosted(epoch, existing);

        _chargeEpoch(epoch, total);
        _distributions[epoch] = EpochDistribution({root: root, total: SafeCast.toUint128(total), claimed: 0});
        emit EpochRootPosted(epoch, root, total, msg.sender);
    }

    /// @notice Pays leaf `index` of `epoch`'s distribution to `account`; anyone may submit it.
    function claimEpoch(uint256 epoch, uint256 index, address account, uint256 amount, bytes32[] calldata proof)
        external
    {
        _requireNotPaused();
        EpochDistribution storage distribution = _distributions[epoch];
        bytes32 root = distribution.root;
        if (root == bytes32(0)) revert RewardsEpochRootMissing(epoch);
        BitMaps.BitMap storage claimed = _epochClaimed[epoch];
        if (claimed.get(index)) revert RewardsEpochAlreadyClaimed(epoch, index);

        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) {
            revert RewardsInvalidEpochProof(epoch, index, account, amount);
        }
        uint256 available = distribution.total - distribution.claimed;
        if (amount > available) revert RewardsEpochTotalExceeded(epoch, amount, available);

        claimed.set(index);
        // amount <= available = total - claimed, so claimed + amount <= total < 2**128.
        distribution.claimed += uint128(amount);
        emit EpochRewardClaimed(epoch, index, account, amount);
        _token.mint(account, amount);
    }

    // ----------------------------------------------------------------------------------------------
    // Emission schedule
    // ----------------------------------------------------------------------------------------------

    /// @dev Charges `amount` to `epoch` (the current epoch, or a past one for `postEpochRoot`).
    function _chargeEpoch(uint256 epoch, uint256 amount) private {
        Emission storage emission = _emission;
        uint256 latest = emission.epoch;
        if (epoch < latest) {
            uint256 pastEmitted = _pastEpochEmitted[epoch];
            uint256 pastAvailable = epochBudget(epoch) - pastEmitted;
            if (amount > pastAvailable) revert RewardsEpochBudgetExceeded(epoch, amount, pastAvailable);
            _pastEpochEmitted[epoch] = pastEmitted + amount;
        } else if (epoch > latest) {
            // A later epoch than any charged so far: the latest one's total moves to the past epochs.
            uint256 budget = epochBudget(epoch);
            if (amount > budget) revert RewardsEpochBudgetExceeded(epoch, amount, budget);
            uint256 finished = emission.emitted;
            if (finished != 0) _pastEpochEmitted[latest] = finished;
            emission.epoch = SafeCast.toUint40(epoch);
            // amount <= budget <= initialEpochBudget < 2**96 (constructor).
            emission.emitted = uint96(amount);
        } else {
            uint256 emitted = emission.emitted;
            uint256 available = epochBudget(epoch) - emitted;
            if (amount > available) revert RewardsEpochBudgetExceeded(epoch, amount, available);
            // emitted + amount <= budget <= initialEpochBudget < 2**96 (constructor).
            emission.emitted = uint96(emitted + amount);
        }
    }

    function currentEpoch() public view returns (uint256) {
        return (block.timestamp - _genesis) / _epochDuration;
    }

    /// @notice What `epoch` may emit in total: the initial budget halved every `halvingEpochs` epochs.
    function epochBudget(uint256 epoch) public view returns (uint256) {
        uint256 halvings = epoch / _halvingEpochs;
        return halvings >= 256 ? 0 : _initialEpochBudget >> halvings;
    }

    function epochEmitted(uint256 epoch) external view returns (uint256) {
        Emission storage emission = _emission;
        uint256 latest = emission.epoch;
        if (epoch == latest) return emission.emitted;
        return epoch < latest ? _pastEpochEmitted[epoch] : 0;
    }

    /// @return genesis start of epoch 0 (unix time)
    /// @return epochDuration seconds per epoch
    /// @return initialEpochBudget what epoch 0 may emit
    /// @return halvingEpochs epochs between two halvings of the budget
    function schedule()
        external
        view
        returns (uint256 genesis, uint256 epochDuration, uint256 initialEpochBudget, uint256 halvingEpochs)
    {
        return (_genesis, _epochDuration, _initialEpochBudget, _halvingEpochs);
    }

    // ----------------------------------------------------------------------------------------------
    // Views and administration
    // ----------------------------------------------------------------------------------------------

    function token() external view returns (IFitToken) {
        return _token;
    }

    /// @notice The EIP-712 digest an attestor signs for `voucher`.
    function hashVoucher(RewardVoucher calldata voucher) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    VOUCHER_TYPEHASH, voucher.account, voucher.amount, voucher.claimId, voucher.day, voucher.deadline
                )
            )
        );
    }

    function isClaimPaid(bytes32 claimId) external view returns (bool) {
        uint256 id = uint256(claimId);
        return _paidClaims[id >> 8] & (1 << (id & 0xff)) != 0;
    }

    function isEpochLeafClaimed(uint256 epoch, uint256 index) external view returns (bool) {
        return _epochClaimed[epoch].get(index);
    }

    /// @return root the Merkle root of `epoch`'s distribution (zero if none)
    /// @return total FIT reserved for it
    /// @return claimed FIT paid out of it so far
    function epochDistribution(uint256 epoch) external view returns (bytes32 root, uint256 total, uint256 claimed) {
        EpochDistribution storage distribution = _distributions[epoch];
        return (distribution.root, distribution.total, distribution.claimed);
    }

    function dailyCap() external view returns (uint256) {
        return _emission.dailyCap;
    }

    /// @notice What vouchers may still charge to `account`'s cap for UTC `day` (unix time / 86400): 0 for a
    /// day no voucher can be redeemed for any more (before yesterday); a day still to come has its whole
    /// cap (an attestor whose clock has passed midnight before the chain's latest block asks for it).
    function dailyRemaining(address account, uint256 day) external view returns (uint256) {
        uint256 today = block.timestamp / 1 days;
        // day < today is checked first, so today - day cannot underflow.
        if (day < today && today - day > 1) return 0;
        uint256 used = _usedOn(_dailyUsage[account], day);
        uint256 cap = _emission.dailyCap;
        return cap > used ? cap - used : 0;
    }

    function setDailyCap(uint256 newCap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDailyCap(newCap);
    }

    /// @notice True while claims and root posts are stopped (OpenZeppelin Pausable's interface; the flag
    /// lives in the `Emission` slot that every claim reads anyway).
    function paused() public view returns (bool) {
        return _emission.paused;
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _requireNotPaused();
        _emission.paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        if (!_emission.paused) revert ExpectedPause();
        _emission.paused = false;
        emit Unpaused(msg.sender);
    }

    /// @dev Reverts with EnforcedPause while paused; returns the daily cap, read from the same slot.
    function _requireNotPaused() private view returns (uint256 cap) {
        Emission storage emission = _emission;
        if (emission.paused) revert EnforcedPause();
        return emission.dailyCap;
    }

    function _setDailyCap(uint256 newCap) private {
        // DailyUsage keeps each day's usage (at most the cap) in a uint112.
        if (newCap == 0 || newCap > type(uint112).max) revert RewardsInvalidDailyCap(newCap);
        uint256 previousCap = _emission.dailyCap;
        _emission.dailyCap = uint112(newCap);
        emit DailyCapUpdated(previousCap, newCap);
    }
}
