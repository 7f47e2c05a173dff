"""Identity (ACA-Py exchanges, reconciled by the worker replica holding the reconciler lock): connections,
credential issues and presentations by state."""

from ops.dashboards.alerts import threshold
from ops.dashboards.kit import Query, Steps, board, graph, table

FAILED = 'fitmint_identity_exchanges{state="failed"}'
FAILED_LAST_HOUR = f"sum by (kind) ({FAILED} - min_over_time({FAILED}[1h]))"  # as the alert counts them


def _exchanges(where: str = "") -> str:
    """Exchanges by kind and state (max: only the replica holding the lock exports them)."""
    return f"max by (kind, state) (fitmint_identity_exchanges{{{where}}})" if where else \
        "max by (kind, state) (fitmint_identity_exchanges)"


def dashboard():
    return board("fitmint-identity", "fitmint / Identity", __doc__, "worker", [
        ("Exchanges", [
            graph("Pending by kind", Query(_exchanges('state="pending"'), "{{kind}}"), unit="none", width=8,
                  description="Connections, issues and presentations waiting for the other side"),
            graph("Failed in the last hour by kind", Query(FAILED_LAST_HOUR, "{{kind}}"), unit="none", width=8,
                  steps=Steps(alert=threshold("IdentityExchangesFailing")),
                  description="Exchanges that ended failed within the hour (alert IdentityExchangesFailing)"),
            graph("Failed and done by kind", Query(_exchanges('state="failed"'), "{{kind}} failed"),
                  Query(_exchanges('state="done"'), "{{kind}} done"), unit="none", width=8),
            table("Exchanges now", Query(_exchanges()), unit="none", width=24),
        ]),
    ])
