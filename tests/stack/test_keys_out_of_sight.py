"""No secret on a command line: `ps` (/proc/<pid>/cmdline) shows every process's arguments to every local
user, while a process's environment (/proc/<pid>/environ) is its owner's alone."""

from pathlib import Path

import httpx

from tests.support.waiting import wait_until


def secrets_of(state: Path) -> dict[str, str]:
    """Every secret the stack keeps (name -> value, without a 0x prefix)."""
    return {path.name: path.read_text().strip().removeprefix("0x")
            for path in (state / "secrets").iterdir() if path.is_file()}


def command_line(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return None


def environment(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


def processes_showing(secrets: dict[str, str]) -> list[str]:
    """'<pid> <secret name>' for every process on the machine whose command line holds one of the secrets."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (line := command_line(int(entry.name))) is not None:
            found += [f"{entry.name} {name}" for name, value in secrets.items() if value and value in line]
    return found


def test_acapy_as_the_stack_starts_it_gets_its_keys_through_its_environment(private_stack):
    private_stack("up", "acapy", check=True)
    secrets = secrets_of(private_stack.state)
    assert {"acapy-admin-key", "acapy-wallet-key"} <= set(secrets)
    group = private_stack.process_group("acapy")  # the supervisor and the agent
    assert private_stack.child_pid("acapy") in group and len(group) >= 2
    for pid in group:
        line = command_line(pid)
        assert line is not None and not [name for name, value in secrets.items() if value in line], line
    assert processes_showing(secrets) == []
    agent = environment(private_stack.child_pid("acapy"))
    assert agent["ACAPY_ADMIN_API_KEY"] == secrets["acapy-admin-key"]
    assert agent["ACAPY_WALLET_KEY"] == secrets["acapy-wallet-key"]
    assert agent["ACAPY_WEBHOOK_URL"].endswith("#" + secrets["acapy-admin-key"])
    # The agent took the key from its environment: its admin API answers with the key, and only with it.
    admin = f"http://127.0.0.1:{private_stack.port('ACAPY_ADMIN_PORT')}"
    key = {"X-API-Key": secrets["acapy-admin-key"]}
    wait_until(lambda: httpx.get(f"{admin}/status", headers=key, timeout=5).status_code == 200, timeout=30)
    assert httpx.get(f"{admin}/status", timeout=5).status_code == 401
    assert private_stack("status", "acapy").returncode == 0  # its health check sends the key off the command line
    # It loaded our plugin (agent/acapy_plugin): the controller refuses DID Exchange requests through its route.
    routes = httpx.get(f"{admin}/api/docs/swagger.json", headers=key, timeout=10).json()["paths"]
    assert "/fitmint/didexchange/{conn_id}/refuse" in routes, sorted(routes)[:20]


def test_no_process_shows_a_secret_of_the_running_stack_on_its_command_line(running_stack):
    secrets = secrets_of(Path(running_stack["FITMINT_STATE_DIR"]))
    assert {"postgres-password", "acapy-admin-key", "acapy-wallet-key", "attestor.key"} <= set(secrets)
    assert processes_showing(secrets) == [], "a secret is on these processes' command lines (ps shows them)"


def test_the_stack_refuses_to_start_a_service_on_an_exposed_secret(private_stack):
    private_stack("secrets", check=True)
    exposed = private_stack.state / "secrets" / "acapy-admin-key"
    assert exposed.stat().st_mode & 0o777 == 0o600
    exposed.chmod(0o644)
    started = private_stack("up", "acapy")
    assert started.returncode != 0
    assert f"the secret file {exposed} is open to other users (mode 0644): run 'chmod 600 {exposed}'" in started.stderr
    assert not (private_stack.state / "run" / "acapy.pid").exists()
