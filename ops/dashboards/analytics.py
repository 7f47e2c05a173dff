"""Analytics (job analytics): events from every topic of the bus into the event store and its projections:
rate, duplicates, freshness (record on Kafka -> projections committed), its consumer group's lag."""

from ops.dashboards.kit import Query, board, graph, per_second, process, quantile, stat
from ops.dashboards.names import CONSUMER_LAG

FRESHNESS = "fitmint_analytics_freshness_seconds"


def dashboard():
    return board("fitmint-analytics", "fitmint / Analytics", __doc__, "analytics", [
        ("Ingest", [
            graph("Events per second", Query(per_second("fitmint_analytics_events_stored_total"), "stored (new)"),
                  Query(per_second("fitmint_analytics_events_duplicate_total"), "duplicates (stored already)"),
                  unit="ops", width=8),
            graph("Freshness", Query(quantile(0.5, FRESHNESS), "p50"), Query(quantile(0.99, FRESHNESS), "p99"),
                  unit="s", width=8, description="From an event's record on Kafka to its projections committed"),
            stat("Since the last batch", Query("time() - max(fitmint_analytics_last_applied_timestamp_seconds)"),
                 unit="s", width=8, description="A quiet bus makes this grow: compare with the consumer lag"),
        ]),
        ("Consumer", [
            graph("Lag by partition", Query(f'max by (topic, partition) ({CONSUMER_LAG}{{group="fitmint-analytics"}})',
                                            "{{topic}}[{{partition}}]"), unit="none", width=24),
        ]),
        ("Process", process("analytics")),
    ])
