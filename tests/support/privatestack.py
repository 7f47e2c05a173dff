"""A stack of `make up`'s services (scripts/stack/stack.sh) of a test's own: its own state folder and free
ports, so the shared stack the other tests use is left alone. Services are started, stopped and killed
through the same script and supervisor a user runs."""

import asyncio
import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import asyncpg

from tests.support.paths import ROOT
from tests.support.stackenv import stack_settings

PORT_VARIABLES = ("ANVIL_PORT", "POSTGRES_PORT", "REDIS_PORT", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT",
                  "IPFS_API_PORT", "IPFS_GATEWAY_PORT", "ACAPY_INBOUND_PORT", "ACAPY_ADMIN_PORT",
                  "INDEXER_METRICS_PORT", "WORKER_METRICS_PORT", "TXQUEUE_METRICS_PORT", "ANALYTICS_METRICS_PORT",
                  "RECOMMEND_PORT", "BACKEND_PORT", "SMTP_PORT", "JAEGER_OTLP_PORT", "JAEGER_OTLP_GRPC_PORT",
                  "JAEGER_QUERY_PORT", "JAEGER_QUERY_GRPC_PORT", "JAEGER_ADMIN_PORT", "JAEGER_METRICS_PORT",
                  "VICTORIALOGS_PORT", "PROMETHEUS_PORT", "OPA_PORT")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class PrivateStack:
    """The stack of a project at `root` (this clone by default) on free ports; `state`: its state dir.
    Call it like the script: `stack("up", "postgres")` returns the CompletedProcess."""

    def __init__(self, root: Path = ROOT, state: Path | None = None):
        self.root = root
        self.state = state or ROOT / ".state" / f"test-{uuid.uuid4().hex[:8]}"
        ports = dict(zip(PORT_VARIABLES, map(str, free_ports(len(PORT_VARIABLES))), strict=True))
        # Without what env.sh derives from the shared stack's ports (a shell that sourced it exports them): the
        # private stack's own are derived from its ports.
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("APE_FOUNDRY_HOST", "FITMINT_RPC_URL", "FITMINT_ROOT", "FITMINT_STATE_DIR",
                              "FITMINT_AGENT_WEBHOOK_URL")}
        self.env = stack_settings(clean, **ports, FITMINT_STATE_DIR=str(self.state))

    def __call__(self, *args, env: dict | None = None, check: bool = False):
        result = subprocess.run([str(self.root / "scripts" / "stack" / "stack.sh"), *args], cwd=self.root,
                                env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            raise AssertionError(f"stack.sh {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def port(self, variable: str) -> int:
        return int(self.env[variable])

    def pid(self, service) -> int:
        return int((self.state / "run" / f"{service}.pid").read_text())

    def child_pid(self, service) -> int:
        return int((self.state / "run" / f"{service}.child.pid").read_text())

    def supervisor(self, service) -> dict:
        return json.loads((self.state / "run" / f"{service}.supervisor.json").read_text())

    def log(self, service) -> str:
        path = self.state / "logs" / f"{service}.log"
        return path.read_text() if path.exists() else ""

    def process_group(self, service) -> set[int]:
        out = subprocess.run(["pgrep", "-g", str(self.pid(service))], capture_output=True, text=True).stdout
        return {int(pid) for pid in out.split()}

    def password(self) -> str:
        return (self.state / "secrets" / "postgres-password").read_text().strip()

    def sql(self, statement: str, database: str = "postgres"):
        """One statement as the cluster's owner (e.g. CREATE DATABASE)."""
        async def run():
            connection = await asyncpg.connect(host="127.0.0.1", port=self.port("POSTGRES_PORT"),
                                               user=self.env["POSTGRES_USER"], password=self.password(),
                                               database=database)
            try:
                return await connection.fetch(statement)
            finally:
                await connection.close()

        return asyncio.run(run())
