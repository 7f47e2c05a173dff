// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ActivityRewards} from "../../contracts/ActivityRewards.sol";
import {FitToken} from "../../contracts/FitToken.sol";
import {IActivityRewards} from "../../contracts/interfaces/IActivityRewards.sol";
import {IFitToken} from "../../contracts/interfaces/IFitToken.sol";
import {ForgeTest, Vm} from "./utils/Vm.sol";

/// @dev Drives ActivityRewards with random voucher claims (single and batch, fresh and replayed claim
/// ids, some past their deadline, naming today, yesterday, an older day or tomorrow), Merkle epochs
/// (posted for the current or the previous epoch) and the passing of time, and keeps ghost totals of
/// what was actually paid, per (account, named day) and per epoch. Half the fresh claim ids are issued in
/// sequence (as the API does), so they share words of the paid-claims bitmap and cross word boundaries.
contract RewardsHandler is ForgeTest {
    uint256 internal constant ATTESTOR_KEY = 0xA11CE;
    uint256 internal constant ROGUE_KEY = 0xB0B;

    ActivityRewards public immutable rewards;
    FitToken public immutable token;
    address[4] internal _accounts = [address(0x1001), address(0x1002), address(0x1003), address(0x1004)];

    uint256 public ghostPaid;
    uint256 public paidClaims;
    uint256 public maxPaysPerClaim;
    uint256 public maxEpochTouched;
    uint256 public maxPaidPerDay;
    uint256 public paidOutsideTheirDays;
    bytes32[] internal _usedClaimIds;
    uint256 internal _nextSequentialId = 250;
    mapping(uint256 epoch => uint256 amount) public emittedIn;
    mapping(bytes32 claimId => uint256 pays) public paysOf;
    mapping(address account => mapping(uint256 day => uint256 amount)) public paidOn;

    constructor(ActivityRewards rewards_, FitToken token_) {
        rewards = rewards_;
        token = token_;
    }

    function claim(
        uint256 accountSeed,
        uint256 amount,
        uint256 claimSeed,
        uint8 daySeed,
        bool replay,
        bool rogue,
        bool expired
    ) external {
        IActivityRewards.RewardVoucher memory voucher =
            _voucher(accountSeed, amount, claimSeed, daySeed, replay, expired);
        bytes memory signature = _sign(voucher, rogue ? ROGUE_KEY : ATTESTOR_KEY);
        try rewards.claim(voucher, signature) {
            _recordPaid(voucher);
        } catch {}
    }

    /// @dev A fresh, well-signed voucher naming today or yesterday (day seeds 0 and 4, see _voucher): only
    /// the daily cap and the epoch budget can refuse it, so runs often charge both days an account can be
    /// charged for.
    function claimForDay(uint256 accountSeed, uint256 amount, uint256 claimSeed, bool yesterday) external {
        IActivityRewards.RewardVoucher memory voucher =
            _voucher(accountSeed, amount, claimSeed, yesterday ? 4 : 0, false, false);
        try rewards.claim(voucher, _sign(voucher, ATTESTOR_KEY)) {
            _recordPaid(voucher);
        } catch {}
    }

    function claimBatch(uint256 seed, uint8 size, bool replayOne) external {
        uint256 count = bound(size, 1, 6);
        IActivityRewards.RewardVoucher[] memory vouchers = new IActivityRewards.RewardVoucher[](count);
        bytes[] memory signatures = new bytes[](count);
        for (uint256 i; i < count; ++i) {
            uint256 itemSeed = uint256(keccak256(abi.encode(seed, i)));
            vouchers[i] = _voucher(
                itemSeed, itemSeed >> 128, itemSeed, uint8(itemSeed >> 64), replayOne && i == count - 1, false
            );
            signatures[i] = _sign(vouchers[i], ATTESTOR_KEY);
        }
        try rewards.claimBatch(vouchers, signatures) {
            for (uint256 i; i < count; ++i) {
                _recordPaid(vouchers[i]);
            }
        } catch {}
    }

    /// @dev Posts a one-leaf distribution (root == leaf, empty proof) for the current or the previous
    /// epoch and claims it, maybe twice.
    function epochClaim(uint256 accountSeed, uint256 amount, bool claimTwice) external {
        uint256 current = rewards.currentEpoch();
        uint256 epoch = accountSeed % 3 == 0 && current > 0 ? current - 1 : current;
        address account = _accounts[accountSeed % _accounts.length];
        amount = bound(amount, 1, 3_000e18);
        (bytes32 root,,) = rewards.epochDistribution(epoch);
        if (root == bytes32(0)) {
            root = keccak256(bytes.concat(keccak256(abi.encode(uint256(0), account, amount))));
            try rewards.postEpochRoot(epoch, root, amount) {
                emittedIn[epoch] += amount;
            } catch {
                return;
            }
        }
        uint256 attempts = claimTwice ? 2 : 1;
        for (uint256 i; i < attempts; ++i) {
            try rewards.claimEpoch(epoch, 0, account, amount, new bytes32[](0)) {
                ghostPaid += amount;
                ++paidClaims;
                bytes32 leafId = keccak256(abi.encode("epoch", epoch));
                if (++paysOf[leafId] > maxPaysPerClaim) maxPaysPerClaim = paysOf[leafId];
            } catch {}
        }
    }

    function passTime(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1 hours, 3 days));
        uint256 epoch = rewards.currentEpoch();
        if (epoch > maxEpochTouched) maxEpochTouched = epoch;
    }

    function accountCount() external view returns (uint256) {
        return _accounts.length;
    }

    function accountAt(uint256 i) external view returns (address) {
        return _accounts[i];
    }

    function usedClaimIdCount() external view returns (uint256) {
        return _usedClaimIds.length;
    }

    function usedClaimIdAt(uint256 i) external view returns (bytes32) {
        return _usedClaimIds[i];
    }

    function nextSequentialId() external view returns (uint256) {
        return _nextSequentialId;
    }

    /// @dev The day a voucher names: mostly today or yesterday (redeemable), sometimes two days ago or
    /// tomorrow (refused).
    function _voucher(uint256 accountSeed, uint256 amount, uint256 claimSeed, uint8 daySeed, bool replay, bool expired)
        internal
        returns (IActivityRewards.RewardVoucher memory)
    {
        uint256 today = block.timestamp / 1 days;
        uint256 choice = daySeed % 8;
        uint256 day = choice < 4 ? today : choice < 6 ? today - 1 : choice == 6 ? today - 2 : today + 1;
        bytes32 claimId;
        if (replay && _usedClaimIds.length > 0) claimId = _usedClaimIds[claimSeed % _usedClaimIds.length];
        else if (claimSeed % 2 == 0) claimId = bytes32(_nextSequentialId++);
        else claimId = keccak256(abi.encode(claimSeed, block.timestamp, ghostPaid));
        return IActivityRewards.RewardVoucher({
            account: _accounts[accountSeed % _accounts.length],
            amount: bound(amount, 1, 1_500e18),
            claimId: claimId,
            day: day,
            deadline: expired ? block.timestamp - 1 : block.timestamp + 1 hours
        });
    }

    function _sign(IActivityRewards.RewardVoucher memory voucher, uint256 key) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, rewards.hashVoucher(voucher));
        return abi.encodePacked(r, s, v);
    }

    function _recordPaid(IActivityRewards.RewardVoucher memory voucher) internal {
        uint256 today = block.timestamp / 1 days;
        if (voucher.day > today || today - voucher.day > 1) ++paidOutsideTheirDays;
        uint256 paid = paidOn[voucher.account][voucher.day] += voucher.amount;
        if (paid > maxPaidPerDay) maxPaidPerDay = paid;
        ghostPaid += voucher.amount;
        emittedIn[rewards.currentEpoch()] += voucher.amount;
        ++paidClaims;
        if (paysOf[voucher.claimId] == 0) _usedClaimIds.push(voucher.claimId);
        if (++paysOf[voucher.claimId] > maxPaysPerClaim) maxPaysPerClaim = paysOf[voucher.claimId];
    }
}

/// @notice Invariants of minting: the cap holds, no claim id (or Merkle leaf) is ever paid twice, every
/// token in existence was paid through a claim, no epoch emits beyond its budget, vouchers paid to any
/// one (account, named day) stay within the daily cap, and only on that day or the next.
contract RewardsInvariantsTest is ForgeTest {
    uint256 internal constant CAP = 20_000e18;

    FitToken internal token;
    ActivityRewards internal rewards;
    RewardsHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new FitToken(address(this), CAP);
        rewards = new ActivityRewards(IFitToken(address(token)), address(this), 2_000e18, 1 days, 6_000e18, 3);
        handler = new RewardsHandler(rewards, token);
        token.grantRole(token.MINTER_ROLE(), address(rewards));
        rewards.grantRole(rewards.ATTESTOR_ROLE(), vm.addr(0xA11CE));
        rewards.grantRole(rewards.OPERATOR_ROLE(), address(handler));
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev Guards against a vacuous run: every run must actually pay claims (voucher or Merkle).
    function afterInvariant() public view {
        require(handler.paidClaims() > 0, "no claim was paid in this run");
    }

    function invariant_supplyNeverExceedsCap() public view {
        assertLe(token.totalSupply(), token.cap(), "totalSupply <= cap");
    }

    function invariant_noClaimPaidTwice() public view {
        assertLe(handler.maxPaysPerClaim(), 1, "pays per claim id");
    }

    function invariant_supplyEqualsPaidClaims() public view {
        assertEq(token.totalSupply(), handler.ghostPaid(), "totalSupply == sum of paid claims");
    }

    function invariant_dailyCapPerAccountAndNamedDay() public view {
        assertLe(handler.maxPaidPerDay(), rewards.dailyCap(), "paid to one (account, day) <= dailyCap");
    }

    function invariant_vouchersPaidOnlyOnTheirDayOrTheNext() public view {
        assertEq(handler.paidOutsideTheirDays(), 0, "vouchers paid outside their day or the next");
    }

    /// @dev The packed slot (latest day, its usage, the day before's) agrees with the ghost totals for
    /// the two days that can still be charged, reports nothing left for older days and the whole cap
    /// for tomorrow.
    function invariant_dailyRemainingMatchesPaid() public view {
        uint256 today = block.timestamp / 1 days;
        uint256 cap = rewards.dailyCap();
        for (uint256 i; i < handler.accountCount(); ++i) {
            address account = handler.accountAt(i);
            for (uint256 back; back <= 1; ++back) {
                uint256 paid = handler.paidOn(account, today - back);
                assertEq(rewards.dailyRemaining(account, today - back), cap - paid, "dailyRemaining == cap - paid");
            }
            assertEq(rewards.dailyRemaining(account, today - 2), 0, "nothing left for two days ago");
            assertEq(rewards.dailyRemaining(account, today + 1), cap, "tomorrow has its whole cap");
        }
    }

    function invariant_epochEmissionWithinBudget() public view {
        for (uint256 epoch; epoch <= handler.maxEpochTouched(); ++epoch) {
            assertLe(rewards.epochEmitted(epoch), rewards.epochBudget(epoch), "epoch emitted <= budget");
        }
    }

    /// @dev The packed current-epoch counter and the past epochs' totals together account for exactly
    /// what each epoch was charged (voucher payouts + posted Merkle totals), whichever epoch was charged last.
    function invariant_epochEmittedMatchesCharges() public view {
        for (uint256 epoch; epoch <= handler.maxEpochTouched() + 1; ++epoch) {
            assertEq(rewards.epochEmitted(epoch), handler.emittedIn(epoch), "epochEmitted == charged");
        }
    }

    /// @dev The bitmap marks exactly the paid ids: every paid id, and not the next sequential id (which
    /// shares a word with paid ones) nor a random one.
    function invariant_paidClaimIdsMatchBitmap() public view {
        for (uint256 i; i < handler.usedClaimIdCount(); ++i) {
            require(rewards.isClaimPaid(handler.usedClaimIdAt(i)), "a paid claim id is marked paid");
        }
        require(!rewards.isClaimPaid(bytes32(handler.nextSequentialId())), "the next id is not paid");
        require(!rewards.isClaimPaid(keccak256("never issued")), "an unissued id is not paid");
    }
}
