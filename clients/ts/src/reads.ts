/** Public reads of the indexed chain (balances, transfers, claims, orders, items), each consistent at the
 * indexed block it names, and waiting until the index has caught up with a block. */
import { getAddress } from "viem";
import type { Http } from "./http.js";
import type { Balance, Items, ResponseOf, Row, RowsPage } from "./types.js";

// Keys of the rows that carry amounts or token ids as decimal strings, and addresses (lowercase on the wire).
const BIGINT_KEYS = new Set(["value", "amount", "quantity", "unit_price", "fee", "burned", "item_id"]);
const ADDRESS_KEYS = new Set(["from", "to", "buyer", "seller", "account"]);
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

export type PageOptions = { limit?: number; cursor?: string };

/** A row as the SDK gives it: amounts as bigint, addresses EIP-55 checksummed. */
export function normalizeRow(row: Record<string, unknown>): Row {
  return Object.fromEntries(Object.entries(row).map(([key, value]) => {
    if (typeof value !== "string") return [key, value];
    if (BIGINT_KEYS.has(key) && /^\d+$/.test(value)) return [key, BigInt(value)];
    if (ADDRESS_KEYS.has(key) && /^0x[0-9a-fA-F]{40}$/.test(value)) return [key, getAddress(value)];
    return [key, value];
  }));
}

export class Reads {
  constructor(private readonly http: Http) {}

  async balance(address: string): Promise<Balance> {
    const wire = await this.http.request<ResponseOf<"/wallets/{address}/balance", "get">>(
      "GET", `/wallets/${getAddress(address)}/balance`);
    return { address: getAddress(wire.address), balance: BigInt(wire.balance), block: wire.block };
  }

  transfers(address: string, options: PageOptions = {}): Promise<RowsPage> {
    return this.page(address, "transfers", options);
  }

  claims(address: string, options: PageOptions = {}): Promise<RowsPage> {
    return this.page(address, "claims", options);
  }

  orders(address: string, options: PageOptions & { role?: "buyer" | "seller" } = {}): Promise<RowsPage> {
    return this.page(address, "orders", options);
  }

  async items(address: string): Promise<Items> {
    const wire = await this.http.request<ResponseOf<"/wallets/{address}/items", "get">>(
      "GET", `/wallets/${getAddress(address)}/items`);
    return { ...wire, data: wire.data.map(normalizeRow) };
  }

  /** The block the API's index has reached (null before the indexer's first block). */
  async indexedBlock(): Promise<number | null> {
    return (await this.balance(ZERO_ADDRESS)).block;
  }

  /** Resolves once the API's reads include `blockNumber` (e.g. a claim's or a purchase's block). */
  async waitForIndexed(blockNumber: bigint | number, options: { timeoutMs?: number; intervalMs?: number } = {}):
    Promise<number> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const block = await this.indexedBlock();
      if (block !== null && BigInt(block) >= BigInt(blockNumber)) return block;
      if (Date.now() > deadline) {
        throw new Error(`the API has indexed up to block ${block ?? "none"}, not yet ${blockNumber}, after ` +
          `${options.timeoutMs ?? 30_000} ms: is the indexer running?`);
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
    }
  }

  private async page(address: string, kind: "transfers" | "claims" | "orders",
                     options: PageOptions & { role?: string }): Promise<RowsPage> {
    const wire = await this.http.request<ResponseOf<"/wallets/{address}/transfers", "get">>(
      "GET", `/wallets/${getAddress(address)}/${kind}`,
      { query: { limit: options.limit, cursor: options.cursor, role: options.role } });
    return { ...wire, data: wire.data.map(normalizeRow) };
  }
}
