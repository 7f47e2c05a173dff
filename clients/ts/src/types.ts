/**
 * The SDK's data types, every one derived from the API's OpenAPI document (generated/openapi.ts) by path
 * and method, so a change of the API changes them: nothing here restates a field by hand. Amounts the
 * wire carries as decimal strings become bigint (`Amounts<T, keys>`); addresses are EIP-55 checksummed.
 */
import type { paths } from "./generated/openapi.js";

type Method = "get" | "post" | "put" | "patch" | "delete";
type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;
type Responses<P extends keyof paths, M extends Method> = paths[P][M] extends { responses: infer R } ? R : never;

/** The JSON body of the success answer (200, else 201) of `M path`. */
export type ResponseOf<P extends keyof paths, M extends Method> =
  Responses<P, M> extends { 200: infer A } ? Json<A> : Responses<P, M> extends { 201: infer A } ? Json<A> : never;
/** The JSON request body of `M path`. */
export type RequestOf<P extends keyof paths, M extends Method> =
  paths[P][M] extends { requestBody?: infer B } ? Json<NonNullable<B>> : never;
/** The query parameters of `M path`. */
export type QueryOf<P extends keyof paths, M extends Method> =
  paths[P][M] extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** `T` with the decimal-string amounts named by `K` as bigint. */
export type Amounts<T, K extends keyof T> = Omit<T, K> & { [P in K]: bigint };

export type ChainInfo = ResponseOf<"/chain", "get">;
export type ContractInfo = ChainInfo["contracts"][string];
export type TypedDataSpec = ChainInfo["eip712"]["permit"];

export type Me = ResponseOf<"/auth/me", "get">;
export type TokenPair = ResponseOf<"/auth/verify", "post">;

export type WorkoutInput = RequestOf<"/fitness/workouts", "post">;
export type WorkoutRecord = ResponseOf<"/fitness/workouts/{workout_id}", "get">;
/** A recorded workout: accepted, or refused with every reason (`reasons`, one sentence each). */
export type Workout = WorkoutRecord & { reasons: string[] };

type WireVoucher = ResponseOf<"/rewards/workouts/{workout_id}/voucher", "post">;
export type Voucher = Amounts<WireVoucher, "amount">;

type WireEpoch = ResponseOf<"/rewards/epochs", "get">["data"][number];
/** A closed reward epoch (tenants paying by epochs): its root, what it pays, what was claimed from it. */
export type Epoch = Amounts<WireEpoch, "total" | "accrued" | "available" | "claimed_total">;
export type EpochsPage = Omit<ResponseOf<"/rewards/epochs", "get">, "data"> & { data: Epoch[] };
type WireEpochProof = ResponseOf<"/rewards/epochs/{epoch}/proofs/{address}", "get">;
/** An account's leaf of a posted epoch, with its Merkle proof: what `claimEpoch` sends. */
export type EpochProof = Amounts<WireEpochProof, "amount" | "accrued">;

type WireListing = ResponseOf<"/marketplace/listings", "get">["data"][number];
export type Listing = Amounts<WireListing, "unit_price" | "remaining">;
export type ListingItem = NonNullable<WireListing["item"]>;
export type ListingDetail = Amounts<ResponseOf<"/marketplace/listings/{listing_id}", "get">, "unit_price" | "remaining">;
export type ListingsPage = Omit<ResponseOf<"/marketplace/listings", "get">, "data"> & { data: Listing[] };
export type ListingQuery = QueryOf<"/marketplace/listings", "get">;

type WireQuote = ResponseOf<"/marketplace/listings/{listing_id}/quote", "post">;
export type Quote = Amounts<WireQuote, "quantity" | "unit_price" | "total" | "fee" | "burned" | "seller_receives"
  | "buyer_balance">;
export type QuoteInput = RequestOf<"/marketplace/listings/{listing_id}/quote", "post">;

export type Balance = { address: `0x${string}`; balance: bigint; block: number | null };
type WirePage = ResponseOf<"/wallets/{address}/transfers", "get">;
/**
 * A page of indexed rows (transfers, claims, orders). The API types these rows only as objects; the SDK
 * turns their amounts (value, amount, quantity, unit_price, fee, burned, item_id) into bigint and their
 * addresses (from, to, buyer, seller, account) into checksummed ones.
 */
export type RowsPage = Omit<WirePage, "data"> & { data: Row[] };
export type Row = Record<string, unknown>;
export type Items = Omit<ResponseOf<"/wallets/{address}/items", "get">, "data"> & { data: Row[] };

export type NotificationsPage = ResponseOf<"/notifications", "get">;
export type Notification = NotificationsPage["data"][number];

export type Connections = ResponseOf<"/identity/connections", "get">;
export type Credentials = ResponseOf<"/identity/credentials", "get">;

export type AnalyticsScope = ResponseOf<"/analytics/scope", "get">;
export type AnalyticsOverview = ResponseOf<"/analytics/overview", "get">;
export type AnalyticsHeadlines = AnalyticsOverview["current"];
export type AnalyticsActivity = ResponseOf<"/analytics/activity", "get">;
export type AnalyticsWorkouts = ResponseOf<"/analytics/workouts", "get">;
export type AnalyticsRefusals = ResponseOf<"/analytics/refusals", "get">;
export type AnalyticsRewards = ResponseOf<"/analytics/rewards", "get">;
export type AnalyticsToken = ResponseOf<"/analytics/token", "get">;
export type AnalyticsMarketplace = ResponseOf<"/analytics/marketplace", "get">;
export type AnalyticsRetention = ResponseOf<"/analytics/retention", "get">;
export type AnalyticsFunnel = ResponseOf<"/analytics/funnel", "get">;

export type ProductRecommendations = ResponseOf<"/recommendations/products", "get">;
export type ProductRecommendation = ProductRecommendations["data"][number];
export type WorkoutSuggestions = ResponseOf<"/recommendations/workouts", "get">;
export type WorkoutSuggestion = WorkoutSuggestions["data"][number];
export type Goals = ResponseOf<"/recommendations/goals", "get">;
