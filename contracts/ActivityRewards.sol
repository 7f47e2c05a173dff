// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {IActivityRewards} from "./interfaces/IActivityRewards.sol";
import {IFitToken} from "./interfaces/IFitToken.sol";

/// @notice Mints FIT for verified activity ("mining"), in two modes:
/// - vouchers: an attestor (the fitness backend) signs an EIP-712 RewardVoucher that anyone may submit,
///   alone (`claim`) or many per transaction (`claimBatch`);
/// - Merkle epochs: an operator posts one root per emission epoch and accounts claim their leaf with a
///   proof (`claimEpoch`), as in Uniswap's MerkleDistributor.
/// @dev Invariants:
/// - A claim id is paid at most once; a Merkle leaf (epoch, index) is paid at most once.
/// - Voucher payouts per account per UTC day never exceed `dailyCap()`.
/// - Emission charged to an epoch (voucher payouts + posted Merkle totals) never exceeds
///   `epochBudget(epoch) = initialEpochBudget >> (epoch / halvingEpochs)`.
/// - Merkle payouts of an epoch never exceed the total posted with its root.
/// Leaves are `keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))))` (OpenZeppelin's
/// standard Merkle tree), with sorted pair hashing.
contract ActivityRewards is IActivityRewards, EIP712, AccessControl, Pausable {
    using BitMaps for BitMaps.BitMap;

    bytes32 public constant ATTESTOR_ROLE = keccak256("ATTESTOR_ROLE");
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("RewardVoucher(address account,uint256 amount,bytes32 claimId,uint256 deadline)");

    struct DailyUsage {
        uint64 day;
        uint192 amount;
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

    uint256 private _dailyCap;
    mapping(bytes32 claimId => bool paid) private _paidClaims;
    mapping(address account => DailyUsage) private _dailyUsage;
    mapping(uint256 epoch => uint256 amount) private _epochEmitted;
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
        if (epochDuration == 0 || initialEpochBudget == 0 || halvingEpochs == 0) {
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
    function claim(RewardVoucher calldata voucher, bytes calldata signature) external whenNotPaused {
        uint256 epoch = currentEpoch();
        _redeem(voucher, signature, epoch);
        _chargeEpoch(epoch, voucher.amount);
        _token.mint(voucher.account, voucher.amount);
    }

    /// @notice Redeems several vouchers atomically: one bad voucher reverts the whole batch with that
    /// voucher's error, so a relayer can drop it and resubmit.
    function claimBatch(RewardVoucher[] calldata vouchers, bytes[] calldata signatures) external whenNotPaused {
        uint256 count = vouchers.length;
        if (count == 0) revert RewardsEmptyBatch();
        if (count != signatures.length) revert RewardsBatchLengthMismatch(count, signatures.length);
        uint256 epoch = currentEpoch();
        uint256 total = 0;
        for (uint256 i; i < count; ++i) {
            _redeem(vouchers[i], signatures[i], epoch);
            total += vouchers[i].amount;
        }
        _chargeEpoch(epoch, total);
        for (uint256 i; i < count; ++i) {
            _token.mint(vouchers[i].account, vouchers[i].amount);
        }
    }

    /// @dev Follows ERC20Permit's order: deadline, consume the claim id, hash, recover, check the signer,
    /// then the effect. ECDSA.recoverCalldata rejects high-s (malleable) signatures.
    function _redeem(RewardVoucher calldata voucher, bytes calldata signature, uint256 epoch) private {
        bytes32 claimId = voucher.claimId;
        if (block.timestamp > voucher.deadline) revert RewardsVoucherExpired(claimId, voucher.deadline);
        if (voucher.amount == 0) revert RewardsZeroAmount(claimId);
        if (voucher.account == address(0)) revert RewardsInvalidAccount(claimId);
        if (_paidClaims[claimId]) revert RewardsClaimAlreadyPaid(claimId);
        _paidClaims[claimId] = true;

        address signer = ECDSA.recoverCalldata(hashVoucher(voucher), signature);
        if (!hasRole(ATTESTOR_ROLE, signer)) revert RewardsUnauthorizedAttestor(claimId, signer);

        _chargeDailyCap(voucher.account, voucher.amount);
        emit RewardClaimed(claimId, voucher.account, signer, voucher.amount, epoch);
    }

    function _chargeDailyCap(address account, uint256 amount) private {
        uint64 today = uint64(block.timestamp / 1 days);
        DailyUsage memory usage = _dailyUsage[account];
        // slither-disable-next-line incorrect-equality (a day number, not a balance: equality is the intent)
        uint256 used = usage.day == today ? usage.amount : 0;
        uint256 available = _dailyCap > used ? _dailyCap - used : 0;
        if (amount > available) revert RewardsDailyCapExceeded(account, amount, available);
        // used + amount <= _dailyCap, which _setDailyCap keeps within uint192.
        _dailyUsage[account] = DailyUsage({day: today, amount: uint192(used + amount)});
    }

    // ----------------------------------------------------------------------------------------------
    // Merkle epochs
    // ----------------------------------------------------------------------------------------------

    /// @notice Posts the Merkle root of `epoch`'s distribution (the current or a past epoch), reserving
    /// `total` from that epoch's emission budget.
    function postEpochRoot(uint256 epoch, bytes32 root, uint256 total) external onlyRole(OPERATOR_ROLE) whenNotPaused {
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
        whenNotPaused
    {
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

    function _chargeEpoch(uint256 epoch, uint256 amount) private {
        uint256 emitted = _epochEmitted[epoch];
        uint256 available = epochBudget(epoch) - emitted;
        if (amount > available) revert RewardsEpochBudgetExceeded(epoch, amount, available);
        _epochEmitted[epoch] = emitted + amount;
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
        return _epochEmitted[epoch];
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
            keccak256(abi.encode(VOUCHER_TYPEHASH, voucher.account, voucher.amount, voucher.claimId, voucher.deadline))
        );
    }

    function isClaimPaid(bytes32 claimId) external view returns (bool) {
        return _paidClaims[claimId];
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
        return _dailyCap;
    }

    /// @notice What `account` may still receive through vouchers today (UTC).
    function dailyRemaining(address account) external view returns (uint256) {
        DailyUsage memory usage = _dailyUsage[account];
        // slither-disable-next-line incorrect-equality (a day number, not a balance: equality is the intent)
        uint256 used = usage.day == uint64(block.timestamp / 1 days) ? usage.amount : 0;
        return _dailyCap > used ? _dailyCap - used : 0;
    }

    function setDailyCap(uint256 newCap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDailyCap(newCap);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    function _setDailyCap(uint256 newCap) private {
        if (newCap == 0 || newCap > type(uint192).max) revert RewardsInvalidDailyCap(newCap);
        uint256 previousCap = _dailyCap;
        _dailyCap = newCap;
        emit DailyCapUpdated(previousCap, newCap);
    }
}
