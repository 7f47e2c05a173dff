/**
 * Gasless: the platform sends a member's voucher claim (gathered with others into one claimBatch transaction)
 * or their signed purchase intent, and pays the gas; the member's wallet only signs, so it needs no ETH. Each
 * gives a relay to wait on: waiting -> batched -> sent -> mined (with its transaction) or failed (the reason).
 */
import { getAddress, type TypedData } from "viem";
import type { Http } from "./http.js";
import { signQuotePermit, typedDomain } from "./marketplace.js";
import type { Quote, ResponseOf, Voucher } from "./types.js";
import { accountOf, addressOf, type Wallet } from "./wallet.js";

export type Relay = ResponseOf<"/relay/{relay_id}", "get">;

export class Relayer {
  constructor(private readonly http: Http) {}

  /** Has the platform claim the voucher (or claim id) for the member; asking again gives the same relay. */
  async relayVoucher(voucher: Voucher | string): Promise<Relay> {
    const claimId = typeof voucher === "string" ? voucher : voucher.claim_id;
    return this.http.request<Relay>("POST", `/rewards/vouchers/${encodeURIComponent(claimId)}/relay`,
      { auth: "required" });
  }

  async relay(relayId: number): Promise<Relay> {
    return this.http.request<Relay>("GET", `/relay/${relayId}`, { auth: "required" });
  }

  /** The relay once mined or failed; rejects after `timeoutMs` (60 s) without either. */
  async waitRelayed(relay: Relay | number, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Relay> {
    const relayId = typeof relay === "number" ? relay : relay.id;
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const current = await this.relay(relayId);
      if (current.state === "mined" || current.state === "failed") return current;
      if (Date.now() > deadline) throw new Error(`relay ${relayId} was not settled in time (it is ${current.state})`);
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
    }
  }

  /** The wallet signs the quote's PurchaseIntent and permit; the platform executes them for it. */
  async relayPurchase(wallet: Wallet, quote: Quote): Promise<Relay> {
    const account = await accountOf(wallet);
    const buyer = getAddress(addressOf(account));
    if (getAddress(quote.buyer) !== buyer) throw new Error(`the quote is for ${quote.buyer}, not this wallet (${buyer})`);
    const { domain, message } = quote.intent;
    const { EIP712Domain: _, ...types } = quote.intent.types;
    const signature = await wallet.signTypedData({
      account, domain: typedDomain(domain), types: types as unknown as TypedData, primaryType: "PurchaseIntent",
      message: { buyer: getAddress(message.buyer!), listingId: BigInt(message.listingId!),
        quantity: BigInt(message.quantity!), maxUnitPrice: BigInt(message.maxUnitPrice!),
        nonce: BigInt(message.nonce!), deadline: BigInt(message.deadline!) },
    });
    const permit = await signQuotePermit(wallet, quote);
    return this.http.request<Relay>("POST", "/relay/purchases", { auth: "required", body: {
      intent: { buyer: message.buyer, listing_id: message.listingId, quantity: message.quantity,
        max_unit_price: message.maxUnitPrice, nonce: message.nonce, deadline: message.deadline },
      signature, permit: { value: quote.permit.message.value, deadline: quote.permit.message.deadline, ...permit },
    } });
  }
}
