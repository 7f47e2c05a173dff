"""Rate, errors and duration of the API's HTTP requests per route (pure ASGI middleware).

`fitmint_http_request_duration_seconds{route, method, status}`: from the request to the end of its
response, labelled with the matched route's path template (`/wallets/{address}/balance`, never the raw
path: one series per route, whatever the addresses), `unmatched` when no route matched (404s), the HTTP
method (`other` for methods no route serves, so a client cannot create series at will) and the status
sent (500 if the app raised before answering). `fitmint_http_requests_in_flight`: requests being served.
Prometheus' scrapes (/metrics) and health checks (/health) are not counted: at one every few seconds
they would make an idle API look busy and healthy. WebSockets pass straight through (their connections
are `fitmint_websocket_connections`).

Cheap on purpose (the balance endpoint answers in 1-2 ms): one dict lookup for the labelled child, no
labels() call per request."""

from time import perf_counter

from prometheus_client import Gauge, Histogram

DURATION = Histogram("fitmint_http_request_duration_seconds", "Time to answer an HTTP request, per route template",
                     ["route", "method", "status"],
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
IN_FLIGHT = Gauge("fitmint_http_requests_in_flight", "HTTP requests being served")

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
EXCLUDED = ("/metrics", "/health")


class HttpMetricsMiddleware:
    def __init__(self, app, excluded: tuple[str, ...] = EXCLUDED):
        self.app = app
        self.excluded = frozenset(excluded)
        self._children: dict[tuple[str, str, int], object] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.excluded:
            return await self.app(scope, receive, send)
        status = 500  # the app raised before answering: the server sends a 500

        async def send_noting_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        IN_FLIGHT.inc()
        start = perf_counter()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed = perf_counter() - start
            IN_FLIGHT.dec()
            self._child(scope, status).observe(elapsed)

    def _child(self, scope, status: int):
        route = scope.get("route")  # set by the router on a match (FastAPI's APIRoute, a Mount)
        key = (UNMATCHED if route is None else route.path, scope["method"], status)
        child = self._children.get(key)
        if child is None:
            method = key[1] if key[1] in METHODS else "other"
            child = self._children[key] = DURATION.labels(key[0], method, str(status))
        return child
