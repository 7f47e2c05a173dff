"""Against `make up`'s Prometheus: every scrape target is up, each process serves the metrics an SRE reads
(RED per API route, consumer lag per group and partition, outbox backlog and age per producer, indexer lag
in blocks and seconds, deliveries by channel and outcome, the transaction queue's states, the identity
exchanges' states), and the recording and alerting rules of ops/prometheus/rules are loaded and evaluate
without errors."""

import time
from pathlib import Path

import httpx
import yaml

from analytics.settings import Settings as AnalyticsSettings
from backend.app.core.config import Settings

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "rules"
SCRAPE_WAIT = 30  # seconds: the stack scrapes every 5 s; a process restarted just before gets a few rounds


def _prometheus(settings) -> str:
    return f"http://127.0.0.1:{settings['PROMETHEUS_PORT']}"


def _query(settings, promql: str) -> list[dict]:
    answer = httpx.get(f"{_prometheus(settings)}/api/v1/query", params={"query": promql}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]["result"]


def _eventually(settings, promql: str, what: str, accept=bool) -> list[dict]:
    deadline = time.monotonic() + SCRAPE_WAIT
    while not accept(result := _query(settings, promql)):
        assert time.monotonic() < deadline, f"{what}: `{promql}` returned {result}"
        time.sleep(1)
    return result


def test_every_scrape_target_is_up(running_stack):
    def all_up(targets) -> bool:
        return bool(targets) and all(target["health"] == "up" for target in targets)

    deadline = time.monotonic() + SCRAPE_WAIT
    while not all_up(targets := httpx.get(f"{_prometheus(running_stack)}/api/v1/targets", timeout=10)
                     .json()["data"]["activeTargets"]):
        assert time.monotonic() < deadline, "targets not up: " + ", ".join(
            f"{t['labels']['job']} {t['health']} {t['lastError']}" for t in targets if t["health"] != "up")
        time.sleep(1)
    assert {t["labels"]["job"] for t in targets} >= {"api", "indexer", "worker", "txqueue", "analytics", "recommend"}


def _labels(settings, promql: str, label: str, what: str, expected: set[str]) -> set[str]:
    result = _eventually(settings, promql, what,
                         accept=lambda r: expected <= {sample["metric"].get(label) for sample in r})
    return {sample["metric"].get(label) for sample in result}


def test_each_process_serves_its_metrics(running_stack):
    settings = running_stack
    api = f"http://127.0.0.1:{settings['BACKEND_PORT']}"
    assert httpx.get(f"{api}/chain", timeout=10).status_code == 200
    assert httpx.get(f"{api}/no/such/route", timeout=10).status_code == 404

    # API: one series per route template and status, none for the scrapes.
    routes = _labels(settings, 'fitmint_http_request_duration_seconds_count{job="api"}', "route",
                     "API requests by route", {"/chain", "unmatched"})
    assert "/metrics" not in routes and "/health" not in routes
    for gauge in ("fitmint_http_requests_in_flight", "fitmint_websocket_connections"):
        _eventually(settings, f'{gauge}{{job="api"}}', gauge)

    # Consumer lag of every group, per partition.
    backend = Settings()
    worker_groups = {backend.notifications_consumer_group, backend.deliveries_consumer_group,
                     backend.email_consumer_group}
    _labels(settings, 'fitmint_consumer_lag_records{job="worker"}', "group", "the worker's consumer lag", worker_groups)
    _labels(settings, 'fitmint_consumer_lag_records{job="analytics"}', "group", "analytics' consumer lag",
            {AnalyticsSettings().analytics_consumer_group})

    # Outboxes: the indexer's relay, and the API's (in whichever api or worker process holds its lock).
    for metric in ("fitmint_relay_outbox_backlog", "fitmint_relay_outbox_oldest_age_seconds"):
        _labels(settings, metric, "producer", metric, {"indexer", "api"})

    # Indexer lag, blocks and seconds.
    for metric in ("fitmint_indexer_lag_blocks", "fitmint_indexer_lag_seconds"):
        _eventually(settings, f'{metric}{{job="indexer"}}', metric)

    # Deliveries: every channel and outcome exists from the start.
    channels = _labels(settings, 'fitmint_deliveries_total{job="worker"}', "channel", "deliveries by channel",
                       {"email", "sms", "didcomm", "websocket"})
    assert channels == {"email", "sms", "didcomm", "websocket"}
    _labels(settings, 'fitmint_deliveries_total{job="worker", channel="email"}', "outcome", "email outcomes",
            {"sent", "retried", "failed", "released", "unconfirmed"})

    # The transaction queue's requests by state; the identity exchanges by kind and state (reconciler pass).
    _labels(settings, 'fitmint_txqueue_requests{job="txqueue"}', "state", "transaction queue states",
            {"queued", "sent", "mined", "failed", "replaced"})
    _eventually(settings, 'fitmint_txqueue_oldest_waiting_seconds{job="txqueue"}', "oldest waiting request")
    _labels(settings, 'fitmint_identity_exchanges{job="worker"}', "state", "identity exchange states",
            {"pending", "done", "failed"})


def test_the_rules_are_loaded_and_evaluate(running_stack):
    expected = {rule.get("alert") or rule["record"] for path in RULES.glob("*.yml")
                for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}
    answer = httpx.get(f"{_prometheus(running_stack)}/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = {rule["name"]: rule for group in answer for rule in group["rules"]}
    assert expected <= set(loaded), f"rules not loaded: {sorted(expected - set(loaded))}"
    broken = {name: rule.get("lastError") for name, rule in loaded.items() if rule.get("health") == "err"}
    assert not broken, f"rules failing to evaluate: {broken}"
