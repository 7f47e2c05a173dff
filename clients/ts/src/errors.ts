/**
 * Errors in words. The API's refusals become FitmintApiError (status, the server's reason, and the
 * reasons of a refused workout); a contract's revert is decoded against the generated ABIs into
 * FitmintChainError (the custom error's name, its arguments, and a sentence a member understands).
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  getAddress,
  InsufficientFundsError,
  UserRejectedRequestError,
  type Abi,
  type Hex,
} from "viem";
import { abis } from "./generated/abis.js";
import { formatFit } from "./units.js";

/** The API refused a request: `status`, `detail` (its reason in words) and, for a refused workout, `reasons`. */
export class FitmintApiError extends Error {
  readonly status: number;
  readonly detail: string;
  readonly reasons?: string[];
  readonly body: unknown;

  constructor(status: number, body: unknown, fallback = "") {
    const { detail, reasons } = explainBody(body, fallback || `HTTP ${status}`);
    super(reasons && reasons.length > 0 && !detail.includes(reasons[0]!) ? `${detail}: ${reasons.join("; ")}` : detail);
    this.name = "FitmintApiError";
    this.status = status;
    this.detail = detail;
    if (reasons) this.reasons = reasons;
    this.body = body;
  }
}

/** A contract refused a transaction: the custom error's `errorName`, its `args`, and `message` in words. */
export class FitmintChainError extends Error {
  readonly errorName: string;
  readonly args: readonly unknown[];

  constructor(errorName: string, args: readonly unknown[], options?: { cause?: unknown }) {
    super(chainErrorWords(errorName, args), options);
    this.name = "FitmintChainError";
    this.errorName = errorName;
    this.args = args;
  }
}

type ValidationIssue = { loc?: unknown[]; msg?: string };

function explainBody(body: unknown, fallback: string): { detail: string; reasons?: string[] } {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return { detail };
  if (Array.isArray(detail)) {  // FastAPI's validation errors: where, and what is wrong there
    const reasons = (detail as ValidationIssue[]).map((issue) => {
      const where = (issue.loc ?? []).filter((part) => part !== "body").join(".");
      return where ? `${where}: ${issue.msg ?? "invalid"}` : issue.msg ?? "invalid";
    });
    return { detail: `invalid request: ${reasons.join("; ")}`, reasons };
  }
  if (detail && typeof detail === "object") {  // e.g. a refused workout: {message, rejections: [{code, reason}]}
    const { message, rejections } = detail as { message?: string; rejections?: { reason: string }[] };
    const reasons = Array.isArray(rejections) ? rejections.map((r) => r.reason) : undefined;
    return { detail: message ?? fallback, ...(reasons ? { reasons } : {}) };
  }
  return { detail: fallback };
}

// Every custom error any deployed contract declares (including OpenZeppelin's, e.g. the token's
// ERC20InsufficientBalance that surfaces through a marketplace purchase), once each.
const ERRORS: Abi = (() => {
  const seen = new Set<string>();
  const entries: Abi[number][] = [];
  for (const abi of Object.values(abis) as Abi[]) {
    for (const entry of abi) {
      if (entry.type !== "error") continue;
      const key = `${entry.name}(${entry.inputs.map((input) => input.type).join(",")})`;
      if (!seen.has(key)) {
        seen.add(key);
        entries.push(entry);
      }
    }
  }
  return entries;
})();

/** The custom error in a contract call's failure (viem's error, or raw revert data), or null. */
export function decodeChainError(error: unknown): FitmintChainError | null {
  if (error instanceof FitmintChainError) return error;
  const reverted = findInChain(error, (e) => e instanceof ContractFunctionRevertedError) as
    ContractFunctionRevertedError | undefined;
  if (reverted?.data?.errorName && reverted.data.errorName !== "Error" && reverted.data.errorName !== "Panic") {
    return new FitmintChainError(reverted.data.errorName, reverted.data.args ?? [], { cause: error });
  }
  const data = reverted?.raw ?? revertData(error);
  if (!data) return null;
  try {
    const decoded = decodeErrorResult({ abi: ERRORS, data });
    return new FitmintChainError(decoded.errorName, decoded.args ?? [], { cause: error });
  } catch {
    return null;
  }
}

/** Words for any error a client meets: the API's reason, a decoded custom error, a wallet's refusal. */
export function describeError(error: unknown): string {
  if (error instanceof FitmintApiError || error instanceof FitmintChainError) return error.message;
  const chain = decodeChainError(error);
  if (chain) return chain.message;
  if (findInChain(error, (e) => e instanceof UserRejectedRequestError || (e as { code?: unknown }).code === 4001)) {
    return "You rejected the request in your wallet: nothing was signed or sent.";
  }
  if (findInChain(error, (e) => e instanceof InsufficientFundsError)) {
    return "The wallet has not enough ETH to pay for the transaction's gas.";
  }
  if (error instanceof BaseError) return error.shortMessage;
  if (error instanceof TypeError && /fetch/i.test(error.message)) {
    return `The fitmint API could not be reached (${error.message}).`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

function findInChain(error: unknown, match: (e: unknown) => boolean): unknown {
  if (error instanceof BaseError) {
    const found = error.walk((e) => match(e));
    return found ?? undefined;
  }
  let current: unknown = error;
  for (let depth = 0; current && depth < 10; depth += 1) {
    if (match(current)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function revertData(error: unknown): Hex | undefined {
  const found = findInChain(error, (e) => {
    const data = (e as { data?: unknown } | null)?.data;
    return typeof data === "string" && /^0x[0-9a-fA-F]{8,}$/.test(data);
  }) as { data: Hex } | undefined;
  return found?.data;
}

const fit = (value: unknown) => `${formatFit(BigInt(value as bigint))} FIT`;
const address = (value: unknown) => getAddress(String(value));
const dayDate = (day: unknown) => new Date(Number(day) * 86_400_000).toISOString().slice(0, 10);
const time = (unix: unknown) => new Date(Number(unix) * 1000).toISOString().replace(".000Z", "Z");

/** A sentence per custom error a member can meet (the contracts' and OpenZeppelin's); the name and
 * arguments otherwise. */
const WORDS: Record<string, (args: readonly unknown[]) => string> = {
  // Marketplace
  MarketPriceAboveLimit: ([listing, price, max]) => `The price went up since your quote: listing ${listing} now costs ` +
    `${fit(price)} each and the quote allowed at most ${fit(max)}. Ask for a new quote.`,
  MarketInsufficientSupply: ([listing, remaining, requested]) =>
    `Listing ${listing} has only ${remaining} left and ${requested} were asked for.`,
  MarketListingClosed: ([listing]) => `Listing ${listing} is closed: it sold out or was cancelled.`,
  MarketUnknownListing: ([listing]) => `There is no listing ${listing}.`,
  MarketZeroQuantity: () => "Buy or list at least one item.",
  MarketZeroPrice: () => "A price must be more than 0 FIT.",
  MarketNotListingOwner: ([listing, caller]) => `Only the seller may change listing ${listing}; ${address(caller)} is not.`,
  MarketNotPrimaryListing: ([listing]) => `Listing ${listing} is a resale: only primary listings can change supply.`,
  MarketInvalidAddress: ([account]) => `${address(account)} cannot be used here.`,
  MarketUnexpectedTransfer: () => "The marketplace only accepts items it is escrowing for a listing.",
  MarketIntentExpired: ([deadline]) => `This signed purchase expired at ${time(deadline)}: ask for a new quote and sign again.`,
  MarketInvalidIntentSignature: ([buyer]) =>
    `The purchase was not signed by ${address(buyer)}: it was altered or is not genuine.`,
  // ActivityRewards
  RewardsVoucherExpired: ([, deadline]) => `This reward voucher expired at ${time(deadline)}: it can no longer be claimed.`,
  RewardsVoucherDayOutOfRange: ([, day, today]) => `This voucher is for ${dayDate(day)} (UTC) and can be claimed ` +
    `only on that day or the next; today is ${dayDate(today)}.`,
  RewardsClaimAlreadyPaid: () => "This reward was already claimed: its FIT were paid once.",
  RewardsUnauthorizedAttestor: ([, signer]) => "The voucher's signature is not a fitmint attestor's (it recovers " +
    `to ${address(signer)}): the voucher was altered or is not genuine.`,
  RewardsDailyCapExceeded: ([account, requested, available]) => `The daily reward cap of ${address(account)} is ` +
    `reached: this voucher pays ${fit(requested)} but only ${fit(available)} may still be claimed for its day.`,
  RewardsEpochBudgetExceeded: ([epoch, requested, available]) => `The reward budget of epoch ${epoch} is spent: ` +
    `${fit(requested)} asked, ${fit(available)} left.`,
  RewardsInvalidAccount: () => "The voucher names no account to pay.",
  RewardsZeroAmount: () => "The voucher pays nothing.",
  ECDSAInvalidSignature: () => "The signature is malformed: the voucher was altered or is not genuine.",
  ECDSAInvalidSignatureLength: () => "The signature has the wrong length: the voucher was altered or is not genuine.",
  ECDSAInvalidSignatureS: () => "The signature is malformed: the voucher was altered or is not genuine.",
  // FitToken (through a purchase) and FitItems (through a resale)
  ERC20InsufficientBalance: ([, balance, needed]) =>
    `Not enough FIT: the wallet holds ${fit(balance)} and this needs ${fit(needed)}.`,
  ERC20InsufficientAllowance: ([, allowance, needed]) =>
    `The marketplace may spend only ${fit(allowance)} of your FIT and this needs ${fit(needed)}.`,
  ERC2612ExpiredSignature: ([deadline]) => `The permit expired at ${time(deadline)}: ask for a new quote.`,
  ERC2612InvalidSigner: () => "The permit was not signed by the buying wallet (or the quote is stale): ask for a new quote.",
  InvalidAccountNonce: () => "The permit or signed purchase was already used (or cancelled), or another is still " +
    "ahead of it: ask for a new quote.",
  ERC1155MissingApprovalForAll: () => "The marketplace may not move your items yet: approve it for FitItems first.",
  ERC1155InsufficientBalance: ([, balance, needed, item]) => `You hold ${balance} of item ${item} and this needs ${needed}.`,
  ERC20ExceededCap: ([increased, cap]) => `FIT's supply cap of ${fit(cap)} would be exceeded (to ${fit(increased)}).`,
  EnforcedPause: () => "The contract is paused: try again later.",
  AccessControlUnauthorizedAccount: ([account]) => `${address(account)} is not allowed to do this.`,
  // A mined transaction that reverted without revert data the SDK could recover
  TransactionReverted: ([txHash]) => `Transaction ${txHash} was mined but reverted: nothing changed on the chain.`,
};

function chainErrorWords(errorName: string, args: readonly unknown[]): string {
  const words = WORDS[errorName];
  if (words) {
    try {
      return words(args);
    } catch {
      // fall through to the name and arguments
    }
  }
  return `The contract refused: ${errorName}(${args.map((arg) => String(arg)).join(", ")}).`;
}
