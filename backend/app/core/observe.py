"""What the API observes of each HTTP request, in one ASGI middleware (each layer costs: the balance
endpoint takes ~125 µs of CPU, and OpenTelemetry's FastAPI instrumentation alone added ~75 µs to it
even for requests it did not record):

- **whether it is traced** (head sampling, decided before any instrumentation runs): a request carrying
  a `traceparent` follows its sampled flag; without one, writes (anything but GET/HEAD/OPTIONS) are always
  traced and reads at `read_ratio`. A traced request runs inside OpenTelemetry's ASGI middleware (the
  server span, named by its route, parent of the asyncpg, Redis and HTTP client spans and of our own); any
  other runs with instrumentation suppressed, so the libraries' instrumentations cost next to nothing;
- **its RED metrics** (`on_request(route, method, status, seconds)`, the route's path template or None; the
  `in_flight` counter, read by a gauge at each scrape, counts the requests being served);
- **its access log line** (backend/app/core/access_log.py decides which requests get one), logged in
  the request's span so the line carries its trace id.
WebSocket connections pass through untouched (their messages are traced where they are sent)."""

import contextlib
import random
import time
from collections.abc import Callable

from opentelemetry import context, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

from backend.app.core import access_log

# Probes and scrapes: every few seconds, never interesting; neither traced nor counted (they would make an
# idle API look busy and healthy), though an error answer to one is still logged.
UNOBSERVED = frozenset(("/health", "/metrics"))
OnRequest = Callable[[str | None, str, int, float], None]  # route template (None: unmatched), method, status, s
# A request starts with an empty context: the suppressed one is the same for every untraced request.
_SUPPRESSED = context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, context.Context())


def wants_trace(scope, read_ratio: float) -> bool:
    """The head-sampling decision for a request (see the module's docstring)."""
    for name, value in scope["headers"]:
        if name == b"traceparent":
            try:
                return bool(int(value[-2:], 16) & 1)  # the flags' sampled bit
            except ValueError:
                return False  # malformed: not ours to trace
    if scope["method"] not in access_log.READS:
        return True
    return read_ratio >= 1.0 or (read_ratio > 0.0 and random.random() < read_ratio)


def route_of(scope) -> str | None:
    """The path template of the route a request matched: FastAPI leaves the route in the scope once it
    has routed the request (there is no cheap way to know it before: included routers match lazily)."""
    route = scope.get("route")
    return None if route is None else route.path


def _span_details(scope) -> tuple[str, dict]:
    return scope.get("method", "HTTP"), {}  # renamed after routing (_NameSpanByRoute)


class _NameSpanByRoute:
    """Inside the server span: when the answer starts (the request has been routed; the span ends with
    the answer's last byte), the span gets the route's name (`POST /rewards/workouts/{workout_id}/voucher`)
    and `http.route`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def sending(message):
            if message["type"] == "http.response.start" and (route := route_of(scope)) is not None:
                span = trace.get_current_span()
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.route", route)
            await send(message)

        await self.app(scope, receive, sending)


def _keep_span(span, scope) -> None:
    scope["fitmint.span"] = span


class ObserveMiddleware:
    def __init__(self, app, *, tracing: bool, read_ratio: float = 0.001, on_request: OnRequest | None = None,
                 in_flight=None, access: str = "writes", slow_seconds: float = 0.5):
        self.app = app
        self.in_flight = in_flight  # an object whose `count` is the requests being served, or None
        self.read_ratio = read_ratio
        self.on_request = on_request
        self.log = access_log.AccessLog(access, slow_seconds)
        self.traced = None
        if tracing:
            from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

            self.traced = OpenTelemetryMiddleware(_NameSpanByRoute(app), default_span_details=_span_details,
                                                  server_request_hook=_keep_span, exclude_spans=["receive", "send"])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began = time.perf_counter()
        observed = scope["path"] not in UNOBSERVED
        in_flight = self.in_flight if observed else None
        if in_flight is not None:
            in_flight.count += 1
        status = 500  # what the client gets if the app raises before answering

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.traced is None:
                await self.app(scope, receive, sending)
            elif observed and wants_trace(scope, self.read_ratio):
                await self.traced(scope, receive, sending)
            else:  # what suppress_instrumentation() does, without building the context per request
                token = context.attach(_SUPPRESSED)
                try:
                    await self.app(scope, receive, sending)
                finally:
                    context.detach(token)
        finally:
            seconds = time.perf_counter() - began
            if in_flight is not None:
                in_flight.count -= 1
            counted = observed and self.on_request is not None
            logged = self.log.wants(scope["method"], status, seconds)
            route = route_of(scope)
            if counted:
                self.on_request(route, scope["method"], status, seconds)
            if logged:  # in the request's span (ended by now) when it was traced: the line carries its ids
                with trace.use_span(span) if (span := scope.get("fitmint.span")) else contextlib.nullcontext():
                    self.log.line(scope, route, status, seconds)
