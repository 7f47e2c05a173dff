// Charts for the analytics screen: ECharts, tree-shaken (its core and only the charts and components used
// here), drawn as SVG (crisp at any zoom, its text in the page). Loaded with the analytics screen only, so
// members who never open it never download it.
import * as echarts from "echarts/core";
import { BarChart, FunnelChart, HeatmapChart, LineChart, type BarSeriesOption, type FunnelSeriesOption,
  type HeatmapSeriesOption, type LineSeriesOption } from "echarts/charts";
import { AriaComponent, DataZoomInsideComponent, GridComponent, LegendComponent, TooltipComponent,
  VisualMapContinuousComponent, type AriaComponentOption, type DataZoomComponentOption, type GridComponentOption,
  type LegendComponentOption, type TooltipComponentOption, type VisualMapComponentOption } from "echarts/components";
import { SVGRenderer } from "echarts/renderers";

echarts.use([BarChart, FunnelChart, HeatmapChart, LineChart, AriaComponent, DataZoomInsideComponent, GridComponent,
  LegendComponent, TooltipComponent, VisualMapContinuousComponent, SVGRenderer]);

export type ChartOption = echarts.ComposeOption<BarSeriesOption | LineSeriesOption | HeatmapSeriesOption
  | FunnelSeriesOption | GridComponentOption | TooltipComponentOption | LegendComponentOption
  | DataZoomComponentOption | VisualMapComponentOption | AriaComponentOption>;

// The app's palette (styles.css): accent green first, then colours distinguishable for the common colour
// vision deficiencies.
export const PALETTE = ["#0b6e4f", "#3559a8", "#d9822b", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#b7950b"];

const charts = new Map<HTMLElement, echarts.ECharts>();
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) charts.get(entry.target as HTMLElement)?.resize();
});

/** Draws `option` in `element` (replacing what it showed), described for screen readers by `label`. */
export function draw(element: HTMLElement, option: ChartOption, label: string): void {
  let chart = charts.get(element);
  if (!chart) {
    chart = echarts.init(element, null, { renderer: "svg" });
    charts.set(element, chart);
    resizer.observe(element);
  }
  element.setAttribute("role", "img");
  element.setAttribute("aria-label", label);
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const tooltip = option.tooltip as TooltipComponentOption | undefined;
  chart.setOption({ color: PALETTE, aria: { enabled: true }, animation: !still, animationDuration: 300, textStyle: {
    fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" }, ...option,
    ...(tooltip ? { tooltip: { className: "chart-tooltip", ...tooltip } } : {}) }, { notMerge: true });
}

/** Forgets every chart (the screen's content is being replaced). */
export function disposeAll(): void {
  for (const [element, chart] of charts) {
    resizer.unobserve(element);
    chart.dispose();
  }
  charts.clear();
}

// --- formatting --------------------------------------------------------------------------------------------

const count = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const money = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const bigMoney = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 });
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export const formatCount = (value: number) => count.format(value);
export const formatFitNumber = (value: number) => `${(Math.abs(value) >= 1000 ? bigMoney : money).format(value)} FIT`;
export const formatRate = (value: number | null) => (value === null ? "–" : percent.format(value));

/** "2026-11-30" as "Nov 30" (a week: "wk of Nov 24"). */
export function dayLabel(isoDay: string, week = false): string {
  const [, month, day] = isoDay.split("-").map(Number);
  return `${week ? "wk of " : ""}${MONTHS[(month ?? 1) - 1]} ${day}`;
}

type Formatter = (value: number) => string;

/** An axis tooltip: the period (`header` formats the axis value), then each series' value, formatted by
 * its own formatter (default: a count). */
export function axisTooltip(header: (value: string) => string,
                            formatters: Record<string, Formatter> = {}): TooltipComponentOption {
  return {
    trigger: "axis",
    confine: true,
    formatter: (params) => {
      const items = (Array.isArray(params) ? params : [params]) as Array<{ axisValue?: unknown; seriesName?: string;
        value?: unknown; marker?: unknown }>;
      const lines = items.map((item) => {
        const format = formatters[item.seriesName ?? ""] ?? formatCount;
        const value = Number(item.value);
        return `${String(item.marker ?? "")} ${item.seriesName}: <b>${Number.isFinite(value) ? format(value) : "–"}</b>`;
      });
      return [`<b>${header(String(items[0]?.axisValue ?? ""))}</b>`, ...lines].join("<br>");
    },
  };
}

export function timeAxis(labels: string[], week: boolean) {
  return { type: "category" as const, data: labels, axisLabel: { formatter: (value: string) => dayLabel(value, week) },
    axisPointer: { label: { formatter: (p: { value: unknown }) => dayLabel(String(p.value), week) } } };
}

export const GRID: GridComponentOption = { left: 8, right: 8, top: 40, bottom: 8, containLabel: true };
export const LEGEND: LegendComponentOption = { top: 0, type: "scroll", itemGap: 12 }; // pages within a phone's width
export const ZOOM: DataZoomComponentOption[] = [{ type: "inside", throttle: 50 }];
