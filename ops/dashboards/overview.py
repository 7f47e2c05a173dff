"""The platform at a glance: is every process up, is the API fast and correct, is the pipeline from the chain
to the members keeping up (indexer, bus, outbox relays, deliveries), what alerts fire."""

from ops.dashboards.alerts import threshold
from ops.dashboards.kit import ALERTS_FIRING, UP_DOWN, Query, Steps, board, graph, per_second, quantile, stat
from ops.dashboards.names import DELIVERIES, HTTP, HTTP_COUNT, delivery_failed_share


def dashboard():
    requests = per_second(HTTP_COUNT)
    server_errors = per_second(HTTP_COUNT, where='status=~"5.."')
    slowest = quantile(0.99, HTTP, "route", where='route!="unmatched"')
    return board("fitmint-overview", "fitmint / Overview", __doc__, None, [
        ("Health", [
            stat("Processes", Query("up", "{{job}}"), mappings=UP_DOWN, steps=Steps(alert=1, below=True), width=16,
                 description="1 when Prometheus' last scrape of the process succeeded (alert ProcessDown)"),
            stat("Alerts firing", Query(f"count({ALERTS_FIRING}) or vector(0)"), steps=Steps(alert=1),
                 description="Alerting rules firing now: Prometheus' alerts page (link above) says which"),
            stat("Dependencies down",
                 Query("count(min by (component, dependency) (fitmint_dependency_up) == 0) or vector(0)"),
                 steps=Steps(alert=1), description="Dependencies (PostgreSQL, Kafka, Redis, the chain's RPC) a "
                 "process sees in an outage now (alert DependencyDown)"),
        ]),
        ("API", [
            graph("Requests per second", Query(requests, "requests"), unit="reqps", width=8),
            graph("Server errors (5xx share)", Query(
                f"({server_errors} or vector(0)) / {requests}",
                "5xx"), unit="percentunit", steps=Steps(alert=threshold("ApiErrorRatioHigh")), width=8,
                description="Share of responses with a 5xx status (0 while there are none)"),
            graph("Latency p99, slowest routes",
                  Query(f"topk(5, {slowest})", "{{route}}"),
                  unit="s", steps=Steps(alert=threshold("ApiLatencyHigh")), width=8,
                  description="The alert ApiLatencyHigh watches each route's p99 (routes with traffic)"),
        ]),
        ("Pipeline: chain -> indexer -> bus -> consumers", [
            graph("Indexer lag (blocks)", Query("max(fitmint_indexer_lag_blocks)", "blocks"), unit="none",
                  steps=Steps(alert=threshold("IndexerLagging")), width=6),
            graph("Indexer lag (seconds)", Query("max(fitmint_indexer_lag_seconds)", "behind the chain"), unit="s",
                  steps=Steps(alert=threshold("IndexerStale")), width=6),
            graph("Consumer lag by group", Query("sum by (group) (fitmint_consumer_lag_records)", "{{group}}"),
                  unit="none", steps=Steps(alert=threshold("ConsumerLagging")), width=6),
            graph("Oldest unpublished outbox row",
                  Query("max by (producer) (fitmint_relay_outbox_oldest_age_seconds)", "{{producer}}"),
                  unit="s", steps=Steps(alert=threshold("OutboxStuck")), width=6),
        ]),
        ("Deliveries and transactions", [
            graph("Deliveries failing", Query(delivery_failed_share("channel"), "{{channel}}"), unit="percentunit",
                  steps=Steps(alert=threshold("DeliveryFailures")), width=8,
                  description="Share of the deliveries that ended which failed, by channel (no value: none ended)"),
            graph("Deliveries sent", Query(per_second(DELIVERIES, "channel", where='outcome="sent"'),
                                           "{{channel}}"), unit="ops", width=8),
            graph("Oldest waiting transaction", Query("max(fitmint_txqueue_oldest_waiting_seconds)", "queued or sent"),
                  unit="s", steps=Steps(alert=threshold("TxQueueStuck")), width=8),
        ]),
    ])
