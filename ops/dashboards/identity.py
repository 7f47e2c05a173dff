"""Identity (ACA-Py exchanges, reconciled by the worker replica holding the reconciler lock): connections,
credential issues and presentations by state."""

from ops.dashboards.alerts import threshold
from ops.dashboards.kit import Query, Steps, board, graph, table


def _exchanges(where: str = "") -> str:
    """Exchanges by kind and state (max: only the replica holding the lock exports them)."""
    return f"max by (kind, state) (fitmint_identity_exchanges{{{where}}})" if where else \
        "max by (kind, state) (fitmint_identity_exchanges)"


def dashboard():
    return board("fitmint-identity", "fitmint / Identity", __doc__, "worker", [
        ("Exchanges", [
            graph("Pending by kind", Query(_exchanges('state="pending"'), "{{kind}}"), unit="none", width=8,
                  description="Connections, issues and presentations waiting for the other side"),
            graph("Failed by kind", Query(_exchanges('state="failed"'), "{{kind}}"), unit="none", width=8,
                  steps=Steps(alert=threshold("IdentityExchangesFailing"))),
            graph("Done by kind", Query(_exchanges('state="done"'), "{{kind}}"), unit="none", width=8),
            table("Exchanges now", Query(_exchanges()), unit="none", width=24),
        ]),
    ])
