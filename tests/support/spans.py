"""Spans recorded in memory, for tests of our own tracing code: the processes' provider (sampler and id
generator of fitmint.telemetry) with an in-memory exporter, installed as the global one for the test and
removed after it (OpenTelemetry sets its global provider once: the reset is what its own test utilities do)."""

import contextlib

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.util._once import Once

from fitmint import telemetry


@contextlib.contextmanager
def recorded_spans():
    """Yields the exporter (`get_finished_spans()`) while a provider configured as `telemetry.setup`'s is
    the global one and `telemetry.active()` is true."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=telemetry.ChosenTraceIds(),
                              sampler=ParentBased(root=telemetry.RootSampler(1.0)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE, telemetry._active
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = None, Once()
    trace.set_tracer_provider(provider)
    telemetry._active = True
    try:
        yield exporter
    finally:
        provider.shutdown()
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE, telemetry._active = saved
