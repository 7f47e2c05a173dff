/**
 * The marketplace: listings as indexed (with their catalog items), quotes read live from the chain, and
 * buying with an EIP-2612 permit (no approve transaction): the wallet signs the quote's typed data
 * (eth_signTypedData_v4) and sends purchaseWithPermit itself. Reselling items the wallet holds, too.
 */
import { getAddress, parseEventLogs, parseSignature, type Address, type Hex, type TypedData } from "viem";
import type { ChainDirectory } from "./chain.js";
import { FitmintChainError } from "./errors.js";
import { fitItemsAbi, marketplaceAbi } from "./generated/abis.js";
import type { Http } from "./http.js";
import type { Listing, ListingDetail, ListingsPage, Quote, ResponseOf } from "./types.js";
import { accountOf, addressOf, sendAndWait, type Wallet } from "./wallet.js";

export type ListingStatus = "open" | "sold_out" | "cancelled" | "all";

export type ListingsOptions = {
  itemId?: bigint | string;
  seller?: string;
  tenant?: string;
  kind?: "primary" | "resale";
  status?: ListingStatus;
  minPrice?: bigint;
  maxPrice?: bigint;
  sort?: "newest" | "price_asc" | "price_desc";
  limit?: number;
  cursor?: string;
};

export type Purchase = { orderId: bigint; txHash: Hex; blockNumber: bigint; quote: Quote };

type WireListing = ResponseOf<"/marketplace/listings", "get">["data"][number];
type WireQuote = ResponseOf<"/marketplace/listings/{listing_id}/quote", "post">;

function listing<T extends WireListing>(wire: T): Omit<T, "unit_price" | "remaining"> & { unit_price: bigint; remaining: bigint } {
  return { ...wire, seller: getAddress(wire.seller), unit_price: BigInt(wire.unit_price), remaining: BigInt(wire.remaining) };
}

/** The wallet signs the quote's EIP-2612 permit (eth_signTypedData_v4): its v, r and s. */
export async function signQuotePermit(wallet: Wallet, quote: Quote): Promise<{ v: number; r: Hex; s: Hex }> {
  const { domain, message } = quote.permit;
  const { EIP712Domain: _, ...types } = quote.permit.types;
  const signature = await wallet.signTypedData({
    account: await accountOf(wallet),
    domain: typedDomain(domain),
    types: types as unknown as TypedData,
    primaryType: "Permit",
    message: { owner: getAddress(message.owner!), spender: getAddress(message.spender!), value: BigInt(message.value!),
      nonce: BigInt(message.nonce!), deadline: BigInt(message.deadline!) },
  });
  const { r, s, v, yParity } = parseSignature(signature);
  return { v: Number(v ?? BigInt(yParity + 27)), r, s };
}

/** An EIP-712 domain as the API sends it (JSON), as viem signs it. */
export function typedDomain(domain: Record<string, unknown>) {
  return { name: String(domain.name), version: String(domain.version), chainId: Number(domain.chainId),
    verifyingContract: getAddress(String(domain.verifyingContract)) };
}

export class Marketplace {
  constructor(private readonly http: Http, private readonly directory: ChainDirectory) {}

  async listings(options: ListingsOptions = {}): Promise<ListingsPage> {
    const page = await this.http.request<ResponseOf<"/marketplace/listings", "get">>("GET", "/marketplace/listings", {
      query: { item_id: options.itemId, seller: options.seller, tenant: options.tenant, kind: options.kind,
        status: options.status, min_price: options.minPrice, max_price: options.maxPrice, sort: options.sort,
        limit: options.limit, cursor: options.cursor },
    });
    return { ...page, data: page.data.map(listing) };
  }

  async listing(listingId: bigint | number): Promise<ListingDetail> {
    return listing(await this.http.request<ResponseOf<"/marketplace/listings/{listing_id}", "get">>(
      "GET", `/marketplace/listings/${listingId}`));
  }

  async walletListings(address: string, options: { status?: ListingStatus; limit?: number; cursor?: string } = {}):
    Promise<ListingsPage> {
    const page = await this.http.request<ResponseOf<"/wallets/{address}/listings", "get">>(
      "GET", `/wallets/${getAddress(address)}/listings`, { query: options });
    return { ...page, data: page.data.map(listing) };
  }

  /** What buying costs now, the permit to sign and the call to send (values read live from the chain). */
  async quote(listingId: bigint | number, options: { buyer: string; quantity: bigint | number; deadline?: number }):
    Promise<Quote> {
    const wire = await this.http.request<WireQuote>("POST", `/marketplace/listings/${listingId}/quote`, {
      body: { buyer: getAddress(options.buyer), quantity: Number(options.quantity), deadline: options.deadline ?? null },
    });
    return { ...wire, buyer: getAddress(wire.buyer), seller: getAddress(wire.seller), quantity: BigInt(wire.quantity), unit_price: BigInt(wire.unit_price), total: BigInt(wire.total),
      fee: BigInt(wire.fee), burned: BigInt(wire.burned), seller_receives: BigInt(wire.seller_receives),
      buyer_balance: BigInt(wire.buyer_balance) };
  }

  /**
   * Buys with a permit: quote (or the `quote` given), the wallet signs its permit, then sends
   * purchaseWithPermit with the quoted price as the most it pays. A price raised since the quote is
   * refused by the contract: FitmintChainError MarketPriceAboveLimit, in words.
   */
  async buyWithPermit(wallet: Wallet, options: { listingId: bigint | number; quantity: bigint | number;
                        quote?: Quote; deadline?: number }): Promise<Purchase> {
    const account = await accountOf(wallet);
    const buyer = getAddress(addressOf(account));
    const quote = options.quote ?? await this.quote(options.listingId, { buyer, quantity: options.quantity,
      ...(options.deadline ? { deadline: options.deadline } : {}) });
    const [chain, market] = await Promise.all([this.directory.viemChain(), this.directory.address("Marketplace")]);
    if (getAddress(quote.buyer) !== buyer) throw new Error(`the quote is for ${quote.buyer}, not this wallet (${buyer})`);
    if (quote.call.function !== "purchaseWithPermit" || getAddress(quote.call.to) !== market) {
      throw new Error(`the quote's call (${quote.call.function} on ${quote.call.to}) is not this deployment's purchaseWithPermit`);
    }
    if (quote.buyer_balance < quote.total) {  // refused before the wallet asks its owner anything
      throw new FitmintChainError("ERC20InsufficientBalance", [buyer, quote.buyer_balance, quote.total]);
    }
    const { r, s, v } = await signQuotePermit(wallet, quote);
    const [listingId, quantity, maxUnitPrice, permitValue, deadline] = quote.call.args.map((arg) => BigInt(arg));
    const mined = await sendAndWait(this.directory, () => wallet.writeContract({
      account, chain, address: market, abi: marketplaceAbi, functionName: "purchaseWithPermit",
      args: [listingId!, quantity!, maxUnitPrice!, permitValue!, deadline!, v, r, s],
    }));
    const [order] = parseEventLogs({ abi: marketplaceAbi, eventName: "OrderCreated", logs: mined.receipt.logs });
    if (!order) throw new Error(`transaction ${mined.txHash} was mined without an OrderCreated event`);
    return { orderId: order.args.orderId, txHash: mined.txHash, blockNumber: mined.blockNumber, quote };
  }

  /**
   * Lists `quantity` of an item the wallet holds for resale at `unitPrice` FIT wei each (the marketplace
   * escrows them). Approves the marketplace for FitItems first when it is not yet.
   */
  async listForResale(wallet: Wallet, options: { itemId: bigint; quantity: bigint | number; unitPrice: bigint }):
    Promise<{ listingId: bigint; txHash: Hex; blockNumber: bigint }> {
    const account = await accountOf(wallet);
    const [chain, market, items, client] = await Promise.all([this.directory.viemChain(),
      this.directory.address("Marketplace"), this.directory.address("FitItems"), this.directory.publicClient()]);
    const owner = addressOf(account);
    if (!await client.readContract({ address: items, abi: fitItemsAbi, functionName: "isApprovedForAll",
      args: [owner, market] })) {
      await sendAndWait(this.directory, () => wallet.writeContract({ account, chain, address: items, abi: fitItemsAbi,
        functionName: "setApprovalForAll", args: [market, true] }));
    }
    const mined = await sendAndWait(this.directory, () => wallet.writeContract({ account, chain, address: market,
      abi: marketplaceAbi, functionName: "listForResale", args: [options.itemId, BigInt(options.quantity), options.unitPrice] }));
    const [created] = parseEventLogs({ abi: marketplaceAbi, eventName: "ListingCreated", logs: mined.receipt.logs });
    if (!created) throw new Error(`transaction ${mined.txHash} was mined without a ListingCreated event`);
    return { listingId: created.args.listingId, txHash: mined.txHash, blockNumber: mined.blockNumber };
  }

  /** The seller's wallet changes its listing's price (FIT wei each). */
  async updatePrice(wallet: Wallet, listingId: bigint | number, unitPrice: bigint): Promise<{ txHash: Hex; blockNumber: bigint }> {
    return this.sellerCall(wallet, "updatePrice", [BigInt(listingId), unitPrice]);
  }

  /** The seller's wallet cancels its listing (escrowed items go back to it). */
  async cancelListing(wallet: Wallet, listingId: bigint | number): Promise<{ txHash: Hex; blockNumber: bigint }> {
    return this.sellerCall(wallet, "cancelListing", [BigInt(listingId)]);
  }

  private async sellerCall(wallet: Wallet, functionName: "updatePrice" | "cancelListing", args: readonly bigint[]) {
    const account = await accountOf(wallet);
    const [chain, market] = await Promise.all([this.directory.viemChain(), this.directory.address("Marketplace")]);
    const mined = await sendAndWait(this.directory, () => functionName === "updatePrice"
      ? wallet.writeContract({ account, chain, address: market, abi: marketplaceAbi, functionName, args: [args[0]!, args[1]!] })
      : wallet.writeContract({ account, chain, address: market, abi: marketplaceAbi, functionName, args: [args[0]!] }));
    return { txHash: mined.txHash, blockNumber: mined.blockNumber };
  }
}

export type { Address, Listing };
