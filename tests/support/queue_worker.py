"""A transaction queue worker beside an in-process API in a test: the real `fitmint.txqueue.Worker`, on the
test's database and a node, in a thread of its own (its own event loop), stopped and joined on exit.

    with queue_worker(settings.postgres(settings.backend_database), rpc_url, [key], decoder) as worker:
        ...  # requests submitted to that database are simulated, signed, sent and settled
    worker.error  # an exception the worker's loop died of, or None

`funded_key(rpc_url)` makes a fresh key with ETH from a dev account of the node (unlocked on Anvil), so
each test signs with a key no other process sends from (a key's nonces belong to one queue); for the
platform's calls it also needs the operator roles (tests/support/roles.py). `deployment_decoder(manifest)`
decodes reverts with the deployment's ABIs, as the queue's process does."""

import asyncio
import threading
from contextlib import contextmanager

from eth_account import Account

from fitmint.chain.abi import ContractAbi
from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import Rpc
from fitmint.txqueue.simulation import decoder_of
from fitmint.txqueue.worker import Worker
from tests.support.stackclient import fund_gas


class _WorkerThread(threading.Thread):
    def __init__(self, postgres: dict, rpc_url: str, keys: list[str], decode_revert, interval: float,
                 options: dict):
        super().__init__(name="txqueue-worker", daemon=True)
        self._args = (postgres, rpc_url, keys, decode_revert, interval, options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - whatever ends the thread is reported to the test (.error)
            self.error = exc
        finally:
            self.ready.set()

    async def _main(self) -> None:
        postgres, rpc_url, keys, decode_revert, interval, options = self._args
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        rpc = Rpc(rpc_url)
        worker = Worker(postgres, rpc, keys, decode_revert, **options)
        try:
            self.ready.set()
            await worker.run(self._stop_event, interval=interval)
        finally:
            await rpc.close()

    def stop(self) -> None:
        if self._loop is not None and self._stop_event is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout=30)
        if self.is_alive():
            raise RuntimeError("the queue worker did not stop within 30 s")


@contextmanager
def queue_worker(postgres: dict, rpc_url: str, keys: list[str], decode_revert=lambda data: None, *,
                 interval: float = 0.05, **options):
    """Runs a queue worker until the block exits; `options` go to Worker (fees, mine_within_seconds, ...)."""
    thread = _WorkerThread(postgres, rpc_url, keys, decode_revert, interval, options)
    thread.start()
    thread.ready.wait(timeout=30)
    try:
        yield thread
    finally:
        thread.stop()
    if thread.error is not None:
        raise thread.error


def funded_key(rpc_url: str, wei: int = 10**19) -> str:
    """A fresh private key (0x-hex) holding `wei` of the node's ETH."""
    account = Account.create()
    fund_gas(rpc_url, account.address, wei)
    return account.key.hex() if account.key.hex().startswith("0x") else "0x" + account.key.hex()


def deployment_decoder(manifest: Manifest):
    """Reverts decoded by the deployment's ABIs (the queue process's decoder, without a gateway)."""
    return decoder_of([ContractAbi(name, contract.abi) for name, contract in manifest.contracts.items()])
