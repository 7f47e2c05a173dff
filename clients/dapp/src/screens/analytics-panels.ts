// The analytics screen's charts: one function per panel, from the API's answer to an ECharts option.
import type { Dashboard } from "../platform";
import { GRID, LEGEND, ZOOM, axisTooltip, dayLabel, formatCount, formatFitNumber, formatRate, timeAxis,
  type ChartOption } from "../ui/charts";

export interface Panel {
  id: string;
  title: string;
  /** What the chart shows, in words (its accessible name). */
  label: string;
  option: ChartOption;
  wide?: boolean;
  height?: number; // px, when the default (styles.css .chart) is too short for its rows
}

const fit = (value: string) => Number(value); // exact decimal strings in FIT; a chart needs numbers
const rateAxis = { type: "value" as const, min: 0, max: 1, axisLabel: { formatter: (v: number) => formatRate(v) },
  splitLine: { show: false } };

export function panels(data: Dashboard): Panel[] {
  const week = data.activity.granularity === "week";
  const header = (value: string) => dayLabel(value, week);
  return [activity(data, week, header), workouts(data, week, header), rewards(data, week, header),
    marketplace(data, week, header), token(data, week, header), refusals(data), retention(data), funnel(data)];
}

function activity(data: Dashboard, week: boolean, header: (v: string) => string): Panel {
  const points = data.activity.data;
  const periods = points.map((p) => p.period);
  return {
    id: "chart-activity", title: "Active members", wide: true,
    label: `Daily, weekly and monthly active members per ${week ? "week" : "day"}`,
    option: {
      grid: GRID, legend: LEGEND, dataZoom: ZOOM,
      tooltip: axisTooltip(header, { Stickiness: (v) => formatRate(v) }),
      xAxis: timeAxis(periods, week),
      yAxis: [{ type: "value", name: "members", minInterval: 1 }, { ...rateAxis, name: "DAU / MAU" }],
      series: [
        { name: week ? "DAU (mean)" : "DAU", type: "line", data: points.map((p) => p.dau), areaStyle: { opacity: 0.15 },
          symbol: "none", smooth: true },
        { name: "WAU", type: "line", data: points.map((p) => p.wau), symbol: "none" },
        { name: "MAU", type: "line", data: points.map((p) => p.mau), symbol: "none" },
        { name: "Stickiness", type: "line", yAxisIndex: 1, data: points.map((p) => p.stickiness),
          lineStyle: { type: "dashed" }, symbol: "none" },
      ],
    },
  };
}

function workouts(data: Dashboard, week: boolean, header: (v: string) => string): Panel {
  const periods = data.activity.data.map((p) => p.period);
  const index = new Map(periods.map((p, i) => [p, i]));
  const activities = data.workouts.activities.map((a) => a.activity);
  const accepted = new Map(activities.map((a) => [a, periods.map(() => 0)]));
  const refused = periods.map(() => 0);
  for (const point of data.workouts.data) {
    const i = index.get(point.period);
    if (i === undefined) continue;
    accepted.get(point.activity)![i] += point.accepted;
    refused[i] += point.rejected;
  }
  return {
    id: "chart-workouts", title: "Workouts", wide: true,
    label: `Accepted workouts per activity and refused workouts per ${week ? "week" : "day"}`,
    option: {
      grid: GRID, legend: LEGEND, dataZoom: ZOOM, tooltip: axisTooltip(header),
      xAxis: timeAxis(periods, week), yAxis: { type: "value", name: "workouts", minInterval: 1 },
      series: [
        ...activities.map((name): ChartOption["series"] & object => ({ name, type: "bar", stack: "accepted",
          data: accepted.get(name), emphasis: { focus: "series" } })),
        { name: "refused", type: "line", data: refused, itemStyle: { color: "#a40e26" }, symbol: "circle",
          symbolSize: 5 },
      ] as ChartOption["series"],
    },
  };
}

function rewards(data: Dashboard, week: boolean, header: (v: string) => string): Panel {
  const points = data.rewards.data;
  return {
    id: "chart-rewards", title: "Rewards",
    label: "FIT issued in reward vouchers and claimed so far, and the claim rate",
    option: {
      grid: GRID, legend: LEGEND, dataZoom: ZOOM,
      tooltip: axisTooltip(header, { "issued": formatFitNumber, "claimed": formatFitNumber, "claim rate": formatRate }),
      xAxis: timeAxis(points.map((p) => p.period), week),
      yAxis: [{ type: "value", name: "FIT" }, { ...rateAxis, name: "claimed" }],
      series: [
        { name: "issued", type: "bar", data: points.map((p) => fit(p.issued_fit)) },
        { name: "claimed", type: "bar", data: points.map((p) => fit(p.claimed_fit)) },
        { name: "claim rate", type: "line", yAxisIndex: 1, data: points.map((p) => p.claim_rate), symbol: "none" },
      ],
    },
  };
}

function marketplace(data: Dashboard, week: boolean, header: (v: string) => string): Panel {
  const points = data.marketplace.data;
  return {
    id: "chart-marketplace", title: "Marketplace",
    label: "Marketplace volume in FIT and orders",
    option: {
      grid: GRID, legend: LEGEND, dataZoom: ZOOM, tooltip: axisTooltip(header, { volume: formatFitNumber }),
      xAxis: timeAxis(points.map((p) => p.period), week),
      yAxis: [{ type: "value", name: "FIT" }, { type: "value", name: "orders", minInterval: 1, splitLine: { show: false } }],
      series: [
        { name: "volume", type: "bar", data: points.map((p) => fit(p.volume_fit)) },
        { name: "orders", type: "line", yAxisIndex: 1, data: points.map((p) => p.orders), symbol: "circle",
          symbolSize: 5 },
      ],
    },
  };
}

function token(data: Dashboard, week: boolean, header: (v: string) => string): Panel {
  const points = data.token.data;
  const money = { supply: formatFitNumber, circulating: formatFitNumber, treasury: formatFitNumber,
    minted: formatFitNumber, burned: formatFitNumber };
  return {
    id: "chart-token", title: "FIT supply (platform-wide)",
    label: "FIT supply, circulating and held by the treasury, with what was minted and burned",
    option: {
      grid: GRID, legend: LEGEND, dataZoom: ZOOM, tooltip: axisTooltip(header, money),
      xAxis: timeAxis(points.map((p) => p.period), week),
      yAxis: [{ type: "value", name: "FIT", scale: true }, { type: "value", name: `per ${week ? "week" : "day"}`,
        splitLine: { show: false } }],
      series: [
        { name: "supply", type: "line", data: points.map((p) => fit(p.supply_fit)), symbol: "none" },
        { name: "circulating", type: "line", data: points.map((p) => fit(p.circulating_fit)), symbol: "none" },
        { name: "treasury", type: "line", data: points.map((p) => fit(p.treasury_fit)), symbol: "none" },
        { name: "minted", type: "bar", yAxisIndex: 1, data: points.map((p) => fit(p.minted_fit)), barGap: "0%" },
        { name: "burned", type: "bar", yAxisIndex: 1, data: points.map((p) => fit(p.burned_fit)) },
      ],
    },
  };
}

function refusals(data: Dashboard): Panel {
  const reasons = [...data.refusals.reasons].reverse(); // the most frequent at the top
  return {
    id: "chart-refusals", title: "Refused workouts by rule",
    label: `${formatCount(data.refusals.rejected)} refused workouts by anti-cheat rule`,
    option: {
      grid: { ...GRID, top: 8, right: 48 },
      tooltip: { trigger: "item", formatter: (p) => {
        const reason = reasons[(p as { dataIndex: number }).dataIndex]!;
        return `<b>${reason.reason}</b><br>${formatCount(reason.workouts)} workouts (${formatRate(reason.share)})`;
      } },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: reasons.map((r) => r.reason.replaceAll("_", " ")) },
      series: [{ name: "refused", type: "bar", data: reasons.map((r) => r.workouts), itemStyle: { color: "#d9822b" },
        label: { show: true, position: "right", formatter: (p) => formatRate(reasons[p.dataIndex]!.share) } }],
    },
  };
}

function retention(data: Dashboard): Panel {
  const cohorts = data.retention.cohorts;
  const weeks = Math.max(0, ...cohorts.map((c) => c.weeks.length - 1));
  const cells = cohorts.flatMap((c, y) => c.weeks.map((w) => [w.week, y, w.rate, w.active, c.members]));
  return {
    id: "chart-retention", title: "Weekly retention by cohort", wide: true,
    height: Math.max(288, 26 * cohorts.length + 80), // a row per cohort
    label: "Share of each weekly cohort active in each week after joining",
    option: {
      grid: { ...GRID, top: 8, bottom: 48 },
      tooltip: { trigger: "item", formatter: (p) => {
        const [week, y, rate, active, members] = (p as { value: number[] }).value as number[];
        return `<b>Joined ${dayLabel(cohorts[y!]!.cohort, true)}</b>, week ${week}<br>` +
          `${formatCount(active!)} of ${formatCount(members!)} active (${formatRate(rate!)})`;
      } },
      xAxis: { type: "category", name: "weeks after joining", nameLocation: "middle", nameGap: 28,
        data: Array.from({ length: weeks + 1 }, (_, i) => String(i)), splitArea: { show: true } },
      yAxis: { type: "category", inverse: true, splitArea: { show: true },
        data: cohorts.map((c) => `${dayLabel(c.cohort, true)} (${c.members})`) },
      visualMap: { min: 0, max: 1, calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120,
        show: false, inRange: { color: ["#f4f6f8", "#9fd3bf", "#0b6e4f"] } },
      series: [{ name: "retention", type: "heatmap", data: cells, label: { show: true, fontSize: 10,
        formatter: (p) => formatRate(((p as { value: number[] }).value)[2] ?? null) } }],
    },
  };
}

function funnel(data: Dashboard): Panel {
  const names: Record<string, string> = { joined: "Joined", first_workout: "First workout", first_claim: "First claim",
    first_purchase: "First purchase" };
  const steps = data.funnel.steps;
  return {
    id: "chart-funnel", title: "Funnel of the members who joined",
    label: steps.map((s) => `${names[s.step] ?? s.step}: ${formatCount(s.members)}`).join(", "),
    option: {
      tooltip: { trigger: "item", formatter: (p) => {
        const step = steps[(p as { dataIndex: number }).dataIndex]!;
        const median = step.median_hours === null ? "" : `<br>median ${formatCount(step.median_hours)} h after joining`;
        return `<b>${names[step.step]}</b><br>${formatCount(step.members)} members (${formatRate(step.rate)} of joined, ` +
          `${formatRate(step.step_rate)} of the step before)${median}`;
      } },
      series: [{ name: "funnel", type: "funnel", sort: "none", left: "10%", width: "80%", top: 8, bottom: 8, gap: 2,
        minSize: "24%", data: steps.map((s) => ({ name: names[s.step] ?? s.step, value: s.members })),
        label: { show: true, position: "inside", formatter: (p) => `${p.name}: ${formatCount(Number(p.value))}` } }],
    },
  };
}
