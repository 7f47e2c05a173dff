"""Real ACA-Py agents for tests (and benchmarks): `aca-py start` on free loopback ports with a wallet of
its own in a temporary folder, the same flags as the stack's `acapy_argv` (scripts/stack/stack.sh)."""

import os
import secrets
import signal
import subprocess
from pathlib import Path

import httpx

from tests.support.paths import ROOT
from tests.support.processes import free_port, spawn, stop_group
from tests.support.waiting import wait_until

# Our agent's plugin (agent/acapy_plugin): importable from there, loaded by name, as stack.sh does.
PLUGIN_PATH, PLUGIN = ROOT / "agent" / "acapy_plugin", "fitmint_acapy"

# What a holder's wallet does by itself: accept invitations, answer credential offers, store credentials.
HOLDER_FLAGS = ("--auto-accept-invites", "--auto-accept-requests", "--auto-respond-credential-offer",
                "--auto-store-credential")


_CLAIMED: set[int] = set()  # ports handed to agents of this process (not bound until they start)


def _unclaimed_port() -> int:
    while (port := free_port()) in _CLAIMED:
        pass
    _CLAIMED.add(port)
    return port


class Agent:
    def __init__(self, name: str, home: Path, *, webhook_url: str | None = None, flags: tuple = (),
                 ours: bool = False):
        """`ours`: the platform's agent (with our plugin); otherwise a plain ACA-Py."""
        self.name, self.home, self.webhook_url, self.flags, self.ours = name, home, webhook_url, flags, ours
        self.inbound_port, self.admin_port = _unclaimed_port(), _unclaimed_port()
        self.admin_key = secrets.token_hex(16)
        self.wallet_key = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        self.log_path = home / f"{name}.log"
        home.mkdir(parents=True, exist_ok=True)

    @property
    def ports(self) -> set[int]:
        return {self.inbound_port, self.admin_port}

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def argv(self) -> list[str]:
        argv = [f"{os.environ['ACAPY_VENV']}/bin/aca-py", "start", "--label", self.name,
                "--inbound-transport", "http", "127.0.0.1", str(self.inbound_port), "--outbound-transport", "http",
                "--endpoint", f"http://127.0.0.1:{self.inbound_port}",
                "--admin", "127.0.0.1", str(self.admin_port),
                "--wallet-type", "askar-anoncreds", "--wallet-name", self.name,
                "--auto-provision", "--no-ledger", "--log-level", "warning", *self.flags]
        return argv + (["--plugin", PLUGIN] if self.ours else [])

    def secret_env(self) -> dict[str, str]:
        """The keys, as the stack passes them: ACA-Py's environment variables, not its (public) arguments."""
        env = {"ACAPY_ADMIN_API_KEY": self.admin_key, "ACAPY_WALLET_KEY": self.wallet_key}
        if self.webhook_url:
            env["ACAPY_WEBHOOK_URL"] = f"{self.webhook_url}#{self.admin_key}"
        return env

    def start(self, timeout: float = 60) -> "Agent":
        # ACA-Py reads ACAPY_* variables as its options: the stack's (e.g. ACAPY_WEBHOOK_URL from
        # scripts/toolchain/env.sh) must not leak into a test agent.
        env = ({k: v for k, v in os.environ.items() if not k.startswith("ACAPY_")} | {"ACAPY_HOME": str(self.home)}
               | self.secret_env() | ({"PYTHONPATH": str(PLUGIN_PATH)} if self.ours else {}))
        with open(self.log_path, "a") as log:
            self.process = spawn(self.argv(), env=env, stdout=log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.process.returncode}:\n{self.log[-4000:]}")
            try:
                return httpx.get(self.admin_url + "/status/ready", headers=self.headers, timeout=1).json().get("ready")
            except (httpx.HTTPError, ValueError):
                return False

        try:
            wait_until(ready, timeout, interval=0.1, what=f"{self.name} ready")
        except AssertionError as failure:
            raise AssertionError(f"{failure}:\n{self.log[-4000:]}") from None
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    @property
    def headers(self) -> dict:
        return {"X-API-Key": self.admin_key}

    def kill(self) -> None:
        if self.process:
            stop_group(self.process, signal.SIGKILL)

    def stop(self) -> None:
        if self.process:
            stop_group(self.process, signal.SIGTERM, timeout=15)

    def get(self, path: str, **params) -> dict:
        response = httpx.get(self.admin_url + path, params=params, headers=self.headers, timeout=20)
        assert 200 <= response.status_code < 300, (path, response.status_code, response.text)
        return response.json()

    def post(self, path: str, body: dict | None = None, **params) -> dict:
        response = httpx.post(self.admin_url + path, json=body if body is not None else {}, params=params,
                              headers=self.headers, timeout=20)
        assert 200 <= response.status_code < 300, (path, response.status_code, response.text)
        return response.json()

    def delete(self, path: str) -> None:
        response = httpx.delete(self.admin_url + path, headers=self.headers, timeout=20)
        assert 200 <= response.status_code < 300, (path, response.status_code, response.text)
