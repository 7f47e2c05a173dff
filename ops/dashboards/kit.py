"""The building blocks every fitmint dashboard is made of, so each component's module only says what it
shows: panels that query Prometheus through the `${datasource}` variable, the variables for the base URLs
of Jaeger, Prometheus and VictoriaLogs, the links to them and to the other fitmint dashboards, thresholds
taken from the alerting rules (ops/dashboards/alerts.py), a grid laid out row by row.

A dashboard is `board(uid, title, description, service, rows)`; a row is `(title, [panel, ...])`; a panel
is `graph(...)`, `stat(...)` or `table(...)`, each with `Query`s. Panel ids and query refIds are given
here, in order, so the generated JSON is the same on every run.
"""

from dataclasses import dataclass
from urllib.parse import quote

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import stat as stat_panel
from grafana_foundation_sdk.builders import table as table_panel
from grafana_foundation_sdk.builders import timeseries as timeseries_panel
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models import common, prometheus
from grafana_foundation_sdk.models import dashboard as model

from fitmint.settings import default

TAG = "fitmint"
ALERTS_FIRING = 'ALERTS{alertstate="firing"}'
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Grafana widens it to at least four scrape intervals of the datasource: a rate always has samples.
RATE = "$__rate_interval"
# The stack's own addresses (fitmint/defaults.env); an operator types theirs into the variables.
LINK_VARIABLES = {
    "jaeger": ("Jaeger", f"http://127.0.0.1:{default('JAEGER_QUERY_PORT')}"),
    "prometheus": ("Prometheus", f"http://127.0.0.1:{default('PROMETHEUS_PORT')}"),
    "victorialogs": ("VictoriaLogs", f"http://127.0.0.1:{default('VICTORIALOGS_PORT')}"),
}


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Steps:
    """Green below `alert` (the alerting rule's threshold), red from it; `below=True` flips it: red under the
    threshold (a balance, a process up)."""
    alert: float
    below: bool = False

    def config(self) -> builders.ThresholdsConfig:
        low, high = ("red", "green") if self.below else ("green", "red")
        return _thresholds([model.Threshold(value=None, color=low), model.Threshold(value=self.alert, color=high)])


def _thresholds(steps: list[model.Threshold]) -> builders.ThresholdsConfig:
    return builders.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


# A value with no alert on it: one colour (Grafana's default would turn it red from 80).
NEUTRAL = _thresholds([model.Threshold(value=None, color="text")])


UP_DOWN = [model.ValueMap(options={"0": model.ValueMappingResult(text="down", color="red", index=0),
                                   "1": model.ValueMappingResult(text="up", color="green", index=1)})]


def _targets(panel, queries: tuple[Query, ...], *, instant: bool, tabular: bool = False):
    for ref, query in zip("ABCDEFGHIJ", queries, strict=False):
        target = Dataquery().expr(query.expr).ref_id(ref).datasource(DATASOURCE)
        if query.legend:
            target.legend_format(query.legend)
        if tabular:
            target.format(prometheus.PromQueryFormat.TABLE)
        panel.with_target(target.instant() if instant else target.range())
    return panel


def _common(panel, title: str, description: str, unit: str, width: int, height: int, queries, instant: bool,
            tabular: bool = False):
    if len(queries) > 10:
        raise ValueError(f"panel {title!r}: at most 10 queries")
    panel.title(title).description(description).unit(unit).datasource(DATASOURCE).span(width).height(height)
    return _targets(panel, queries, instant=instant, tabular=tabular)


def graph(title: str, *queries: Query, unit: str = "short", description: str = "", steps: Steps | None = None,
          width: int = 12, height: int = 8, stacked: bool = False, minimum: float | None = 0):
    """A time series: one line per series of each query; the alerting threshold drawn as a dashed line."""
    panel = timeseries_panel.Panel().fill_opacity(10).line_width(1).show_points(common.VisibilityMode.NEVER)
    panel.legend(common_builders.VizLegendOptions().show_legend(True)
                 .display_mode(common.LegendDisplayMode.TABLE).placement(common.LegendPlacement.BOTTOM)
                 .calcs(["lastNotNull", "max"]))
    panel.tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                  .sort(common.SortOrder.DESCENDING))
    if minimum is not None:
        panel.min(minimum)
    if stacked:
        panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    if steps is not None:
        panel.thresholds(steps.config()).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED))
    return _common(panel, title, description, unit, width, height, queries, instant=False)


def stat(title: str, *queries: Query, unit: str = "short", description: str = "", steps: Steps | None = None,
         width: int = 4, height: int = 4, mappings: list | None = None):
    """The current value of each series, coloured by `steps` (or by the up/down `mappings`)."""
    panel = (stat_panel.Panel().graph_mode(common.BigValueGraphMode.NONE)
             .color_mode(common.BigValueColorMode.BACKGROUND if steps or mappings else common.BigValueColorMode.VALUE)
             .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
    panel.thresholds(steps.config() if steps else NEUTRAL)
    if mappings:
        panel.mappings(mappings)
    return _common(panel, title, description, unit, width, height, queries, instant=True)


def table(title: str, *queries: Query, unit: str = "short", description: str = "", width: int = 12,
          height: int = 8):
    """The current value of each series, a row per series (its labels as columns, the time left out)."""
    panel = table_panel.Panel().with_transformation(
        model.DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}}))
    for query in queries:
        if query.legend:
            raise ValueError(f"table {title!r}: a table shows labels as columns, legends are not used")
    return _common(panel, title, description, unit, width, height, queries, instant=True, tabular=True)


def _variables(board: builders.Dashboard) -> None:
    board.with_variable(builders.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
                        .description("The Prometheus that scrapes the fitmint processes"))
    for name, (label, address) in LINK_VARIABLES.items():
        board.with_variable(builders.TextBoxVariable(name).label(f"{label} URL").default_value(address)
                            .current(model.VariableOption(selected=True, text=address, value=address))
                            .description(f"Base URL of {label}, for the links at the top"))


def _link(title: str, url: str, tooltip: str, icon: str = "external link") -> builders.DashboardLink:
    return (builders.DashboardLink(title).type(model.DashboardLinkType.LINK).url(url).tooltip(tooltip)
            .icon(icon).target_blank(True))


def _graph(expr: str) -> str:
    """Prometheus' expression browser showing `expr` as a table (/graph: every Prometheus 2 and 3 answers it)."""
    return "${prometheus}/graph?g0.tab=1&g0.expr=" + quote(expr, safe="")


def _links(board: builders.Dashboard, service: str | None) -> None:
    board.link(builders.DashboardLink("fitmint").type(model.DashboardLinkType.DASHBOARDS).tags([TAG])
               .as_dropdown(True).include_vars(True).keep_time(True).tooltip("The other fitmint dashboards"))
    traces = f"?service={quote(service)}" if service else ""
    board.link(_link("Jaeger: traces", "${jaeger}/search" + traces, "Jaeger's trace search", "doc"))
    api = f"${{jaeger}}/api/traces?service={quote(service)}&limit=20" if service else "${jaeger}/api/services"
    board.link(_link("Jaeger API", api, "Jaeger's query API (JSON): the last traces of this component"
                     if service else "Jaeger's query API (JSON): the services that sent traces", "doc"))
    board.link(_link("Prometheus: graph", "${prometheus}/graph", "Prometheus' expression browser", "dashboard"))
    board.link(_link("Prometheus: alerts firing", _graph(ALERTS_FIRING), "The alerts firing now", "bolt"))
    board.link(_link("Prometheus: alerting rules", "${prometheus}/api/v1/rules?type=alert",
                     "Every alerting rule and its state (JSON)", "bolt"))
    board.link(_link("Prometheus: targets", _graph("up"), "Each scrape target: 1 up, 0 down", "info"))
    query = f'service.name:"{service}"' if service else "*"
    board.link(_link("VictoriaLogs", "${victorialogs}/select/vmui/#/?query=" + quote(query, safe=""),
                     "The log lines (JSON, with trace ids)", "doc"))


def board(uid: str, title: str, description: str, service: str | None,
          rows: list[tuple[str, list]]) -> builders.Dashboard:
    """A dashboard of `rows` (title, panels), with the shared variables and links; `service` is the
    component's service name in traces and logs (None for the overview)."""
    tags = [TAG, uid.removeprefix(f"{TAG}-")]
    dashboard = (builders.Dashboard(title).uid(uid).description(" ".join(description.split())).tags(tags)
                 .editable().tooltip(model.DashboardCursorSync.CROSSHAIR).refresh("30s").time("now-1h", "now")
                 .timezone(common.TimeZoneUtc))
    _variables(dashboard)
    _links(dashboard, service)
    dashboard.annotation(builders.AnnotationQuery().name("Alerts firing").datasource(DATASOURCE).enable(True)
                         .icon_color("red").expr(ALERTS_FIRING))
    panel_id = 0
    for row_title, panels in rows:
        panel_id += 1
        dashboard.with_row(builders.Row(row_title).id(panel_id))
        for panel in panels:
            panel_id += 1
            dashboard.with_panel(panel.id(panel_id))
    return dashboard


# PromQL shapes the dashboards repeat.

def _by(labels: tuple[str, ...]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def _selector(metric: str, where: str) -> str:
    return f"{metric}{{{where}}}" if where else metric


def per_second(counter: str, *by: str, where: str = "") -> str:
    """Events per second of `counter` summed by `by`."""
    return f"sum{_by(by)} (rate({_selector(counter, where)}[{RATE}]))"


def quantile(q: float, histogram: str, *by: str, where: str = "") -> str:
    """The `q` quantile of `histogram` (its _bucket series) over the rate window, by `by`."""
    bucket = _selector(f"{histogram}_bucket", where)
    return f"histogram_quantile({q}, sum{_by(tuple(by) + ('le',))} (rate({bucket}[{RATE}])))"


def or_zero(expr: str, like: str) -> str:
    """`expr`, and 0 for each series of `like` (same labels) that `expr` has none for: a counter of
    labelled events (errors by route) has no series for a label set before its first event, and there the
    honest answer is 0."""
    return f"({expr}) or ({like} * 0)"


def process(job: str, *, dependencies: bool = True) -> list:
    """One row's panels about a process: up, CPU, memory, and (when it tracks them: `dependencies`) its
    dependencies as it sees them (fitmint/resilience.py: up per dependency, retries after transient errors)."""
    where = f'job="{job}"'
    panels = [
        stat("Up", Query(f"up{{{where}}}", "{{instance}}"), mappings=UP_DOWN, steps=Steps(alert=1, below=True),
             description="1 when Prometheus' last scrape of the process succeeded", width=4, height=6),
        graph("CPU", Query(f"rate(process_cpu_seconds_total{{{where}}}[{RATE}])", "{{instance}}"),
              unit="percentunit", description="CPU seconds per second (1 = one core)", width=5 if dependencies else 10,
              height=6),
        graph("Memory (RSS)", Query(f"process_resident_memory_bytes{{{where}}}", "{{instance}}"), unit="bytes",
              width=5 if dependencies else 10, height=6),
    ]
    if not dependencies:
        return panels
    return panels + [
        graph("Dependencies up", Query(f"min by (component, dependency) (fitmint_dependency_up{{{where}}})",
                                       "{{component}} -> {{dependency}}"),
              unit="none", steps=Steps(alert=1, below=True), minimum=0, width=5, height=6,
              description="1 while the dependency answers, 0 during an outage (the process keeps retrying)"),
        graph("Dependency retries", Query(or_zero(
            per_second("fitmint_dependency_retries_total", "component", "dependency", where=where),
            f"min by (component, dependency) (fitmint_dependency_up{{{where}}})"), "{{component}} -> {{dependency}}"),
              unit="ops", width=5, height=6,
              description="Work retried after a transient error of a dependency, per second (0 until the first)"),
    ]
