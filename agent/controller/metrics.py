"""Prometheus metrics of the identity agent's exchanges: `fitmint_identity_exchanges{kind, state}`, the
rows of identity_exchanges by kind and state, counted at each pass of the reconciler.

Why there: the reconciler already reads the table every `identity_reconcile_interval_seconds`, in the one
worker holding its lock, so exactly one process reports the numbers (no replica double-counts, no query
per scrape: Prometheus' scrape thread cannot use the asyncio pool). The series' absence in every worker
means no reconciler runs, which is itself worth an alert."""

from prometheus_client import Gauge

EXCHANGES = Gauge("fitmint_identity_exchanges", "Identity exchanges with holders (ACA-Py) by kind and state",
                  ["kind", "state"])
KINDS = ("connection", "issue", "present")  # identity_exchanges.kind (migration 0004)
STATES = ("pending", "done", "failed")  # identity_exchanges.state

COUNT = "SELECT kind, state, count(*) AS exchanges FROM identity_exchanges GROUP BY kind, state"


def observe(rows) -> None:
    """Sets every (kind, state) pair: the rows' counts, 0 for the pairs they lack."""
    counts = {(kind, state): 0 for kind in KINDS for state in STATES}
    for row in rows:
        counts[(row["kind"], row["state"])] = row["exchanges"]
    for (kind, state), count in counts.items():
        EXCHANGES.labels(kind, state).set(count)
