"""Metric names more than one dashboard queries (each is defined once, by the process that serves it)."""

HTTP = "fitmint_http_request_duration_seconds"  # backend/app/core/http_metrics.py: histogram {route, method, status}
HTTP_COUNT = HTTP + "_count"
DELIVERIES = "fitmint_deliveries_total"  # backend/app/notifications/metrics.py: counter {channel, outcome}
CONSUMER_LAG = "fitmint_consumer_lag_records"  # fitmint/consumerlag.py: gauge {group, topic, partition}
