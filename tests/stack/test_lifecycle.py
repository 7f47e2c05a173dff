"""`make up` / `make status` / `make down` (scripts/stack/stack.sh) on a private stack: its own state
dir and free ports, so the shared stack the other tests use is left alone."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg
import pytest

from tests.support.paths import ROOT
from tests.support.privatestack import PrivateStack
from tests.support.waiting import wait_until


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_dead(pids, seconds=15) -> set[int]:
    deadline = time.time() + seconds
    while time.time() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    return {pid for pid in pids if alive(pid)}


SERVICES = ["jaeger", "victorialogs", "opa", "anvil", "postgres", "redis", "kafka", "ipfs", "mail", "acapy", "indexer",
            "api", "txqueue", "worker", "analytics", "recommend", "prometheus"]


def test_up_twice_is_idempotent_status_sees_a_killed_service_and_down_stops_everything(private_stack):
    first = private_stack("up")
    assert first.returncode == 0, first.stdout + first.stderr
    for service in SERVICES:
        assert f"{service}: started" in first.stdout
    assert (private_stack.state / "deployments" / "31337.json").exists()
    pids = {service: private_stack.pid(service) for service in SERVICES}

    second = private_stack("up")
    assert second.returncode == 0, second.stdout + second.stderr
    for service in SERVICES:
        assert f"{service}: already running" in second.stdout
    assert "Already deployed" in second.stdout + second.stderr
    assert {service: private_stack.pid(service) for service in SERVICES} == pids

    status = private_stack("status")
    assert status.returncode == 0, status.stdout
    assert status.stdout.count("healthy") == len(SERVICES)

    redis_group = private_stack.process_group("redis")  # its supervisor and redis-server: gone together
    os.killpg(pids["redis"], signal.SIGKILL)
    assert not wait_dead(redis_group)
    status = private_stack("status")
    assert status.returncode != 0
    assert [line.split()[3] for line in status.stdout.splitlines() if line.startswith("redis")] == ["down"]
    # `up` again brings back just what is missing.
    again = private_stack("up")
    assert again.returncode == 0 and "redis: started" in again.stdout and "kafka: already running" in again.stdout

    every_process = set().union(*(private_stack.process_group(service) for service in SERVICES))
    assert len(every_process) >= len(SERVICES)
    down = private_stack("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not wait_dead(every_process), "processes left alive after `down`"
    assert not list((private_stack.state / "run").glob("*.pid"))


def test_taken_port_is_a_clear_error_and_leaves_nothing_running(private_stack):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(private_stack.env["REDIS_PORT"])))
        squatter.listen()
        result = private_stack("up", "anvil", "redis")
    assert result.returncode != 0
    assert f"redis: port {private_stack.env['REDIS_PORT']}" in result.stderr and "taken" in result.stderr
    # Anvil had started before Redis failed: it was stopped again.
    assert "stopping what was started: anvil" in result.stderr
    assert not list((private_stack.state / "run").glob("*.pid"))


def test_unknown_service_is_refused(private_stack):
    result = private_stack("up", "mysql")
    assert result.returncode != 0 and "unknown service 'mysql'" in result.stderr


def copy_of_the_project(destination: Path) -> Path:
    """What a fresh clone holds (tracked files, and new ones not ignored), copied to `destination`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def test_a_clone_in_a_private_folder_serves_sql_and_goes_down(tmp_path):
    """Root's home, or any `mktemp -d` folder, is 0700: PostgreSQL's own user cannot enter it."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    clone = copy_of_the_project(private / "fitmint")
    stack = PrivateStack(root=clone, state=clone / ".state")
    try:
        up = stack("up", "postgres")
        assert up.returncode == 0, up.stdout + up.stderr
        password = (clone / ".state" / "secrets" / "postgres-password").read_text().strip()

        async def query():
            connection = await asyncpg.connect(host="127.0.0.1", port=int(stack.env["POSTGRES_PORT"]),
                                               user="fitmint", password=password, database="fitmint_backend")
            try:
                return await connection.fetchval("SELECT current_database() || ':' || 6 * 7")
            finally:
                await connection.close()

        assert asyncio.run(query()) == "fitmint_backend:42"
        cluster = (clone / ".state" / "postgres").resolve()
        if os.geteuid() == 0:  # the cluster lives where its user can reach it; the state dir links to it
            assert (clone / ".state" / "postgres").is_symlink() and not cluster.is_relative_to(private)
            assert cluster.stat().st_uid != 0
        group = stack.process_group("postgres")
        down = stack("down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert not wait_dead(group), "PostgreSQL left running after `down`"
    finally:
        stack("purge")
    assert not cluster.exists(), "purge left the PostgreSQL cluster behind"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root's clusters live outside the clone's state dir")
def test_a_cluster_whose_state_dir_was_deleted_is_removed_by_the_next_up(private_stack):
    """`rm -rf .state` instead of `make purge` must not leave a database behind in /var/lib for good."""
    assert private_stack("up", "postgres").returncode == 0
    first = (private_stack.state / "postgres").resolve()
    assert private_stack("down").returncode == 0
    shutil.rmtree(private_stack.state)
    assert first.is_dir()
    up = private_stack("up", "postgres")
    assert up.returncode == 0, up.stdout + up.stderr
    assert not first.exists() and not Path(f"{first}.link").exists(), up.stdout
    assert f"postgres: removing {first}" in up.stdout
    assert (private_stack.state / "postgres").resolve().is_dir()


def test_the_supervisor_restarts_a_killed_service_and_status_counts_it(private_stack):
    up = private_stack("up", "redis")
    assert up.returncode == 0, up.stdout + up.stderr
    first = private_stack.child_pid("redis")
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: (private_stack.supervisor("redis")["restarts"] == 1
                        and private_stack("status", "redis").returncode == 0),
               timeout=30, what="redis restarted and healthy")
    assert private_stack.child_pid("redis") != first
    status = private_stack("status", "redis")
    row = next(line.split() for line in status.stdout.splitlines() if line.startswith("redis"))
    assert row[3] == "healthy" and row[6] == "1", status.stdout  # HEALTH, RSS "24 MB", RESTARTS
    assert "redis: last restart after killed by SIGKILL" in status.stdout
    assert "restarting in" in (private_stack.state / "logs" / "redis.log").read_text()
