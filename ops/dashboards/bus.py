"""The event bus (Kafka): how far each consumer group is behind, per group and per partition, and the
outbox relays that feed it, per producer (the indexer's; the API's, run by whichever API or worker process
holds the relay lock)."""

from ops.dashboards.alerts import threshold
from ops.dashboards.kit import Query, Steps, board, graph, per_second, table
from ops.dashboards.names import CONSUMER_LAG


def dashboard():
    return board("fitmint-bus", "fitmint / Bus and consumers", __doc__, None, [
        ("Consumer lag", [
            graph("Lag by group", Query(f"sum by (group) ({CONSUMER_LAG})", "{{group}}"), unit="none",
                  steps=Steps(alert=threshold("ConsumerLagging")),
                  description="Records on the group's partitions not consumed yet (0: caught up)"),
            graph("Lag by group and partition", Query(f"max by (group, topic, partition) ({CONSUMER_LAG})",
                                                      "{{group}} {{topic}}[{{partition}}]"), unit="none"),
            table("Lag per partition now", Query(f"max by (group, topic, partition) ({CONSUMER_LAG})"),
                  unit="none", width=24),
        ]),
        ("Outbox relays", [
            graph("Published per second", Query(per_second("fitmint_relay_published_total", "producer"),
                                                "{{producer}}"), unit="ops", width=8),
            graph("Backlog", Query("max by (producer) (fitmint_relay_outbox_backlog)", "{{producer}}"), unit="none",
                  width=8, description="Outbox rows not yet published"),
            graph("Oldest unpublished row", Query("max by (producer) (fitmint_relay_outbox_oldest_age_seconds)",
                                                  "{{producer}}"), unit="s",
                  steps=Steps(alert=threshold("OutboxStuck")), width=8),
        ]),
    ])
