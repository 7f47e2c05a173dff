"""The API's RED metrics (backend/app/core/http_metrics.py, recorded by the observe middleware) on a FastAPI
app: one series per route template whatever the path parameters, the status sent, `unmatched` for paths no
route serves, methods no route serves as `other`, scrapes and health checks left out, nothing in flight
afterwards; the API application records them unless HTTP_METRICS_ENABLED is off."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from prometheus_client import REGISTRY

from backend.app.core import http_metrics
from backend.app.core.observe import ObserveMiddleware

DURATION = "fitmint_http_request_duration_seconds"


def _count(route: str, method: str, status: str) -> float:
    return REGISTRY.get_sample_value(f"{DURATION}_count", {"route": route, "method": method, "status": status}) or 0


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/test-metrics/wallets/{address}/balance")
    async def balance(address: str):
        if address == "0xmissing":
            raise HTTPException(404, "no such wallet")
        return {"address": address, "balance": "1"}

    @app.get("/test-metrics/boom")
    async def boom():
        raise RuntimeError("a bug")

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics():
        return "scrape"

    app.add_middleware(ObserveMiddleware, tracing=False, on_request=http_metrics.record,
                       in_flight=http_metrics.InFlight, access="off")
    return app


def _get(app, *paths, method="GET"):
    async def run():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [(await client.request(method, path)).status_code for path in paths]

    return asyncio.run(run())


@pytest.fixture(scope="module")
def app():
    return _app()


def test_requests_are_labelled_by_route_template_and_status(app):
    route = "/test-metrics/wallets/{address}/balance"
    before_ok, before_missing = _count(route, "GET", "200"), _count(route, "GET", "404")
    assert _get(app, "/test-metrics/wallets/0xaa/balance", "/test-metrics/wallets/0xbb/balance",
                "/test-metrics/wallets/0xmissing/balance") == [200, 200, 404]
    assert _count(route, "GET", "200") - before_ok == 2
    assert _count(route, "GET", "404") - before_missing == 1
    assert REGISTRY.get_sample_value(f"{DURATION}_count", {"route": "/test-metrics/wallets/0xaa/balance",
                                                            "method": "GET", "status": "200"}) is None


def test_an_unmatched_path_an_error_and_an_unknown_method(app):
    before = (_count("unmatched", "GET", "404"), _count("/test-metrics/boom", "GET", "500"),
              _count("/test-metrics/boom", "other", "405"))
    assert _get(app, "/test-metrics/no/such/path", "/test-metrics/boom") == [404, 500]
    assert _get(app, "/test-metrics/boom", method="BREW") == [405]
    after = (_count("unmatched", "GET", "404"), _count("/test-metrics/boom", "GET", "500"),
             _count("/test-metrics/boom", "other", "405"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert REGISTRY.get_sample_value("fitmint_http_requests_in_flight") == 0


def test_scrapes_and_health_checks_are_not_counted(app):
    def counted() -> float:
        return sum(sample.value for metric in REGISTRY.collect() if metric.name == DURATION
                   for sample in metric.samples if sample.name == f"{DURATION}_count")

    before = counted()
    assert _get(app, "/health", "/metrics", "/health") == [200, 200, 200]
    assert counted() == before


def test_the_api_records_them_unless_turned_off(monkeypatch):
    from backend.app.core.config import Settings
    from backend.app.main import create_app

    def observer(app):
        [middleware] = [m for m in app.user_middleware if m.cls is ObserveMiddleware]
        return middleware.kwargs

    assert observer(create_app())["on_request"] is http_metrics.record
    assert observer(create_app())["in_flight"] is http_metrics.InFlight
    monkeypatch.setenv("HTTP_METRICS_ENABLED", "false")
    off = observer(create_app(Settings()))
    assert off["on_request"] is None and off["in_flight"] is None
