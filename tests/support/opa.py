"""Open Policy Agent processes for tests: the real server with the project's policy/ (as `make up` runs it),
over a unix socket, with its decision log in its own file.

`shared_opa_url()` is one OPA per test process, started on first use and stopped at exit (processes.stop_all):
what every API that tests start decides with (tests/support/api.py api_settings). The APIs push their tenants'
policies tenant by tenant, so APIs on different databases share it safely. `OpaServer` is one of a test's
own (to stop it, or read its decision log alone)."""

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import httpx

from tests.support.paths import ROOT
from tests.support.processes import Service, free_port
from tests.support.stackenv import stack_settings


@cache
def opa_bin() -> str:
    return stack_settings()["OPA_BIN"]


class OpaServer:
    def __init__(self, directory: Path | None = None, *, tcp_port: int | None = None):
        """`tcp_port`: also serve on 127.0.0.1:<port> (the benchmark compares the two)."""
        # A short folder of its own: a unix socket's path is limited to 107 bytes.
        if directory is None:  # a folder of its own, removed when the test process ends
            directory = tempfile.mkdtemp(prefix="fitmint-opa-")
            atexit.register(shutil.rmtree, directory, True)
        self.directory = Path(directory)
        self.socket = self.directory / "opa.sock"
        self.url = f"unix://{self.socket}"
        self.port = free_port()
        self.log_path = self.directory / "opa.log"
        self.service = Service("opa", [
            opa_bin(), "run", "--server", "--addr", self.url, "--unix-socket-perm", "600",
            *(["--addr", f"127.0.0.1:{tcp_port}"] if tcp_port else []),
            "--diagnostic-addr", f"127.0.0.1:{self.port}", "--skip-version-check", "--log-level", "error",
            "--set", "decision_logs.console=true", "--set", "decision_logs.drop_decision=/system/log/drop",
            str(ROOT / "policy")], dict(os.environ), self.log_path)

    def start(self) -> "OpaServer":
        if self.socket.exists():
            self.socket.unlink()
        self.service.start()
        self.service.wait_for(self.healthy, timeout=30, what="healthy")
        return self

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def log(self) -> str:
        return self.service.log

    def stop(self) -> None:
        self.service.stop()

    def __enter__(self) -> "OpaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@cache
def shared_opa() -> OpaServer:
    return OpaServer().start()


def shared_opa_url() -> str:
    server = shared_opa()
    if server.service.process.poll() is not None:  # a test stopped or killed it: start it again
        server.start()
    return server.url
