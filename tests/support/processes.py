"""Real service processes for tests and benchmarks: the API under uvicorn and the notifications worker,
configured from a `Settings` object through their environment (exactly how `make up` configures them).

Every process started here runs in a process group of its own and is remembered until it is stopped:
stopping signals the whole group (whatever the process forked goes too), and `stop_all` (run at exit
and at the end of a test session) stops whatever a failed test or fixture left behind."""

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from backend.app.core.config import Settings
from tests.support.paths import ROOT
from tests.support.waiting import wait_until


def settings_env(settings: Settings, **extra) -> dict:
    """The environment that makes a process's `Settings()` equal `settings` (plus `extra`)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name, value in settings.model_dump().items():
        if isinstance(value, (list, tuple)):  # lists as JSON, as pydantic-settings reads them
            env[name.upper()] = json.dumps([str(item) for item in value])
        elif value is not None:
            env[name.upper()] = str(value)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_RUNNING: set[subprocess.Popen] = set()


def spawn(argv: list, **popen) -> subprocess.Popen:
    """Popen in a new process group (session), remembered until `stop_group` reaps it."""
    process = subprocess.Popen(argv, start_new_session=True, **popen)
    _RUNNING.add(process)
    return process


def stop_group(process: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = 20) -> None:
    """`signum` to the process's whole group; SIGKILL to what is left after `timeout` seconds."""
    try:
        if process.poll() is None:
            os.killpg(process.pid, signum)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        os.killpg(process.pid, signal.SIGKILL)  # the leader's children, or the leader itself if it hung
    except ProcessLookupError:
        pass
    process.wait(10)
    _RUNNING.discard(process)


def stop_all() -> None:
    for process in list(_RUNNING):
        stop_group(process, signal.SIGKILL)


atexit.register(stop_all)


class Service:
    def __init__(self, name: str, argv: list[str], env: dict, log_path: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "Service":
        with open(self.log_path, "a") as log:
            self.process = spawn(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_for(self, ready, timeout: float = 60, what: str = "ready") -> None:
        """Waits for `ready()`; a process that exits or never gets there is stopped, and the test fails."""
        def done():
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}")
            return ready()

        try:
            wait_until(done, timeout, interval=0.1, what=f"{self.name} {what}")
        except AssertionError as failure:
            self.stop()
            raise AssertionError(f"{failure}:\n{self.log[-4000:]}") from None

    def kill(self) -> None:
        """SIGKILL to the whole group: no clean-up at all, like a crashed host."""
        if self.process:
            stop_group(self.process, signal.SIGKILL)

    def stop(self) -> None:
        if self.process:
            stop_group(self.process, signal.SIGTERM)


def start_api(settings: Settings, log_dir: Path, *, avoid: set[int] = frozenset(),
              port: int | None = None) -> tuple[Service, str]:
    """uvicorn serving the API for `settings`; returns the service and its base URL once healthy. `avoid`:
    ports promised to processes that have not bound them yet; `port`: one chosen beforehand (when the
    settings must name the API's own URL)."""
    while port is None or port in avoid:
        port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = Service("api", [sys.executable, "-m", "uvicorn", "backend.app.main:app", "--host", "127.0.0.1",
                          "--port", str(port), "--no-access-log", "--no-proxy-headers"], settings_env(settings),
                  log_dir / "api.log").start()

    api.wait_for(lambda: api_healthy(base), what="healthy")
    return api, base


def api_healthy(base: str) -> bool:
    """Whether the API at `base` answers its /health with 200 (its Redis and OPA reachable)."""
    try:
        return httpx.get(base + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _said(log: str, logger: str, message: str) -> bool:
    """Whether `logger` logged a line saying `message` (a JSON line or a text one)."""
    return any(logger in line and message in line for line in log.splitlines())


def start_worker(settings: Settings, log_dir: Path, *args: str) -> Service:
    """The notifications worker for `settings`; returns once each of its consumers has joined its group
    (fitmint-notifications, fitmint-deliveries and, unless `--no-senders`, fitmint-email)."""
    worker = Service("worker", [sys.executable, "-m", "backend.app.worker", *args], settings_env(settings),
                     log_dir / "worker.log")
    offset = len(worker.log)
    consumers = ("worker.consumer", "worker.deliveries") + (() if "--no-senders" in args else ("worker.email",))
    worker.start()
    worker.wait_for(lambda: all(_said(worker.log[offset:], name, "partitions assigned") for name in consumers),
                    what="consuming")
    return worker
