"""Every process's log lines are JSON with the trace and span ids of the span they were logged in, and
reach the log store (VictoriaLogs), where a request's lines are found by its trace id."""

import json
import secrets
import time
from pathlib import Path

import httpx


def _logs_with_trace(settings, trace_id: str, timeout: float = 20.0) -> list[dict]:
    """The log store's lines of `trace_id` (LogsQL), waiting for the batched export to land."""
    url = f"http://127.0.0.1:{settings['VICTORIALOGS_PORT']}/select/logsql/query"
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.post(url, data={"query": f"trace_id:{trace_id}"}, timeout=5)
        answer.raise_for_status()
        lines = [json.loads(line) for line in answer.text.splitlines() if line.strip()]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_a_requests_log_lines_are_found_by_its_trace_id(running_stack):
    settings = running_stack
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    answer = httpx.post(f"http://127.0.0.1:{settings['BACKEND_PORT']}/auth/nonce", json={},
                        headers={"traceparent": f"00-{trace_id}-{parent}-01"}, timeout=10)
    assert answer.status_code == 200, answer.text

    stored = _logs_with_trace(settings, trace_id)
    access = [line for line in stored if line.get("scope.name") == "api.access"]
    assert access, f"no access line of trace {trace_id} in the log store; found {stored}"
    line = access[0]
    assert line["service.name"] == "api"
    assert line["http_method"] == "POST" and line["http_route"] == "/auth/nonce" and line["http_status"] == "200"
    assert line["span_id"] != parent  # the API's own server span, a child of the caller's

    # The same line, as JSON, in the API's log file (what `make logs S=api` shows).
    api_log = Path(settings["FITMINT_STATE_DIR"]) / "logs" / "api.log"
    ours = [json.loads(text) for text in api_log.read_text().splitlines() if trace_id in text]
    assert ours and ours[0]["logger"] == "api.access" and ours[0]["trace_id"] == trace_id
    assert ours[0]["span_id"] == line["span_id"] and ours[0]["level"] == "INFO"


def test_every_python_process_ships_json_lines(running_stack):
    settings = running_stack
    url = f"http://127.0.0.1:{settings['VICTORIALOGS_PORT']}/select/logsql/query"
    answer = httpx.post(url, data={"query": "* | stats by (service.name) count() lines"}, timeout=10)
    answer.raise_for_status()
    services = {json.loads(line)["service.name"] for line in answer.text.splitlines() if line.strip()}
    assert {"api", "indexer", "worker", "txqueue", "analytics", "recommend"} <= services, services
    for service in ("api", "indexer", "worker", "txqueue", "analytics", "recommend"):
        path = Path(settings["FITMINT_STATE_DIR"]) / "logs" / f"{service}.log"
        # The supervisor's own lines and a previous run's lines may precede: the last run's lines are JSON.
        last_run = path.read_text().rsplit("=== fitmint start", 1)[-1].splitlines()[1:]
        records = [json.loads(text) for text in last_run if text.startswith("{")]
        assert records, f"{service}: no JSON line in its log since its last start"
        assert all(record["service"] == service and "level" in record and "time" in record for record in records)
