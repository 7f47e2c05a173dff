"""The transaction queue (job txqueue): requests by state, how long the oldest one has been waiting, the
operator keys' ETH against the funding threshold, and the worker's passes."""

from fitmint.txqueue.settings import TxQueueSettings
from ops.dashboards.alerts import threshold
from ops.dashboards.kit import Query, Steps, board, graph, process, stat

ETH = 10**18
# The default funding threshold (TXQUEUE_MIN_BALANCE_WEI); a deployment with another sees its own in "Keys low".
MIN_BALANCE_ETH = TxQueueSettings.model_fields["txqueue_min_balance_wei"].default / ETH


def _by_state(states: str) -> str:
    return f'sum by (state) (fitmint_txqueue_requests{{state=~"{states}"}})'


def dashboard():
    return board("fitmint-txqueue", "fitmint / Transaction queue", __doc__, "txqueue", [
        ("Requests", [
            graph("Waiting by state", Query(_by_state("queued|sent"), "{{state}}"), unit="none", stacked=True, width=8,
                  description="queued: not broadcast yet; sent: broadcast, not mined yet"),
            graph("Finished by state", Query(_by_state("mined|failed|replaced"), "{{state}}"), unit="none", width=8,
                  description="Requests in the queue's table by final state"),
            graph("Oldest waiting request", Query("max(fitmint_txqueue_oldest_waiting_seconds)", "queued or sent"),
                  unit="s", steps=Steps(alert=threshold("TxQueueStuck")), width=8),
        ]),
        ("Operator keys and passes", [
            graph("ETH per key", Query(f"max by (signer) (fitmint_txqueue_signer_balance_wei) / {ETH}", "{{signer}}"),
                  unit="suffix: ETH", steps=Steps(alert=MIN_BALANCE_ETH, below=True), minimum=None, width=12,
                  description=f"Red under the default funding threshold ({MIN_BALANCE_ETH:g} ETH)"),
            stat("Keys low on ETH", Query("sum(max by (signer) (fitmint_txqueue_signer_low_balance))"),
                 steps=Steps(alert=threshold("SignerLowBalance")),
                 description="Keys under this deployment's funding threshold: fund them (alert SignerLowBalance)"),
            stat("Keys held", Query("sum(fitmint_txqueue_signers_held)"), unit="none",
                 description="Keys of the pool the queue's workers sign with"),
            stat("Since the last pass", Query("time() - max(fitmint_txqueue_last_pass_timestamp_seconds)"), unit="s",
                 steps=Steps(alert=threshold("TxQueuePassesStopped")),
                 description="A worker finishes a pass every few seconds (alert TxQueuePassesStopped)"),
        ]),
        ("Process", process("txqueue", dependencies=False)),
    ])
