"""Prometheus metrics of notifications: deliveries by channel and outcome (the worker) and open WebSocket
connections (each API process)."""

from prometheus_client import Counter, Gauge

DELIVERIES = Counter("fitmint_deliveries_total", "Delivery attempts by channel and outcome", ["channel", "outcome"])
WEBSOCKET_CONNECTIONS = Gauge("fitmint_websocket_connections", "Open notification WebSocket connections")

SENT = "sent"  # handed to the SMTP server, the SMS provider, the agent, or published for the live push
RETRIED = "retried"  # a temporary failure: tried again after a backoff
FAILED = "failed"  # a permanent failure, or out of attempts
RELEASED = "released"  # a claim handed back unsent (its pass ran out of time): sent by a later pass
UNCONFIRMED = "unconfirmed"  # claimed by a worker that died mid-send: marked failed, never resent
OUTCOMES = {"email": (SENT, RETRIED, FAILED, RELEASED, UNCONFIRMED),
            "sms": (SENT, RETRIED, FAILED, RELEASED, UNCONFIRMED),
            "didcomm": (SENT, RETRIED, FAILED, RELEASED, UNCONFIRMED),
            "websocket": (SENT, FAILED)}

for _channel, _outcomes in OUTCOMES.items():  # every series exists from the start, at 0
    for _outcome in _outcomes:
        DELIVERIES.labels(_channel, _outcome)


def delivered(channel: str, outcome: str, count: int = 1) -> None:
    if count:
        DELIVERIES.labels(channel, outcome).inc(count)
