import { formatUnits, parseUnits } from "viem";

/** FIT has 18 decimals, like ether. */
export const FIT_DECIMALS = 18;

/** "1.5" for 1.5 FIT in wei (no trailing zeros, no rounding). */
export function formatFit(wei: bigint): string {
  return formatUnits(wei, FIT_DECIMALS);
}

/** FIT in wei from a decimal text ("1.5", "20"); a clear error for anything else. */
export function parseFit(text: string): bigint {
  const trimmed = text.trim();
  if (!/^\d+(\.\d{1,18})?$/.test(trimmed)) {
    throw new RangeError(`not an amount of FIT: ${JSON.stringify(text)} (write it like 12 or 1.5, at most 18 decimals)`);
  }
  return parseUnits(trimmed, FIT_DECIMALS);
}

/** A decimal string from the wire as bigint. */
export function wei(value: string | number | bigint): bigint {
  return BigInt(value);
}
