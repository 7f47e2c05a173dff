/** Fitmint: the one object a dApp or wallet app holds, its methods delegated to one module each. */
import type { Chain, PublicClient } from "viem";
import { Analytics } from "./analytics.js";
import { Recommendations } from "./recommendations.js";
import { Auth, type SignInOptions } from "./auth.js";
import { ChainDirectory } from "./chain.js";
import { describeError } from "./errors.js";
import { Http, type Fetch } from "./http.js";
import { IdentityReads } from "./identity.js";
import { Marketplace, type ListingsOptions, type ListingStatus } from "./marketplace.js";
import { Notifications, type WebSocketConstructor } from "./notifications.js";
import { Reads, type PageOptions } from "./reads.js";
import { Relayer, type Relay } from "./relayer.js";
import { Rewards } from "./rewards.js";
import { memoryTokenStore, type TokenStore } from "./session.js";
import type { EpochProof, Quote, Voucher, WorkoutInput } from "./types.js";
import { accountOf, addressOf, type Wallet } from "./wallet.js";

export type FitmintOptions = {
  /** The API's base URL, e.g. http://127.0.0.1:8000 */
  apiUrl: string;
  fetch?: Fetch;
  /** Default: globalThis.WebSocket (browsers, Node 22); in Node 20 pass the `ws` package's. */
  WebSocket?: WebSocketConstructor;
  /** Where the session is kept (default: memory). */
  tokenStore?: TokenStore;
  /** The JSON-RPC URL for reads and receipts (default: GET /chain's rpc_url). */
  rpcUrl?: string;
  /** 429s waited out before throwing (default 3) and the longest Retry-After waited (default 30 s). */
  rateLimitRetries?: number;
  maxRetryAfterMs?: number;
};

export class Fitmint {
  readonly http: Http;
  readonly notifications: Notifications;
  /** Tenant dashboards, for admins: `fm.analytics.overview({ from, to })`. */
  readonly analytics: Analytics;
  /** The member's products and workouts, with reasons, and their goals: `fm.recommendations.products()`. */
  readonly recommendations: Recommendations;
  private readonly directory: ChainDirectory;
  private readonly auth: Auth;
  private readonly rewards: Rewards;
  private readonly relayer: Relayer;
  private readonly reads: Reads;
  private readonly market: Marketplace;
  private readonly identityReads: IdentityReads;

  constructor(options: FitmintOptions) {
    const tokens = options.tokenStore ?? memoryTokenStore();
    this.http = new Http({ apiUrl: options.apiUrl, tokenStore: tokens,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.rateLimitRetries !== undefined ? { rateLimitRetries: options.rateLimitRetries } : {}),
      ...(options.maxRetryAfterMs !== undefined ? { maxRetryAfterMs: options.maxRetryAfterMs } : {}) });
    this.directory = new ChainDirectory(this.http, options.rpcUrl);
    this.auth = new Auth(this.http, this.directory, tokens);
    this.rewards = new Rewards(this.http, this.directory);
    this.relayer = new Relayer(this.http);
    this.reads = new Reads(this.http);
    this.market = new Marketplace(this.http, this.directory);
    this.identityReads = new IdentityReads(this.http);
    const socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.notifications = new Notifications(this.http, tokens, socket);
    this.analytics = new Analytics(this.http);
    this.recommendations = new Recommendations(this.http);
  }

  // The chain
  chain() { return this.directory.info(); }
  /** A viem public client on the chain's RPC URL (reads, receipts). */
  publicClient(): Promise<PublicClient> { return this.directory.publicClient(); }
  /** The deployment's chain as viem defines chains (for a wallet's switchChain/addChain). */
  viemChain(): Promise<Chain> { return this.directory.viemChain(); }
  /** An absolute URL for a path the API gave (a listing's image_url, metadata_url). */
  url(path: string) { return this.http.url(path); }

  // Signing in
  signIn(wallet: Wallet, options?: SignInOptions) { return this.auth.signIn(wallet, options); }
  refresh() { return this.auth.refresh(); }
  signOut() { return this.auth.signOut(); }
  me() { return this.auth.me(); }
  session() { return this.auth.session(); }

  // Earning
  recordWorkout(body: WorkoutInput, options?: { idempotencyKey?: string }) { return this.rewards.recordWorkout(body, options); }
  workout(workoutId: string) { return this.rewards.workout(workoutId); }
  requestVoucher(workoutId: string, options?: { account?: string }) { return this.rewards.requestVoucher(workoutId, options); }
  claimVoucher(wallet: Wallet, voucher: Voucher) { return this.rewards.claimVoucher(wallet, voucher); }
  epochs(options?: { limit?: number; before?: number }) { return this.rewards.epochs(options); }
  epochProof(epoch: number, address: string) { return this.rewards.epochProof(epoch, address); }
  claimEpoch(wallet: Wallet, proof: EpochProof) { return this.rewards.claimEpoch(wallet, proof); }

  // Gasless: the platform sends it, the wallet only signs
  relayVoucher(voucher: Voucher | string) { return this.relayer.relayVoucher(voucher); }
  relay(relayId: number) { return this.relayer.relay(relayId); }
  waitRelayed(relay: Relay | number, options?: { timeoutMs?: number; intervalMs?: number }) {
    return this.relayer.waitRelayed(relay, options);
  }
  async buyGasless(wallet: Wallet, options: { listingId: bigint | number; quantity: bigint | number; quote?: Quote }) {
    const buyer = addressOf(await accountOf(wallet));
    const quote = options.quote ?? await this.market.quote(options.listingId, { buyer, quantity: options.quantity });
    return this.relayer.relayPurchase(wallet, quote);
  }

  // Reads of the indexed chain
  waitForIndexed(blockNumber: bigint | number, options?: { timeoutMs?: number }) {
    return this.reads.waitForIndexed(blockNumber, options);
  }
  indexedBlock() { return this.reads.indexedBlock(); }
  balance(address: string) { return this.reads.balance(address); }
  transfers(address: string, options?: PageOptions) { return this.reads.transfers(address, options); }
  claims(address: string, options?: PageOptions) { return this.reads.claims(address, options); }
  orders(address: string, options?: PageOptions & { role?: "buyer" | "seller" }) { return this.reads.orders(address, options); }
  items(address: string) { return this.reads.items(address); }

  // The marketplace
  listings(options?: ListingsOptions) { return this.market.listings(options); }
  listing(listingId: bigint | number) { return this.market.listing(listingId); }
  walletListings(address: string, options?: { status?: ListingStatus; limit?: number; cursor?: string }) {
    return this.market.walletListings(address, options);
  }
  quote(listingId: bigint | number, options: { buyer: string; quantity: bigint | number; deadline?: number }) {
    return this.market.quote(listingId, options);
  }
  buyWithPermit(wallet: Wallet, options: { listingId: bigint | number; quantity: bigint | number; quote?: Quote;
                                           deadline?: number }) {
    return this.market.buyWithPermit(wallet, options);
  }
  listForResale(wallet: Wallet, options: { itemId: bigint; quantity: bigint | number; unitPrice: bigint }) {
    return this.market.listForResale(wallet, options);
  }
  updatePrice(wallet: Wallet, listingId: bigint | number, unitPrice: bigint) {
    return this.market.updatePrice(wallet, listingId, unitPrice);
  }
  cancelListing(wallet: Wallet, listingId: bigint | number) { return this.market.cancelListing(wallet, listingId); }

  // Identity
  identity() { return this.identityReads.identity(); }

  /** Words for any error: the API's reason, a decoded custom error, a wallet's refusal. */
  describeError(error: unknown): string { return describeError(error); }
}
