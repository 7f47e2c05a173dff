"""`make up` / `make status` / `make down` (scripts/stack/stack.sh) on a private state dir and port."""

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT

STACK = ROOT / "scripts" / "stack" / "stack.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stack(tmp_path):
    env = dict(os.environ, FITMINT_STATE_DIR=str(tmp_path), ANVIL_PORT=str(free_port()))
    for name in ("APE_FOUNDRY_HOST", "FITMINT_RPC_URL", "FITMINT_ATTESTOR_KEY_FILE"):
        env.pop(name, None)

    def run(*args):
        return subprocess.run([str(STACK), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    run.env = env
    run.state = tmp_path
    yield run
    run("down")


def anvil_pid(stack) -> int:
    return int((stack.state / "run" / "anvil.pid").read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_is_idempotent_and_down_stops_everything(stack):
    first = stack("up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "anvil: started" in first.stdout
    assert (stack.state / "deployments" / "31337.json").exists()
    assert f"127.0.0.1:{stack.env['ANVIL_PORT']}" in first.stdout
    pid = anvil_pid(stack)

    second = stack("up")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already running" in second.stdout
    assert "Already deployed" in second.stdout + second.stderr
    assert anvil_pid(stack) == pid

    status = stack("status")
    assert status.returncode == 0 and "healthy" in status.stdout

    down = stack("down")
    assert down.returncode == 0
    deadline = time.time() + 10
    while alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not alive(pid)
    assert not (stack.state / "run" / "anvil.pid").exists()


def test_status_reports_a_killed_service(stack):
    assert stack("up").returncode == 0
    pid = anvil_pid(stack)
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    status = stack("status")
    assert status.returncode != 0
    assert "down" in status.stdout


def test_taken_port_is_a_clear_error_and_leaves_nothing_running(stack):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(stack.env["ANVIL_PORT"])))
        squatter.listen()
        result = stack("up")
    assert result.returncode != 0
    assert f"port {stack.env['ANVIL_PORT']}" in result.stderr and "taken" in result.stderr
    assert not (stack.state / "run" / "anvil.pid").exists()
