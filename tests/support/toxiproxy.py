"""Toxiproxy (installed by `scripts/toolchain/install.sh toxiproxy`): a TCP proxy that injects faults between
our processes and a dependency, driven over its HTTP API.

PyPI's toxiproxy-python (0.1.1, January 2019) targets Python 2.7/3.5, needs `future` and `requests` and keeps
the server's address in class attributes (one server per process); the API is six small JSON calls, so this
is a client of our own on httpx (already in the lock).

    with ToxiproxyServer(log_dir) as toxiproxy:
        postgres = toxiproxy.proxy("postgres", upstream_port=5432)      # listens on postgres.port
        with postgres.toxic("latency", latency=300, jitter=50):
            ...
        with postgres.disabled():                                         # a partition: reset, then refused
            ...

Toxic types used here (attributes in ms / KB/s): latency {latency, jitter}, timeout {timeout: 0 = hold
the data forever, >0 = close after that long}, reset_peer {timeout}, bandwidth {rate}.
"""

import subprocess
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.processes import free_port, spawn, stop_group
from tests.support.stackenv import stack_settings
from tests.support.waiting import wait_until


class ToxiproxyError(Exception):
    pass


class Proxy:
    def __init__(self, api: httpx.Client, name: str, port: int, upstream: str):
        self.api, self.name, self.port, self.upstream = api, name, port, upstream
        self._serial = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _call(self, method: str, path: str, **kwargs) -> dict | None:
        response = self.api.request(method, f"/proxies/{self.name}{path}", **kwargs)
        if response.status_code >= 400:
            raise ToxiproxyError(f"{method} /proxies/{self.name}{path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def add_toxic(self, kind: str, *, stream: str = "downstream", toxicity: float = 1.0, **attributes) -> str:
        """Adds a toxic of `kind` to one direction ("downstream": server to client; "upstream"); its name."""
        self._serial += 1
        name = f"{kind}_{stream}_{self._serial}"
        self._call("POST", "/toxics", json={"name": name, "type": kind, "stream": stream, "toxicity": toxicity,
                                           "attributes": attributes})
        return name

    def remove_toxic(self, name: str) -> None:
        self._call("DELETE", f"/toxics/{name}")

    @contextmanager
    def toxic(self, kind: str, *, streams: tuple[str, ...] = ("downstream",), **attributes):
        """A toxic on each of `streams` for the duration of the block."""
        names = [self.add_toxic(kind, stream=stream, **attributes) for stream in streams]
        try:
            yield self
        finally:
            for name in names:
                self.remove_toxic(name)

    def set_enabled(self, enabled: bool) -> None:
        """Disabled: every open connection is closed and new ones are refused (Toxiproxy stops listening)."""
        self._call("POST", "", json={"enabled": enabled})

    @contextmanager
    def disabled(self):
        self.set_enabled(False)
        try:
            yield self
        finally:
            self.set_enabled(True)


class ToxiproxyServer:
    """A toxiproxy-server of the test's own on a free port (stopped on exit, its proxies with it)."""

    def __init__(self, log_dir: Path, binary: Path | None = None):
        self.binary = binary or Path(stack_settings()["TOXIPROXY_DIR"]) / "toxiproxy-server"
        if not self.binary.is_file():
            raise ToxiproxyError(f"{self.binary} not found: run scripts/toolchain/install.sh toxiproxy")
        self.log_path = log_dir / "toxiproxy.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = httpx.Client(base_url=self.url, timeout=10)
        self.proxies: dict[str, Proxy] = {}
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> "ToxiproxyServer":
        with open(self.log_path, "a") as log:
            self._process = spawn([str(self.binary), "-host", "127.0.0.1", "-port", str(self.port)],
                                  stdout=log, stderr=subprocess.STDOUT)

        def answers():
            if self._process.poll() is not None:
                raise ToxiproxyError(f"toxiproxy-server exited: {self.log_path.read_text()[-2000:]}")
            try:
                return self.api.get("/version").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=15, what="toxiproxy-server answering")
        return self

    def __exit__(self, *exc_info) -> None:
        self.api.close()
        if self._process is not None:
            stop_group(self._process)

    def proxy(self, name: str, upstream_port: int, listen_port: int | None = None) -> Proxy:
        """A proxy named `name` from 127.0.0.1:`listen_port` (default: a free port) to 127.0.0.1:`upstream_port`."""
        port = listen_port or free_port()
        upstream = f"127.0.0.1:{upstream_port}"
        response = self.api.post("/proxies", json={"name": name, "listen": f"127.0.0.1:{port}",
                                                   "upstream": upstream, "enabled": True})
        if response.status_code >= 400:
            raise ToxiproxyError(f"creating proxy {name}: {response.status_code} {response.text}")
        self.proxies[name] = Proxy(self.api, name, port, upstream)
        return self.proxies[name]

    def heal(self) -> None:
        """Every proxy enabled again and every toxic removed (Toxiproxy's POST /reset)."""
        response = self.api.post("/reset")
        if response.status_code >= 400:
            raise ToxiproxyError(f"reset: {response.status_code} {response.text}")
