"""Metric names (and a query) more than one dashboard uses; each metric is defined once, by the process that
serves it."""

from ops.dashboards.kit import per_second

HTTP = "fitmint_http_request_duration_seconds"  # backend/app/core/http_metrics.py: histogram {route, method, status}
HTTP_COUNT = HTTP + "_count"
DELIVERIES = "fitmint_deliveries_total"  # backend/app/notifications/metrics.py: counter {channel, outcome}
CONSUMER_LAG = "fitmint_consumer_lag_records"  # fitmint/consumerlag.py: gauge {group, topic, partition}


def delivery_failed_share(*by: str) -> str:
    """The share of deliveries that ended failed (for good, or unconfirmed: a worker died mid-send) among those
    that ended, as the DeliveryFailures alert counts it. No delivery ended: 0/0, no value."""
    failed = per_second(DELIVERIES, *by, where='outcome=~"failed|unconfirmed"')
    ended = per_second(DELIVERIES, *by, where='outcome=~"sent|failed|unconfirmed"')
    return f"{failed} / {ended}"
