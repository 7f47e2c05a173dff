// Unit tests of the error words: revert data is encoded here (with the generated ABIs) as a node returns
// it; the same decoding meets real reverts in the rewards and marketplace tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BaseError, encodeErrorResult, UserRejectedRequestError } from "viem";
import { activityRewardsAbi, decodeChainError, describeError, FitmintChainError, fitTokenAbi, marketplaceAbi,
  parseFit } from "@fitmint/sdk";

const claimId = `0x${"ab".repeat(32)}` as const;
const member = "0x52908400098527886E0F7030069857D2E4169EE7";

function reverted(data: `0x${string}`) {  // a node's answer to eth_estimateGas, as viem wraps it
  return new BaseError("Execution reverted", { cause: Object.assign(new Error("execution reverted"), { data }) });
}

const cases: [string, `0x${string}`, RegExp][] = [
  ["price above limit", encodeErrorResult({ abi: marketplaceAbi, errorName: "MarketPriceAboveLimit",
    args: [7n, parseFit("2"), parseFit("1.5")] }),
   /^The price went up since your quote: listing 7 now costs 2 FIT each and the quote allowed at most 1\.5 FIT\. Ask for a new quote\.$/],
  ["insufficient supply", encodeErrorResult({ abi: marketplaceAbi, errorName: "MarketInsufficientSupply", args: [7n, 1n, 3n] }),
   /Listing 7 has only 1 left and 3 were asked for/],
  ["listing closed", encodeErrorResult({ abi: marketplaceAbi, errorName: "MarketListingClosed", args: [7n] }),
   /Listing 7 is closed: it sold out or was cancelled/],
  ["voucher expired", encodeErrorResult({ abi: activityRewardsAbi, errorName: "RewardsVoucherExpired", args: [claimId, 1_700_000_000n] }),
   /expired at 2023-11-14T22:13:20Z: it can no longer be claimed/],
  ["already claimed", encodeErrorResult({ abi: activityRewardsAbi, errorName: "RewardsClaimAlreadyPaid", args: [claimId] }),
   /already claimed/],
  ["bad signature", encodeErrorResult({ abi: activityRewardsAbi, errorName: "RewardsUnauthorizedAttestor", args: [claimId, member] }),
   /not a fitmint attestor's \(it recovers to 0x52908400098527886E0F7030069857D2E4169EE7\)/],
  ["daily cap", encodeErrorResult({ abi: activityRewardsAbi, errorName: "RewardsDailyCapExceeded",
    args: [member, parseFit("50"), parseFit("10")] }),
   /daily reward cap .* is reached: this voucher pays 50 FIT but only 10 FIT may still be claimed/],
  ["day out of range", encodeErrorResult({ abi: activityRewardsAbi, errorName: "RewardsVoucherDayOutOfRange",
    args: [claimId, 19_000n, 19_005n] }), /is for 2022-01-08 \(UTC\) .* today is 2022-01-13/],
  ["not enough FIT (the token's error, through the marketplace)", encodeErrorResult({ abi: fitTokenAbi,
    errorName: "ERC20InsufficientBalance", args: [member, parseFit("1"), parseFit("3")] }),
   /Not enough FIT: the wallet holds 1 FIT and this needs 3 FIT/],
];

for (const [what, data, words] of cases) {
  test(`revert data in words: ${what}`, () => {
    const error = reverted(data);
    assert.match(describeError(error), words);
    const decoded = decodeChainError(error);
    assert.ok(decoded instanceof FitmintChainError);
    assert.match(decoded.message, words);
  });
}

test("an error the SDK has no sentence for still names the error and its arguments", () => {
  const error = new FitmintChainError("MarketInvalidFees", [3000n, 3000n]);
  assert.equal(error.message, "The contract refused: MarketInvalidFees(3000, 3000).");
});

test("a wallet's refusal is said as such", () => {
  const rejected = new UserRejectedRequestError(new Error("User denied message signature"));
  assert.equal(describeError(rejected), "You rejected the request in your wallet: nothing was signed or sent.");
  assert.equal(decodeChainError(rejected), null);
});
