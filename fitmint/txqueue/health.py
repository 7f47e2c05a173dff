"""What `make status` and an operator read of a running queue worker (Prometheus, on TXQUEUE_METRICS_PORT):
when its last pass ended (a worker whose passes stop is unhealthy even if its process lives), how many keys
it holds, and each key's ETH balance, with a warning in the log when a key falls below the funding
threshold (a key without gas leaves its requests queued, so it must be seen before it runs dry); the
queue's requests by state and how long the oldest unmined one has waited (the whole queue's, read from
the database: every worker reports the same numbers, aggregate with max)."""

import asyncio
import logging
import time

import asyncpg
import httpx
from prometheus_client import Gauge

from fitmint.chain.rpc import Rpc, RpcError
from fitmint.resilience import Retrier, describe, sleep_unless

log = logging.getLogger("fitmint.txqueue")

LAST_PASS = Gauge("fitmint_txqueue_last_pass_timestamp_seconds", "Unix time the worker's last pass ended")
SIGNERS_HELD = Gauge("fitmint_txqueue_signers_held", "Keys of the pool this worker holds (signs with)")
BALANCE = Gauge("fitmint_txqueue_signer_balance_wei", "ETH balance of a key of the pool", ["signer"])
LOW_BALANCE = Gauge("fitmint_txqueue_signer_low_balance", "1 when the key holds less than the funding threshold",
                    ["signer"])
REQUESTS = Gauge("fitmint_txqueue_requests", "Requests of the transaction queue by state", ["state"])
OLDEST_WAITING = Gauge("fitmint_txqueue_oldest_waiting_seconds",
                       "How long the oldest request still queued or sent has waited (0 when none)")
STATES = ("queued", "sent", "mined", "failed", "replaced")  # txqueue_request.state (schema.sql)
for _state in STATES:
    REQUESTS.labels(_state)
ETH = 10**18

# One round trip: the counts by state, and (the rollup row) the age of the oldest request not mined yet.
_STATES = """
SELECT state, count(*) AS requests,
       coalesce(extract(epoch FROM clock_timestamp() - min(submitted_at) FILTER (WHERE state IN ('queued', 'sent'))),
                0)::float8 AS oldest_waiting
  FROM txqueue_request GROUP BY ROLLUP (state)
"""


def passed(held: int) -> None:
    """Records a finished pass (the worker's `after_pass` hook)."""
    LAST_PASS.set(time.time())
    SIGNERS_HELD.set(held)


async def watch_balances(rpc: Rpc, addresses: list[str], minimum_wei: int, stop: asyncio.Event,
                         interval: float = 30.0) -> None:
    """Every `interval` seconds, each key's balance as a gauge; a warning when one is under `minimum_wei`
    (once when it drops, not every round), and a line when it is funded again."""
    addresses = [address.lower() for address in addresses]
    low: set[str] = set()
    while not stop.is_set():
        for address in addresses:
            try:
                balance = int(await rpc.call("eth_getBalance", address, "latest"), 16)
            except (httpx.HTTPError, OSError, RpcError) as exc:
                log.warning("cannot read the balance of %s: %s", address, describe(exc))
                break
            BALANCE.labels(address).set(balance)
            LOW_BALANCE.labels(address).set(int(balance < minimum_wei))
            if balance < minimum_wei and address not in low:
                low.add(address)
                log.warning("operator key %s holds %.4f ETH, below the funding threshold of %.4f ETH "
                            "(TXQUEUE_MIN_BALANCE_WEI): fund it, or its transactions will wait", address,
                            balance / ETH, minimum_wei / ETH)
            elif balance >= minimum_wei and address in low:
                low.discard(address)
                log.info("operator key %s is funded again (%.4f ETH)", address, balance / ETH)
        await sleep_unless(stop, interval)


async def watch_states(postgres: dict, stop: asyncio.Event, interval: float = 15.0) -> None:
    """Every `interval` seconds, the queue's requests by state and the age of its oldest waiting one."""
    health = Retrier("txqueue.states", ("postgres",), log=log)
    connection = None
    try:
        while not stop.is_set():
            try:
                if connection is None or connection.is_closed():
                    connection = await asyncpg.connect(**postgres)
                observe_states(await connection.fetch(_STATES))
                health.progressed()
            except Exception as exc:  # noqa: BLE001 - PostgreSQL down (said once) or a bug (logged): next round
                connection = None
                await health.failed(exc, stop)
                continue
            await sleep_unless(stop, interval)
    finally:
        if connection is not None and not connection.is_closed():
            await connection.close()


def observe_states(rows) -> None:
    """The rows of _STATES: one per state present, and the rollup (state NULL) with the oldest age."""
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        if row["state"] is None:
            OLDEST_WAITING.set(row["oldest_waiting"])
        else:
            counts[row["state"]] = row["requests"]
    if not rows:
        OLDEST_WAITING.set(0)
    for state, count in counts.items():
        REQUESTS.labels(state).set(count)
