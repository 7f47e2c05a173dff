// Analytics (tenant admins): the period's headline numbers beside the period before, interactive charts
// and the best sellers of the tenant, or, for the platform's admins, of any tenant or all of them. Loaded
// only when the screen is first opened (main.ts): it brings the chart library with it.
import { analyticsScope, dashboard, describeError, type AnalyticsScope, type Dashboard,
  type DashboardQuery } from "../platform";
import { current, onChange } from "../session";
import { disposeAll, draw, formatCount, formatFitNumber, formatRate } from "../ui/charts";
import { byId, busy, h, replace, table } from "../ui/dom";
import { currentScreen } from "../ui/router";
import { announce } from "../ui/status";
import { panels } from "./analytics-panels";

const DAY_MS = 86_400_000;
const ALL = "all";

let wired = false;
let scopeOf: string | null = null; // the member whose scope the filters show
let scope: AnalyticsScope | null = null;

const form = () => byId<HTMLFormElement>("analytics-filters");
const tenantSelect = () => byId<HTMLSelectElement>("analytics-tenant");
const periodSelect = () => byId<HTMLSelectElement>("analytics-period");
const fromInput = () => byId<HTMLInputElement>("analytics-from");
const toInput = () => byId<HTMLInputElement>("analytics-to");
const granularitySelect = () => byId<HTMLSelectElement>("analytics-granularity");
const view = () => byId("analytics-view");

/** Entering the screen: the filters (set up once), the caller's tenants, then the dashboard. */
export async function enterAnalytics(): Promise<void> {
  if (!wired) wire();
  const member = current().member;
  if (!member || member.role !== "admin") return;
  try {
    if (scopeOf !== member.userId) {
      scope = await analyticsScope();
      scopeOf = member.userId;
      showTenants(scope);
    }
    await refresh();
  } catch (error) {
    announce(describeError(error), "error");
  }
}

function wire(): void {
  wired = true;
  toInput().value = isoDay(Date.now());
  syncPeriod();
  periodSelect().addEventListener("change", () => { syncPeriod(); void refresh(); });
  for (const control of [tenantSelect(), granularitySelect()]) control.addEventListener("change", () => void refresh());
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(byId<HTMLButtonElement>("analytics-apply"), refresh);
  });
  onChange(({ member }) => { // another member (or none): their own scope and dashboard next time
    if ((member?.userId ?? null) !== scopeOf) {
      scopeOf = null;
      disposeAll();
      replace(view());
      byId("analytics-as-of").textContent = "";
      if (member && currentScreen() === "analytics") void enterAnalytics();
    }
  });
}

/** A preset period ends on the "Ending" day; "custom" shows "From" and names the other day "To". */
function syncPeriod(): void {
  const custom = periodSelect().value === "custom";
  byId("analytics-from-field").hidden = !custom;
  byId("analytics-to-label").textContent = custom ? "To" : "Ending";
  if (!custom) fromInput().value = isoDay(Date.parse(toInput().value) - (Number(periodSelect().value) - 1) * DAY_MS);
}

function showTenants(answer: AnalyticsScope): void {
  byId("analytics-tenant-field").hidden = !answer.platform;
  replace(tenantSelect(), ...answer.tenants.map((t) => h("option", { value: t.id }, t.name)),
    answer.platform ? h("option", { value: ALL }, "All tenants") : null);
  tenantSelect().value = answer.tenant;
}

function query(): DashboardQuery {
  syncPeriod();
  const tenant = tenantSelect().value;
  return { tenant: tenant && tenant !== scope?.tenant ? tenant : undefined, from: fromInput().value,
    to: toInput().value, granularity: granularitySelect().value === "week" ? "week" : "day" };
}

async function refresh(): Promise<void> {
  if (!current().member || !toInput().value || (periodSelect().value === "custom" && !fromInput().value)) return;
  const asked = query();
  const container = view();
  container.setAttribute("aria-busy", "true");
  try {
    const data = await dashboard(asked);
    if (JSON.stringify(asked) !== JSON.stringify(query())) return; // the filters changed meanwhile
    render(data);
    const name = tenantSelect().selectedOptions[0]?.textContent ?? "your tenant";
    announce(`Analytics of ${name}, ${asked.from} to ${asked.to}.`);
  } catch (error) {
    announce(describeError(error), "error");
  } finally {
    container.removeAttribute("aria-busy");
  }
}

// --- what it shows -----------------------------------------------------------------------------------

interface Tile {
  metric: string;
  label: string;
  value: number;
  previous: number;
  show: (v: number) => string;
  lowerIsBetter?: boolean; // a rise is shown as bad news
}

function tiles(data: Dashboard): Tile[] {
  const now = data.overview.current;
  const before = data.overview.previous;
  const number = (key: "active_members" | "new_members" | "workouts" | "rejected" | "orders" | "distance_km",
                  label: string, show = formatCount): Tile => ({ metric: key, label, value: now[key],
    previous: before[key], show });
  const fit = (key: "rewards_issued_fit" | "rewards_claimed_fit" | "volume_fit" | "minted_fit", label: string): Tile =>
    ({ metric: key, label, value: Number(now[key]), previous: Number(before[key]), show: formatFitNumber });
  return [
    number("active_members", "Active members"), number("new_members", "New members"),
    number("workouts", "Accepted workouts"), { ...number("rejected", "Refused workouts"), lowerIsBetter: true },
    number("distance_km", "Distance", (v) => `${formatCount(v)} km`),
    fit("rewards_issued_fit", "Rewards issued"),
    { metric: "claim_rate", label: "Claimed so far", value: now.claim_rate ?? 0, previous: before.claim_rate ?? 0,
      show: formatRate },
    number("orders", "Orders"), fit("volume_fit", "Marketplace volume"), fit("minted_fit", "FIT minted"),
  ];
}

function change(tile: Tile): HTMLElement {
  if (tile.previous === 0) return h("span", { class: "delta" }, tile.value ? "new" : "–");
  const ratio = (tile.value - tile.previous) / Math.abs(tile.previous);
  const direction = ratio > 0 ? "up" : ratio < 0 ? "down" : "flat";
  const good = direction === "flat" ? "" : (direction === "up") !== Boolean(tile.lowerIsBetter) ? " good" : " bad";
  const arrow = { up: "▲", down: "▼", flat: "=" }[direction];
  return h("span", { class: `delta${good}`, title: `previous period: ${tile.show(tile.previous)}` },
    `${arrow} ${formatRate(Math.abs(ratio))}`, h("span", { class: "visually-hidden" }, " on the previous period"));
}

function render(data: Dashboard): void {
  const overview = data.overview;
  byId("analytics-as-of").textContent = `${overview.from} to ${overview.to}, compared with ${overview.previous_from} ` +
    `to ${overview.previous_to}. ` + (overview.as_of ? `Data updated ${overview.as_of.replace("T", " ").slice(0, 16)} UTC.`
    : "The analytics store holds no event yet.");
  disposeAll();
  const drawn = panels(data);
  const items = data.marketplace.top_items;
  replace(view(),
    h("ul", { class: "tiles", "aria-label": "Headline numbers" }, ...tiles(data).map((tile) =>
      h("li", { class: "tile", "data-metric": tile.metric, "data-value": tile.value },
        h("span", { class: "tile-label" }, tile.label), h("strong", { class: "tile-value" }, tile.show(tile.value)),
        change(tile)))),
    h("div", { class: "panels" }, ...drawn.map((panel) =>
      h("figure", { class: `panel${panel.wide ? " wide" : ""}` }, h("figcaption", {}, panel.title),
        h("div", { id: panel.id, class: "chart", style: panel.height ? `height: ${panel.height}px` : null })))),
    h("h3", {}, "Best sellers"),
    items.length ? h("div", { class: "history", id: "analytics-top-items" },
      table("The period's best sellers by volume", ["#", "Item", "Orders", "Sold", "Volume"],
        items.map((item, i) => [i + 1, item.name, formatCount(item.orders), formatCount(item.quantity),
          formatFitNumber(Number(item.volume_fit))])))
      : h("p", { class: "empty" }, "Nothing sold in this period."));
  for (const panel of drawn) draw(byId(panel.id), panel.option, panel.label);
  view().dataset.shown = `${overview.tenant}/${overview.from}/${overview.to}/${data.activity.granularity}`;
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
