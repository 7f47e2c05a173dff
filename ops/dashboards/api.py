"""The API (job api): rate, errors and duration per route template, requests in flight, notification
WebSocket connections, and the process itself."""

from ops.dashboards.alerts import threshold
from ops.dashboards.kit import Query, Steps, board, graph, or_zero, per_second, process, quantile, table
from ops.dashboards.names import HTTP, HTTP_COUNT

BY_ROUTE = per_second(HTTP_COUNT, "route")


def _share(status: str) -> str:
    """The share of each route's responses whose status matches `status` (0 for a route with none)."""
    matching = per_second(HTTP_COUNT, "route", where=f'status=~"{status}"')
    return f"({or_zero(matching, BY_ROUTE)}) / {BY_ROUTE}"


def dashboard():
    return board("fitmint-api", "fitmint / API", __doc__, "api", [
        ("Rate", [
            graph("Requests per second by route", Query(BY_ROUTE, "{{route}}"), unit="reqps"),
            graph("Requests per second by status", Query(per_second(HTTP_COUNT, "status"), "{{status}}"),
                  unit="reqps", stacked=True),
        ]),
        ("Errors", [
            graph("Server errors (5xx share) by route", Query(_share("5.."), "{{route}}"), unit="percentunit",
                  steps=Steps(alert=threshold("ApiErrorRatioHigh")),
                  description="Share of the route's responses with a 5xx status"),
            graph("Client errors (4xx share) by route", Query(_share("4.."), "{{route}}"), unit="percentunit",
                  description="Share of the route's responses with a 4xx status: bad input, unauthenticated, "
                  "not found (`unmatched`: no route)"),
        ]),
        ("Duration", [
            graph("p99 by route", Query(quantile(0.99, HTTP, "route"), "{{route}}"), unit="s",
                  steps=Steps(alert=threshold("ApiLatencyHigh")),
                  description="From the request to the end of the response body"),
            graph("p50, p90, p99 of all routes", Query(quantile(0.5, HTTP), "p50"), Query(quantile(0.9, HTTP), "p90"),
                  Query(quantile(0.99, HTTP), "p99"), unit="s", steps=Steps(alert=threshold("ApiLatencyHigh"))),
        ]),
        ("Load", [
            graph("Requests in flight", Query("sum by (instance) (fitmint_http_requests_in_flight)", "{{instance}}"),
                  unit="none", width=8, description="Requests being served now (WebSockets excluded)"),
            graph("WebSocket connections", Query("sum by (instance) (fitmint_websocket_connections)", "{{instance}}"),
                  unit="none", width=8, description="Open notification WebSockets"),
            table("Slowest routes now (p99)", Query(f"sort_desc({quantile(0.99, HTTP, 'route')})"), unit="s", width=8),
        ]),
        ("Process", process("api")),
    ])
