"""Several replicas of the application's processes on one PrivateStack's infrastructure (the stack's Anvil with
the contracts deployed, PostgreSQL, Redis, Kafka, the mail sink): API processes, workers, indexer candidates
and the transaction queue, each started the way scripts/stack/stack.sh starts its one (same module, same
environment) but without the supervisor, so that a SIGKILL stays a death: the survivors must take over.

Traces and shipped logs are off (OTEL_SDK_DISABLED: the private stack runs no Jaeger or VictoriaLogs); the
JSON log lines stay, one file per process in `log_dir`."""

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from fitmint.chain.manifest import Manifest
from fitmint.settings import KernelSettings
from indexer.writer import WRITER_LOCK
from tests.support.databases import admin_dsn
from tests.support.invariants import Target, worker_groups
from tests.support.privatestack import PrivateStack
from tests.support.processes import Service, api_healthy, free_port, stop_group
from tests.support.units import CID
from tests.support.waiting import wait_until


def log_records(text: str) -> list[dict]:
    """The JSON log lines of a process's log (other lines skipped)."""
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                pass
    return records


class Replicas:
    def __init__(self, stack: PrivateStack, log_dir: Path, **env):
        self.stack, self.log_dir = stack, log_dir
        self.env = {**stack.env, "PYTHONPATH": str(stack.root), "OTEL_SDK_DISABLED": "true",
                    "IDENTITY_RECONCILER_ENABLED": "false", **{k: str(v) for k, v in env.items()}}
        self.apis: dict[str, tuple[Service, str]] = {}
        self.workers: dict[str, Service] = {}
        self.indexers: dict[str, Service] = {}
        self.txqueues: dict[str, Service] = {}
        self.metrics_ports: dict[str, int] = {}

    def _service(self, name: str, argv: list[str], **env) -> Service:
        return Service(name, [sys.executable, *argv], {**self.env, **{k: str(v) for k, v in env.items()}},
                       self.log_dir / f"{name}.log").start()

    def start_api(self, name: str) -> str:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api = self._service(name, ["-m", "uvicorn", "--factory", "backend.app.main:serve", "--host", "127.0.0.1",
                                   "--port", str(port), "--no-access-log", "--no-proxy-headers"], BACKEND_PORT=port)

        api.wait_for(lambda: api_healthy(base), timeout=90, what="healthy")
        self.apis[name] = (api, base)
        return base

    def start_worker(self, name: str, *, wait: bool = True) -> Service:
        port = self.metrics_ports[name] = free_port()
        worker = self._service(name, ["-m", "backend.app.worker"], WORKER_METRICS_PORT=port)
        self.workers[name] = worker
        if wait:
            worker.wait_for(lambda: self.assigned(name), timeout=90, what="consuming")
        return worker

    def assigned(self, name: str) -> dict[str, set[str]] | None:
        """Per consumer (worker.consumer, worker.deliveries, worker.email): the partitions its latest
        "partitions assigned" line names; None until each consumer said it once."""
        latest: dict[str, set[str]] = {}
        for record in log_records(self.workers[name].log):
            message = record.get("message", "")
            if message.startswith("partitions assigned: "):
                listed = message.removeprefix("partitions assigned: ")
                latest[record.get("logger")] = set() if listed.startswith("none") else set(listed.split(", "))
            elif message.startswith("partitions revoked: "):
                latest[record.get("logger")] = set()
        consumers = ("worker.consumer", "worker.deliveries", "worker.email")
        return latest if all(c in latest for c in consumers) else None

    def start_indexer(self, name: str) -> Service:
        port = self.metrics_ports[name] = free_port()
        indexer = self._service(name, ["-m", "indexer", "run"], INDEXER_METRICS_PORT=port)
        self.indexers[name] = indexer
        return indexer

    def indexer_writer(self) -> str | None:
        """The name of the indexer candidate holding the writer lock (None: none does)."""
        rows = self.stack.sql("SELECT a.pid AS backend, a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                              "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.objid = "
                              f"{WRITER_LOCK} AND l.granted", database=self.env["INDEXER_DATABASE"])
        for name, indexer in self.indexers.items():
            if indexer.process.poll() is None and any(
                    row["application_name"].startswith(f"fitmint-indexer pid {indexer.process.pid} ") for row in rows):
                return name
        return None

    def advisory_holder(self, database: str, key: int) -> str | None:
        """Which of these processes holds advisory lock `key` on `database` (None: none of them): the lock's
        backend's client port, found among the processes' sockets (ss)."""
        rows = self.stack.sql("SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                              f"WHERE l.locktype = 'advisory' AND l.objid = {key} AND l.granted", database=database)
        if not rows:
            return None
        sockets = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout
        port = self.stack.port("POSTGRES_PORT")
        for line in sockets.splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[2].endswith(f":{rows[0]['client_port']}") and parts[3].endswith(f":{port}"):
                for name, service in self.services().items():
                    if service.process.poll() is None and f"pid={service.process.pid}," in line:
                        return name
        return None

    def wait_writer(self, timeout: float = 90) -> str:
        return wait_until(self.indexer_writer, timeout, 0.1, "an indexer holding the writer lock")

    def start_txqueue(self, name: str) -> Service:
        port = self.metrics_ports[name] = free_port()
        keys = self._python("import json; from fitmint.keys import KeySettings; "
                            "print(json.dumps([str(p) for p in KeySettings().operator_key_files]))")
        txqueue = self._service(name, ["-m", "fitmint.txqueue", "run"], TXQUEUE_METRICS_PORT=port,
                                TXQUEUE_KEY_FILES=keys)
        self.txqueues[name] = txqueue

        def passing():
            try:
                return "fitmint_txqueue_last_pass_timestamp_seconds" in httpx.get(
                    f"http://127.0.0.1:{port}/metrics", timeout=1).text
            except httpx.HTTPError:
                return False

        txqueue.wait_for(passing, timeout=90, what="passing")
        return txqueue

    def _python(self, code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], env=self.env, cwd=self.stack.root, check=True,
                              capture_output=True, text=True).stdout.strip()

    def migrate(self) -> None:
        """The API's migrations (the queue's tables too), once, before the replicas start."""
        subprocess.run([sys.executable, "-m", "backend.app.manage", "migrate"], env=self.env, cwd=self.stack.root,
                       check=True, capture_output=True, text=True)

    def list_item(self, item_id: int, unit_price: int, supply: int) -> int:
        """A primary listing created by the operator key itself: before the transaction queue starts, which
        owns that key's nonces afterwards. Returns its listing id."""
        assert not self.txqueues, "list before the transaction queue starts: it owns the operator's nonces"
        settings = KernelSettings(fitmint_state_dir=self.stack.state, manifest=None)
        market = Manifest.load(settings.manifest_path(31337)).contracts["Marketplace"]
        w3 = Web3(Web3.HTTPProvider(self.env["FITMINT_RPC_URL"]))
        operator = Account.from_key(settings.secret("operator.key"))
        contract = w3.eth.contract(address=market.checksum_address, abi=market.abi)
        tx = contract.functions.createListing(item_id, unit_price, supply, CID, w3.eth.accounts[8]).build_transaction(
            {"from": operator.address, "nonce": w3.eth.get_transaction_count(operator.address, "pending")})
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(operator.sign_transaction(tx).raw_transaction))
        assert receipt.status == 1, receipt
        return contract.events.ListingCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]["listingId"]

    def target(self, api: str):
        """What the invariants (tests/support/invariants.py) read of this system."""
        settings = KernelSettings(fitmint_state_dir=self.stack.state, manifest=None)
        token = Manifest.load(settings.manifest_path(31337)).contracts["FitToken"].checksum_address
        return Target(postgres=admin_dsn(self.stack.env), backend_database=self.env["BACKEND_DATABASE"],
                      indexer_database=self.env["INDEXER_DATABASE"], bootstrap=f"127.0.0.1:{self.env['KAFKA_PORT']}",
                      topic_prefix="", groups=worker_groups(), rpc_url=self.env["FITMINT_RPC_URL"], token=token,
                      api=api, maildir=self.stack.state / "mail")

    def services(self) -> dict[str, Service]:
        return {**{name: api for name, (api, _) in self.apis.items()}, **self.workers, **self.indexers,
                **self.txqueues}

    def stop_all(self) -> None:
        """SIGTERM to every replica at once, SIGKILL to what is left 5 s later (the run is over: its numbers are in)."""
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda service: service.process and stop_group(service.process, signal.SIGTERM, timeout=5),
                          self.services().values()))

    def describe(self) -> dict:
        return {"apis": list(self.apis), "workers": list(self.workers), "indexers": list(self.indexers),
                "txqueues": list(self.txqueues), "logs": str(self.log_dir)}
