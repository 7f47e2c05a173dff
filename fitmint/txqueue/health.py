"""What `make status` and an operator read of a running queue worker (Prometheus, on TXQUEUE_METRICS_PORT):
when its last pass ended (a worker whose passes stop is unhealthy even if its process lives), how many keys
it holds, and each key's ETH balance, with a warning in the log when a key falls below the funding
threshold (a key without gas leaves its requests queued, so it must be seen before it runs dry)."""

import asyncio
import logging
import time

import httpx
from eth_account import Account
from prometheus_client import Gauge

from fitmint.chain.rpc import Rpc, RpcError
from fitmint.resilience import describe, sleep_unless

log = logging.getLogger("fitmint.txqueue")

LAST_PASS = Gauge("fitmint_txqueue_last_pass_timestamp_seconds", "Unix time the worker's last pass ended")
SIGNERS_HELD = Gauge("fitmint_txqueue_signers_held", "Keys of the pool this worker holds (signs with)")
BALANCE = Gauge("fitmint_txqueue_signer_balance_wei", "ETH balance of a key of the pool", ["signer"])
LOW_BALANCE = Gauge("fitmint_txqueue_signer_low_balance", "1 when the key holds less than the funding threshold",
                    ["signer"])
ETH = 10**18


def passed(held: int) -> None:
    """Records a finished pass (the worker's `after_pass` hook)."""
    LAST_PASS.set(time.time())
    SIGNERS_HELD.set(held)


async def watch_balances(rpc: Rpc, keys: list[str], minimum_wei: int, stop: asyncio.Event,
                         interval: float = 30.0) -> None:
    """Every `interval` seconds, each key's balance as a gauge; a warning when one is under `minimum_wei`
    (once when it drops, not every round), and a line when it is funded again."""
    addresses = [Account.from_key(key).address.lower() for key in keys]
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
