"""Traces, logs and the trace context of every fitmint process, set up the same way.

A process calls `setup("<service>")` once, first thing in its entry point (not at import: tests and
tools importing our modules stay quiet). Then:
- its log lines are JSON on stderr, each with the trace and span ids of the span it was logged in, and
  are shipped over OTLP to the log store (fitmint/telemetry/logs.py);
- its spans go over OTLP to Jaeger, batched in a background thread (a dead collector costs nothing but
  the dropped spans);
- the maintained instrumentations of the libraries it talks through (asyncpg, Redis, httpx, aiohttp's
  client, aiokafka's producer; its consumer side is fitmint.consumer's own) add their spans inside ours;
  `instrument_app` adds FastAPI's (recommend; the API samples first: backend/app/core/observe.py).

What starts a trace: a request (its server span), a chain event (the indexer, `chosen_trace_id`), a
scheduled job or a loop's own span; `continued` carries one on from a `traceparent` that crossed a
queue. A library's client call with no trace around it (the relay's poll, a heartbeat) starts none:
`RootSampler` drops such roots, so Jaeger holds flows, not background noise.
Settings: fitmint/telemetry/settings.py (OpenTelemetry's standard environment variables).
"""

import contextlib
import contextvars
import logging

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind, StatusCode

from fitmint.telemetry import logs
from fitmint.telemetry.settings import TelemetrySettings

_forced_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("fitmint_trace_id", default=None)
_active = False


def tracer(name: str = "fitmint") -> trace.Tracer:
    """The tracer our own spans come from (a no-op one until `setup` ran)."""
    return trace.get_tracer(name)


def active() -> bool:
    """Whether this process exports traces (`setup` ran and OTEL_SDK_DISABLED is not set)."""
    return _active


class ChosenTraceIds(RandomIdGenerator):
    """Random ids, except a root span started inside `chosen_trace_id(...)`: it gets that trace id."""

    def generate_trace_id(self) -> int:
        chosen = _forced_trace_id.get()
        return chosen if chosen is not None else super().generate_trace_id()


@contextlib.contextmanager
def chosen_trace_id(trace_id: int):
    """Root spans started in this block belong to the trace `trace_id` (a chain event's trace is named
    by its transaction hash: fitmint.telemetry.propagation.chain_trace_id)."""
    token = _forced_trace_id.set(trace_id)
    try:
        yield
    finally:
        _forced_trace_id.reset(token)


@contextlib.contextmanager
def continued(name: str, traceparent: str | None, *, kind: SpanKind = SpanKind.INTERNAL,
              attributes: dict | None = None):
    """A span `name`, current inside the block, in the trace `traceparent` names (one that crossed a queue:
    an outbox row, a Kafka record, a Redis message); no span, and None, without one."""
    from fitmint.telemetry.propagation import context_of

    parent = context_of(traceparent)
    if parent is None:
        yield None
        return
    with tracer().start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as span:
        yield span


def end_spans(spans, error: BaseException | None = None, *, failed: str = "") -> None:
    """Ends spans the caller started; with `error`, each first marked failed (`failed`: what did not
    happen, said before the error)."""
    for span in spans:
        if error is not None:
            span.set_status(StatusCode.ERROR, f"{failed}{error!r}")
        span.end()


def _suppressed(parent_context) -> bool:
    """Inside a request the API chose not to trace (backend/app/core/observe.py): our own spans there do
    not start traces of their own either."""
    return bool(otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY, parent_context))


class RootSampler(Sampler):
    """Roots: requests and our own spans (server, internal) at `ratio`; a library client's call with no
    trace around it (a poll, a heartbeat, a background query), never. Children follow their parent."""

    def __init__(self, ratio: float):
        self.ratio = TraceIdRatioBased(ratio)

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None) -> SamplingResult:
        if kind in (SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER) or _suppressed(parent_context):
            return SamplingResult(Decision.DROP)
        return self.ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"RootSampler({self.ratio.get_description()})"


def setup(service: str, settings: TelemetrySettings | None = None, *, instrument: bool = True) -> None:
    """Configures this process's logs and traces (see the module's docstring). Idempotent."""
    global _active
    settings = settings or TelemetrySettings()
    ship = None
    if not settings.otel_sdk_disabled and not _active:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": service, "service.namespace": "fitmint"})
        provider = TracerProvider(resource=resource, id_generator=ChosenTraceIds(),
                                  sampler=ParentBased(root=RootSampler(settings.fitmint_trace_sample_ratio)))
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=settings.traces_endpoint, timeout=5)))
        trace.set_tracer_provider(provider)
        if settings.otel_logs_exporter == "otlp":
            ship = _log_shipper(resource, settings)
        _active = True
        if instrument:
            instrument_libraries()
    logs.configure(service, level=settings.fitmint_log_level, json=settings.fitmint_log_format == "json", ship=ship)


def _log_shipper(resource, settings: TelemetrySettings) -> logging.Handler:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=settings.logs_endpoint, timeout=5)))
    set_logger_provider(provider)
    return LoggingHandler(level=logging.NOTSET, logger_provider=provider)


def instrument_libraries() -> None:
    """The maintained instrumentations of the clients our processes use (those installed here: the
    recommend venv has none of them)."""
    for module, name in (("opentelemetry.instrumentation.asyncpg", "AsyncPGInstrumentor"),
                         ("opentelemetry.instrumentation.redis", "RedisInstrumentor"),
                         ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
                         ("opentelemetry.instrumentation.aiohttp_client", "AioHttpClientInstrumentor"),
                         ("opentelemetry.instrumentation.aiokafka", "AIOKafkaInstrumentor")):
        try:
            instrumentor = getattr(__import__(module, fromlist=[name]), name)
        except ImportError:
            continue
        instrumentor().instrument()
        if name == "AIOKafkaInstrumentor":
            _keep_consumers_plain()


def _keep_consumers_plain() -> None:
    """aiokafka's instrumentation, producer side only. Its consumer side opens a span per record read
    (a poll span, a topic span and a "receive" span, on every poll): measured 19 us per record when none
    is sampled, against 0.1 us for fitmint.consumer's check of the record's header. That consumer gives a
    traced record its "process <topic>" span, the one covering the work; the library's "receive" beside
    it said nothing more, and a replay of old records (a rebuild) would hang new spans on old traces."""
    import aiokafka
    from opentelemetry.instrumentation.utils import unwrap

    unwrap(aiokafka.AIOKafkaConsumer, "getone")
    unwrap(aiokafka.AIOKafkaConsumer, "getmany")


# FastAPI's own OpenTelemetry support (0.16x: a span per request, per dependency, endpoint and serialisation,
# plus request metrics, whenever a tracer provider is set), turned off in our apps: it costs ~75 µs of a
# ~125 µs balance read even for requests nobody records, and cannot be told to skip them. The API samples
# before any instrumentation runs instead (backend/app/core/observe.py); recommend uses `instrument_app`.
FASTAPI_NATIVE_OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def instrument_app(app) -> None:
    """FastAPI's server spans on `app` (health and metrics scrapes excluded), once `setup` ran."""
    if not _active:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="health,metrics", exclude_spans=["receive", "send"])


def shutdown() -> None:
    """Flushes what is batched (spans, log records): call on a clean exit."""
    if not _active:
        return
    from opentelemetry._logs import get_logger_provider

    for provider in (trace.get_tracer_provider(), get_logger_provider()):
        with contextlib.suppress(Exception):
            provider.shutdown()
