/**
 * Tenant dashboards (GET /analytics/...), for a tenant's admins, and across tenants for the platform's
 * admins (the admins of the platform's own tenant). Every read takes the period (`from`, `to`: UTC days
 * as "YYYY-MM-DD", at most 400 days; default the last 30 days) and `tenant` (a tenant id, default the
 * caller's; "all": the whole platform). FIT amounts come as exact decimal strings in FIT (`..._fit`).
 */
import type { Http } from "./http.js";
import type {
  AnalyticsActivity, AnalyticsFunnel, AnalyticsMarketplace, AnalyticsOverview, AnalyticsRefusals,
  AnalyticsRetention, AnalyticsRewards, AnalyticsScope, AnalyticsToken, AnalyticsWorkouts,
} from "./types.js";

export type AnalyticsPeriod = { from?: string; to?: string; tenant?: string };
export type AnalyticsSeriesQuery = AnalyticsPeriod & { granularity?: "day" | "week" };

export class Analytics {
  constructor(private readonly http: Http) {}

  /** What the caller may read: its tenant, whether it may read every tenant, and which (with names). */
  scope(): Promise<AnalyticsScope> {
    return this.read("scope", {});
  }

  /** The period's headline numbers beside those of the period of the same length before it. */
  overview(query: AnalyticsPeriod = {}): Promise<AnalyticsOverview> {
    return this.read("overview", query);
  }

  /** DAU, WAU, MAU and stickiness per day or week. */
  activity(query: AnalyticsSeriesQuery = {}): Promise<AnalyticsActivity> {
    return this.read("activity", query);
  }

  /** Workouts per day (or week) and activity: accepted, refused, flagged, distance, time. */
  workouts(query: AnalyticsSeriesQuery = {}): Promise<AnalyticsWorkouts> {
    return this.read("workouts", query);
  }

  /** The anti-cheat's refusals by rule. */
  refusals(query: AnalyticsSeriesQuery = {}): Promise<AnalyticsRefusals> {
    return this.read("refusals", query);
  }

  /** Vouchers issued and claimed, claim rate, mean time to claim. */
  rewards(query: AnalyticsSeriesQuery = {}): Promise<AnalyticsRewards> {
    return this.read("rewards", query);
  }

  /** FIT minted, burned, to the treasury, and the running supply (platform-wide). */
  token(query: AnalyticsSeriesQuery = {}): Promise<AnalyticsToken> {
    return this.read("token", query);
  }

  /** Orders, volume and fees per day or week, and the period's best sellers (`top`, default 10). */
  marketplace(query: AnalyticsSeriesQuery & { top?: number } = {}): Promise<AnalyticsMarketplace> {
    return this.read("marketplace", query);
  }

  /** Weekly cohorts of the period and their activity in each week after joining (`weeks`, default 12). */
  retention(query: AnalyticsPeriod & { weeks?: number } = {}): Promise<AnalyticsRetention> {
    return this.read("retention", query);
  }

  /** Of the members who joined in the period: first workout, first claim, first purchase. */
  funnel(query: AnalyticsPeriod = {}): Promise<AnalyticsFunnel> {
    return this.read("funnel", query);
  }

  private read<T>(path: string, query: Record<string, string | number | undefined>): Promise<T> {
    return this.http.request<T>("GET", `/analytics/${path}`, { auth: "required", query });
  }
}
