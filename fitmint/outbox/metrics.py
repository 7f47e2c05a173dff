"""Prometheus metrics of an outbox relay (whichever process runs it: the indexer, the API or worker process
holding the API relay's lock), labelled with the outbox's producer (`indexer`, `api`). Only the process
whose relay runs reports a producer's series: aggregate with max by (producer)."""

from prometheus_client import Counter, Gauge

PUBLISHED = Counter("fitmint_relay_published_total", "Outbox events published to Kafka", ["producer"])
BACKLOG = Gauge("fitmint_relay_outbox_backlog", "Outbox events not yet published", ["producer"])
OLDEST_AGE = Gauge("fitmint_relay_outbox_oldest_age_seconds",
                   "Age of the oldest outbox event not yet published (0 when none waits)", ["producer"])

# The backlog, and how long its oldest row has waited, in one statement (the relay's position is a
# (txid, seq) pair).
BACKLOG_QUERY = ("SELECT count(*) AS backlog, "
                 "coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8 AS oldest_age "
                 "FROM outbox WHERE (txid, seq) > ($1, $2)")


def started(producer: str) -> None:
    """The producer's series exist (at 0) from the relay's start."""
    PUBLISHED.labels(producer)
    BACKLOG.labels(producer)
    OLDEST_AGE.labels(producer)


def observed(producer: str, backlog: int, oldest_age: float) -> None:
    BACKLOG.labels(producer).set(backlog)
    OLDEST_AGE.labels(producer).set(max(0.0, oldest_age))
