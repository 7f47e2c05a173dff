"""Notifications (the worker, job worker): deliveries by channel (email, SMS, DIDComm, WebSocket) and
outcome, the worker's consumer groups, the live WebSocket connections of the API, and the worker process."""

from ops.dashboards.alerts import threshold
from ops.dashboards.kit import Query, Steps, board, graph, per_second, process
from ops.dashboards.names import CONSUMER_LAG, DELIVERIES, delivery_failed_share


def _outcome(outcome: str) -> str:
    return per_second(DELIVERIES, "channel", where=f'outcome="{outcome}"')


def dashboard():
    return board("fitmint-notifications", "fitmint / Notifications", __doc__, "worker", [
        ("Deliveries", [
            graph("Sent per second by channel", Query(_outcome("sent"), "{{channel}}"), unit="ops", width=8,
                  description="Handed to SMTP, the SMS provider, the agent, or published to the live sockets"),
            graph("Failed per second by channel", Query(_outcome("failed"), "{{channel}}"), unit="ops", width=8,
                  description="Permanent failures and deliveries given up after the last attempt"),
            graph("Retried per second by channel", Query(_outcome("retried"), "{{channel}}"), unit="ops", width=8,
                  description="Temporary failures, tried again later"),
            graph("Failed share by channel", Query(delivery_failed_share("channel"), "{{channel}}"),
                  unit="percentunit", steps=Steps(alert=threshold("DeliveryFailures")), width=8,
                  description="Of the deliveries that ended (sent, failed, unconfirmed), the share that failed "
                  "(alert DeliveryFailures, over 15 minutes and at least 3)"),
            graph("Every outcome by channel", Query(per_second(DELIVERIES, "channel", "outcome"),
                                                    "{{channel}} {{outcome}}"), unit="ops", width=16,
                  description="released: a claim handed back untouched; unconfirmed: a worker died mid-send (marked "
                  "failed, not sent again)"),
        ]),
        ("Consumers and live connections", [
            graph("Consumer lag of the worker's groups",
                  Query(f'sum by (group) ({CONSUMER_LAG}{{job="worker"}})', "{{group}}"), unit="none"),
            graph("WebSocket connections (API)", Query("sum(fitmint_websocket_connections)", "open"), unit="none"),
        ]),
        ("Worker process", process("worker")),
    ])
