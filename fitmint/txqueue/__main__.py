"""The transaction queue's worker: `python -m fitmint.txqueue run` (settings: fitmint/txqueue/settings.py).

Signs with the pool of keys in TXQUEUE_KEY_FILES (in `make up`: the operator pool the deploy wired), against
the tables of TXQUEUE_DATABASE (the API's: its migrations create them), decoding reverts with the ABIs of the
chain's deployment manifest; serves its health and each key's balance on TXQUEUE_METRICS_PORT (health.py).
Any number may run: each key is held by one worker at a time (an advisory lock), and the records keep a
request from being sent twice even if two believed they held one. Stops cleanly on SIGTERM/SIGINT (exit 0);
exit 2 when it cannot start (no keys, no queue tables)."""

import argparse
import asyncio
import logging
import signal
import sys

import asyncpg
from prometheus_client import start_http_server

from fitmint import telemetry
from fitmint.chain.errors import ChainUnavailable
from fitmint.chain.gateway import ChainGateway
from fitmint.chain.rpc import Rpc
from fitmint.resilience import quiet_library_retries
from fitmint.signers import RemoteSigner
from fitmint.txqueue import health
from fitmint.txqueue.settings import TxQueueSettings
from fitmint.txqueue.worker import Worker

log = logging.getLogger("fitmint.txqueue")


class CannotStart(Exception):
    pass


def revert_decoder(gateway: ChainGateway):
    """The deployment's errors (none known while the chain has no deployment manifest)."""
    def decode(data):
        try:
            return gateway.decode_revert(data)
        except ChainUnavailable:
            return None
    return decode


async def _check_tables(postgres: dict) -> None:
    connection = await asyncpg.connect(**postgres)
    try:
        missing = [table for table in ("txqueue_request", "txqueue_attempt", "outbox")
                   if await connection.fetchval("SELECT to_regclass($1)", table) is None]
    finally:
        await connection.close()
    if missing:
        raise CannotStart(f"database {postgres['database']} lacks {', '.join(missing)}: the API's migrations "
                          f"create them (python -m backend.app.manage migrate, or start the API)")


async def run(settings: TxQueueSettings) -> None:
    try:
        keys = settings.signers()
    except ValueError as exc:
        raise CannotStart(str(exc)) from None
    if not keys:
        raise CannotStart("no keys to sign with: set TXQUEUE_KEY_FILES (a JSON list of key files), or "
                          "TXQUEUE_SIGNER_URL and TXQUEUE_SIGNER_ADDRESSES (a remote signer and the pool it holds)")
    postgres = settings.postgres(settings.txqueue_database)
    await _check_tables(postgres)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    rpc = Rpc(settings.rpc_url, max_connections=32)  # the keys' passes call the node concurrently
    gateway = ChainGateway.from_settings(settings)
    worker = Worker(postgres, rpc, keys, revert_decoder(gateway), fees=settings.fee_policy(),
                    mine_within_seconds=settings.txqueue_mine_within_seconds,
                    max_in_flight=settings.txqueue_max_in_flight, chunk_size=settings.txqueue_chunk_size,
                    max_keys=settings.txqueue_max_keys, confirmations=settings.txqueue_confirmations)
    log.info("transaction queue: %d key(s) (holding up to %s, signed %s), database %s, node %s", len(keys),
             settings.txqueue_max_keys or "all", f"by {settings.txqueue_signer_url}" if settings.txqueue_signer_url
             else "here", settings.txqueue_database, settings.rpc_url)
    if settings.txqueue_metrics_port:
        start_http_server(settings.txqueue_metrics_port, addr=settings.txqueue_metrics_host)
    balances = asyncio.create_task(health.watch_balances(rpc, [key.address for key in keys],
                                                         settings.txqueue_min_balance_wei, stop,
                                                         settings.txqueue_balance_check_seconds))
    states = asyncio.create_task(health.watch_states(postgres, stop))
    try:
        await worker.run(stop, interval=settings.txqueue_interval_seconds, after_pass=health.passed)
    finally:
        stop.set()
        await balances
        await states
        await rpc.close()
        await gateway.close()
        for key in keys:
            if isinstance(key, RemoteSigner):
                await key.close()
    log.info("transaction queue stopped")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fitmint.txqueue", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["run"])
    parser.parse_args(argv)
    telemetry.setup("txqueue")  # JSON logs (httpx's line per node call quieted), traces
    quiet_library_retries()
    settings = TxQueueSettings()
    settings.refuse_exposed_secrets("txqueue")
    try:
        asyncio.run(run(settings))
    except (CannotStart, OSError) as exc:
        print(f"txqueue: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
