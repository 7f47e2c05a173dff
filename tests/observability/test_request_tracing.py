"""The API's head sampling (backend/app/core/observe.py): which requests are traced, how their server
span is named, that an untraced request records nothing (not even our own spans), and that a traced
request's access log line is logged in its span."""

import asyncio
import logging

import httpx
from fastapi import FastAPI
from opentelemetry import trace

from backend.app.core.observe import ObserveMiddleware
from fitmint import telemetry
from fitmint.telemetry import FASTAPI_NATIVE_OFF
from tests.support.spans import recorded_spans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def _app(read_ratio: float = 0.0) -> FastAPI:
    app = FastAPI(telemetry=FASTAPI_NATIVE_OFF)

    @app.get("/things/{thing_id}")
    async def read(thing_id: int):
        with telemetry.tracer().start_as_current_span("our own work"):
            return {"thing": thing_id}

    @app.post("/things/{thing_id}")
    async def write(thing_id: int):
        with telemetry.tracer().start_as_current_span("our own work"):
            return {"thing": thing_id}

    app.add_middleware(ObserveMiddleware, tracing=True, read_ratio=read_ratio)
    return app


def _call(app, method: str, path: str, traceparent: str | None = None) -> httpx.Response:
    return asyncio.run(_request(app, method, path, traceparent))


async def _request(app, method: str, path: str, traceparent: str | None) -> httpx.Response:
    headers = {"traceparent": traceparent} if traceparent else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        return await client.request(method, path, headers=headers)


def test_a_write_is_traced_and_its_span_is_named_by_its_route():
    with recorded_spans() as spans:
        answer = _call(_app(), "POST", "/things/7")
        assert answer.status_code == 200
        finished = {span.name: span for span in spans.get_finished_spans()}
    server = finished["POST /things/{thing_id}"]
    assert server.attributes["http.route"] == "/things/{thing_id}" and server.parent is None
    assert finished["our own work"].parent.span_id == server.context.span_id


def test_a_read_without_traceparent_records_nothing_at_ratio_zero():
    with recorded_spans() as spans:
        assert (_call(_app(read_ratio=0.0), "GET", "/things/7")).status_code == 200
        assert spans.get_finished_spans() == ()  # neither a server span nor our own span as a root of its own


def test_reads_follow_the_read_ratio_and_the_callers_sampled_flag():
    with recorded_spans() as spans:
        _call(_app(read_ratio=1.0), "GET", "/things/1")
        assert {span.name for span in spans.get_finished_spans()} == {"GET /things/{thing_id}", "our own work"}
        spans.clear()
        _call(_app(read_ratio=0.0), "GET", "/things/2", traceparent=f"00-{TRACE_ID}-{PARENT}-01")
        server = next(span for span in spans.get_finished_spans() if span.name == "GET /things/{thing_id}")
        assert format(server.context.trace_id, "032x") == TRACE_ID
        assert format(server.parent.span_id, "016x") == PARENT
        spans.clear()
        _call(_app(read_ratio=1.0), "GET", "/things/3", traceparent=f"00-{TRACE_ID}-{PARENT}-00")
        assert spans.get_finished_spans() == ()  # the caller did not sample it: neither do we


class _Recorder(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = []

    def emit(self, record):
        self.seen.append((record.getMessage(), trace.get_current_span().get_span_context()))


def test_a_traced_requests_access_line_is_logged_in_its_span():
    recorder, access = _Recorder(), logging.getLogger("api.access")
    level = access.level
    access.addHandler(recorder)
    access.setLevel(logging.INFO)
    try:
        with recorded_spans() as spans:
            _call(_app(), "POST", "/things/9")
            server = next(span for span in spans.get_finished_spans() if span.name == "POST /things/{thing_id}")
    finally:
        access.removeHandler(recorder)
        access.setLevel(level)
    (message, context), = recorder.seen
    assert message.startswith("POST /things/9 200")
    assert context.trace_id == server.context.trace_id and context.span_id == server.context.span_id
