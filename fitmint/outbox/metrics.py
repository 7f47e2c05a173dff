"""Prometheus metrics of an outbox relay (whichever process runs it: the indexer, an API replica)."""

from prometheus_client import Counter, Gauge

PUBLISHED = Counter("fitmint_relay_published_total", "Outbox events published to Kafka")
BACKLOG = Gauge("fitmint_relay_outbox_backlog", "Outbox events not yet published")
