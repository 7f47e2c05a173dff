// The one module that talks to the fitmint platform (through @fitmint/sdk): the screens call these
// functions and get plain values shaped for display, never SDK objects or wire formats.
import { Fitmint, formatFit, type Voucher as SdkVoucher, type WorkoutInput as SdkWorkoutInput,
  type Quote as SdkQuote, type Notification as SdkNotification, type AnalyticsActivity, type AnalyticsFunnel,
  type AnalyticsMarketplace, type AnalyticsOverview, type AnalyticsRefusals, type AnalyticsRetention,
  type AnalyticsRewards, type AnalyticsScope, type AnalyticsToken, type AnalyticsWorkouts } from "@fitmint/sdk";
import type { Address, WalletClient } from "viem";

// Served by the API at /app/: the API is this page's origin (a build for another host names it).
const apiUrl = import.meta.env.VITE_FITMINT_API_URL || window.location.origin;
const fm = new Fitmint({ apiUrl });

export function fit(wei: bigint): string {
  return `${formatFit(wei)} FIT`;
}

/** Words for any failure: an API refusal's reason, a decoded contract error, a declined wallet prompt. */
export function describeError(error: unknown): string {
  return fm.describeError(error);
}

// --- chain and session ------------------------------------------------------------------------------

export interface PlatformChainInfo {
  id: number;
  rpcUrl: string;
}

export async function platformChain(): Promise<PlatformChainInfo> {
  const chain = await fm.chain();
  return { id: chain.chain_id, rpcUrl: chain.rpc_url };
}

// The tenant a sign-in joins: the page's `?tenant=<slug>` (a brand's link to its own app), else the platform's.
const tenant = new URLSearchParams(window.location.search).get("tenant") ?? undefined;

export async function signIn(wallet: WalletClient): Promise<{ userId: string; tenant: string; role: string }> {
  const session = await fm.signIn(wallet, tenant ? { tenant } : {});
  const me = await fm.me();
  return { userId: session.userId ?? "(a service)", tenant: session.tenant, role: me.role };
}

export async function signOut(): Promise<void> {
  await fm.signOut();
}

// --- workouts and rewards -------------------------------------------------------------------------

export interface WorkoutInput {
  activity: string;
  started_at: string;
  ended_at: string;
  distance_m?: number;
  steps?: number;
  avg_heart_rate?: number;
}

export type WorkoutOutcome = { accepted: true; id: string } | { accepted: false; reasons: string[] };

/** The anti-cheat rules' answer: a refused workout comes back with every reason, it is not thrown. */
export async function recordWorkout(input: WorkoutInput): Promise<WorkoutOutcome> {
  const workout = await fm.recordWorkout(input as SdkWorkoutInput);
  if (workout.status === "accepted") return { accepted: true, id: workout.id };
  return { accepted: false, reasons: workout.reasons };
}

export interface Voucher {
  amount: bigint;
  account: string;
  deadline: Date;
  status: string;
  issued: SdkVoucher; // handed back to the SDK to claim it
}

export async function requestVoucher(workoutId: string): Promise<Voucher> {
  const voucher = await fm.requestVoucher(workoutId);
  return { amount: voucher.amount, account: voucher.account, deadline: new Date(voucher.deadline * 1000),
           status: voucher.status, issued: voucher };
}

export interface Sent {
  txHash: string;
  blockNumber: bigint;
}

/** The wallet sends the claim; resolves once the API has indexed its block. */
export async function claimVoucher(wallet: WalletClient, voucher: Voucher): Promise<Sent> {
  const { txHash, blockNumber } = await fm.claimVoucher(wallet, voucher.issued);
  await fm.waitForIndexed(blockNumber);
  return { txHash, blockNumber };
}

// --- balance and history ------------------------------------------------------------------------------

export interface Balance {
  balance: bigint;
  block: number | null;
}

export async function balance(address: Address): Promise<Balance> {
  const answer = await fm.balance(address);
  return { balance: answer.balance, block: answer.block };
}

export interface Transfer { block: number; txHash: string; from: string; to: string; value: bigint }
export interface Claim { block: number; txHash: string; kind: string; amount: bigint }
export interface Order {
  orderId: string; block: number; txHash: string; listingId: string; itemId: string; quantity: bigint;
  unitPrice: bigint; fee: bigint; burned: bigint;
}
export interface Holding { itemId: string; quantity: bigint }
export interface History {
  transfers: Transfer[];
  claims: Claim[];
  orders: Order[];
  items: Holding[];
  block: number | null;
}

type Row = Record<string, unknown>;
const text = (value: unknown) => String(value);

export async function history(address: Address): Promise<History> {
  const [transfers, claims, orders, items] = await Promise.all([
    fm.transfers(address, { limit: 20 }), fm.claims(address, { limit: 20 }), fm.orders(address, { role: "buyer" }),
    fm.items(address)]);
  // Four reads, each consistent at its own block: the oldest is what the whole view is "as of".
  const blocks = [transfers.block, claims.block, orders.block, items.block].filter((b): b is number => b !== null);
  return {
    transfers: (transfers.data as Row[]).map((r) => ({ block: Number(r.block), txHash: text(r.tx_hash),
      from: text(r.from), to: text(r.to), value: BigInt(text(r.value)) })),
    claims: (claims.data as Row[]).map((r) => ({ block: Number(r.block), txHash: text(r.tx_hash), kind: text(r.kind),
      amount: BigInt(text(r.amount)) })),
    orders: (orders.data as Row[]).map((r) => ({ orderId: text(r.order_id), block: Number(r.block),
      txHash: text(r.tx_hash), listingId: text(r.listing_id), itemId: text(r.item_id),
      quantity: BigInt(text(r.quantity)), unitPrice: BigInt(text(r.unit_price)), fee: BigInt(text(r.fee)),
      burned: BigInt(text(r.burned)) })),
    items: (items.data as Row[]).map((r) => ({ itemId: text(r.item_id), quantity: BigInt(text(r.quantity)) })),
    block: blocks.length ? Math.min(...blocks) : null,
  };
}

// --- marketplace ------------------------------------------------------------------------------------

export type ListingSort = "newest" | "price_asc" | "price_desc";

export interface Listing {
  listingId: number;
  itemId: string;
  name: string;
  description: string;
  imageUrl: string | null;
  unitPrice: bigint;
  remaining: bigint;
  kind: "primary" | "resale";
  seller: string;
}

export async function openListings(sort: ListingSort): Promise<{ listings: Listing[]; block: number | null }> {
  const page = await fm.listings({ status: "open", sort, limit: 50 });
  return {
    block: page.block ?? null,
    listings: page.data.map((l) => ({
      listingId: l.listing_id, itemId: l.item_id, name: l.item?.name ?? `Item #${l.item_id}`,
      description: l.item?.description ?? "", imageUrl: l.item?.image_url ? fm.url(l.item.image_url) : null,
      unitPrice: l.unit_price, remaining: l.remaining, kind: l.kind, seller: l.seller })),
  };
}

export interface Quote {
  listingId: number;
  quantity: bigint;
  unitPrice: bigint;
  total: bigint;
  fee: bigint;
  burned: bigint;
  sellerReceives: bigint;
  buyerBalance: bigint;
  quoted: SdkQuote; // handed back to the SDK to buy at exactly this quote
}

export async function quote(listingId: number, buyer: Address, quantity: number): Promise<Quote> {
  const q = await fm.quote(listingId, { buyer, quantity });
  return { listingId, quantity: q.quantity, unitPrice: q.unit_price, total: q.total, fee: q.fee, burned: q.burned,
           sellerReceives: q.seller_receives, buyerBalance: q.buyer_balance, quoted: q };
}

export interface Bought extends Sent {
  orderId: string;
}

/** The wallet signs the shown quote's permit and sends the purchase at that price at most (never a newer,
 * higher one); resolves once the order is indexed. A price raised since the quote reverts: describeError
 * says so in words. */
export async function buy(wallet: WalletClient, shown: Quote): Promise<Bought> {
  const bought = await fm.buyWithPermit(wallet, { listingId: shown.listingId, quantity: shown.quantity,
                                                  quote: shown.quoted });
  await fm.waitForIndexed(bought.blockNumber);
  return { orderId: String(bought.orderId), txHash: bought.txHash, blockNumber: bought.blockNumber };
}

// --- notifications and identity --------------------------------------------------------------------------

export interface Notice {
  id: string;
  kind: string;
  title: string;
  body: string;
  createdAt: string;
  read: boolean;
}

export type LiveState = "connecting" | "live" | "reconnecting" | "closed";

export interface LiveFeed {
  close(): void;
}

export function liveNotifications(onNotice: (notice: Notice) => void,
                                  onState: (state: LiveState, detail?: string) => void): LiveFeed {
  return fm.notifications.connect({
    onMessage: (message) => onNotice(notice(message)),
    onStatus: (status) => onState(status.state, status.state === "reconnecting" || status.state === "closed"
      ? status.reason : undefined),
  });
}

export async function recentNotifications(): Promise<Notice[]> {
  return (await fm.notifications.list({ limit: 50 })).data.map(notice);
}

export async function markNoticesRead(ids: string[]): Promise<void> {
  if (ids.length) await fm.notifications.markRead(ids);
}

function notice(raw: SdkNotification): Notice {
  return { id: raw.id, kind: raw.kind, title: raw.title, body: raw.body, createdAt: raw.created_at, read: raw.read };
}

export interface Connection { label: string; state: string; since: string }
export interface Credential { kind: string; issuedAt: string; revoked: boolean }

export async function identity(): Promise<{ connections: Connection[]; credentials: Credential[] }> {
  const { connections, credentials } = await fm.identity();
  return {
    connections: (connections.data as Row[]).map((c) => ({ label: text(c.their_label ?? c.their_did ?? c.connection_id),
      state: text(c.state), since: text(c.created_at) })),
    credentials: (credentials.data as Row[]).map((c) => ({ kind: text(c.kind), issuedAt: text(c.issued_at),
      revoked: c.revoked_at !== null && c.revoked_at !== undefined })),
  };
}

// --- analytics (tenant admins) ------------------------------------------------------------------------------
// The API's answers are plain JSON already shaped for display (numbers; FIT as exact decimal strings), so
// the dashboard gets them as they are.

export type { AnalyticsScope };

export interface DashboardQuery {
  tenant: string | undefined; // undefined: the caller's own
  from: string;
  to: string;
  granularity: "day" | "week";
}

export interface Dashboard {
  overview: AnalyticsOverview;
  activity: AnalyticsActivity;
  workouts: AnalyticsWorkouts;
  refusals: AnalyticsRefusals;
  rewards: AnalyticsRewards;
  token: AnalyticsToken;
  marketplace: AnalyticsMarketplace;
  retention: AnalyticsRetention;
  funnel: AnalyticsFunnel;
}

export function analyticsScope(): Promise<AnalyticsScope> {
  return fm.analytics.scope();
}

/** Every panel of the dashboard for one tenant (or "all") and period, read in parallel. */
export async function dashboard(query: DashboardQuery): Promise<Dashboard> {
  const period = { tenant: query.tenant, from: query.from, to: query.to };
  const series = { ...period, granularity: query.granularity };
  const [overview, activity, workouts, refusals, rewards, token, marketplace, retention, funnel] = await Promise.all([
    fm.analytics.overview(period), fm.analytics.activity(series), fm.analytics.workouts(series),
    fm.analytics.refusals(series), fm.analytics.rewards(series), fm.analytics.token(series),
    fm.analytics.marketplace({ ...series, top: 10 }), fm.analytics.retention({ ...period, weeks: 12 }),
    fm.analytics.funnel(period)]);
  return { overview, activity, workouts, refusals, rewards, token, marketplace, retention, funnel };
}
