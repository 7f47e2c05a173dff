"""Rate, errors and duration of the API's HTTP requests per route, recorded by the API's one observe
middleware (backend/app/core/observe.py: `on_request=record`, `in_flight=IN_FLIGHT`) unless
HTTP_METRICS_ENABLED is off.

`fitmint_http_request_duration_seconds{route, method, status}`: from the request to the end of its
response, labelled with the matched route's path template (`/wallets/{address}/balance`, never the raw
path: one series per route, whatever the addresses), `unmatched` when no route matched (404s), the HTTP
method (`other` for methods no route serves, so a client cannot create series at will) and the status
sent (500 if the app raised before answering). `fitmint_http_requests_in_flight`: requests being served.
Prometheus' scrapes (/metrics) and health checks (/health) are not recorded (the middleware leaves them
out: observe.UNOBSERVED). WebSockets are not requests here (their connections
are `fitmint_websocket_connections`).

Cheap on purpose (the balance endpoint takes ~125 µs of CPU): one dict lookup for the labelled child, no
labels() call per request."""

from prometheus_client import Gauge, Histogram

DURATION = Histogram("fitmint_http_request_duration_seconds", "Time to answer an HTTP request, per route template",
                     ["route", "method", "status"],
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
IN_FLIGHT = Gauge("fitmint_http_requests_in_flight", "HTTP requests being served")


class InFlight:
    """The requests being served, counted with a plain integer (the middleware adds and subtracts one per
    request); the gauge reads it at each scrape instead of taking its lock twice a request."""
    count = 0


IN_FLIGHT.set_function(lambda: InFlight.count)

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_children: dict[tuple[str, str, int], object] = {}


def record(route: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request: `route` is the matched route's path template (None: no route matched)."""
    route = route or UNMATCHED
    if method not in METHODS:
        method = "other"
    key = (route, method, status)
    child = _children.get(key)
    if child is None:
        child = _children[key] = DURATION.labels(route, method, str(status))
    child.observe(seconds)
