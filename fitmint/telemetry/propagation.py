"""Trace context across what is ours: outbox rows, Kafka records, Redis messages, chain events.

A context travels as a W3C `traceparent` string (`00-<trace id>-<span id>-<flags>`): the outbox keeps
the one of the transaction that wrote a row, the relay puts it on the Kafka record (a `traceparent`
header and the CloudEvents distributed-tracing extension of the same name), and a consumer continues
the trace from it. A chain event has no caller: its trace id is derived from its transaction hash, so anyone
holding the hash finds the trace (`chain_trace_id`, started with fitmint.telemetry.chosen_trace_id)."""

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_W3C = TraceContextTextMapPropagator()
HEADER = "traceparent"


def traceparent_of(span_context: SpanContext) -> str | None:
    if not span_context.is_valid:
        return None
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


def current_traceparent() -> str | None:
    """The traceparent of the current span (None outside any span)."""
    return traceparent_of(trace.get_current_span().get_span_context())


def context_of(traceparent: str | bytes | None) -> Context | None:
    """The context a traceparent names, to start child spans in (None if absent or malformed)."""
    if not traceparent:
        return None
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode("ascii", "replace")
    context = _W3C.extract({HEADER: traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def sampled_context(traceparent: str | bytes | None) -> Context | None:
    """The context a traceparent names if its trace is sampled (recorded): what the relay and the
    consumers continue; None otherwise."""
    context = context_of(traceparent)
    if context is None or not trace.get_current_span(context).get_span_context().trace_flags.sampled:
        return None
    return context


def record_traceparent(record) -> str | None:
    """The `traceparent` header of a Kafka record (aiokafka ConsumerRecord), if any."""
    for key, value in record.headers or ():
        if key == HEADER:
            return value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return None


def chain_trace_id(tx_hash: str | bytes) -> int:
    """The trace id of a chain transaction's events: its hash's first 16 bytes (a hash is uniform, so the
    ids are too). Search Jaeger for `<tx hash without 0x>[:32]`."""
    raw = bytes.fromhex(tx_hash.removeprefix("0x")) if isinstance(tx_hash, str) else tx_hash
    return int.from_bytes(raw[:16], "big") or 1
