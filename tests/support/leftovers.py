"""`make test`'s last step: no process a test started may outlive the test run.

    python tests/support/leftovers.py MARKER

`make test` runs the suite with FITMINT_TEST_RUN=MARKER in its environment, which every process a test
starts inherits. Afterwards, any process still carrying the marker is a leftover, except the shared
stack's own services (a test may restart one of them; they belong to `make up`, whose process groups
are recorded in $FITMINT_STATE_DIR/run) and this check's own ancestors. Leftovers are listed, killed
(their whole process groups), and the check fails.
"""

import os
import signal
import sys
from pathlib import Path

MARKER_VARIABLE = "FITMINT_TEST_RUN"


def environment_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or not ours to read
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return pids


def stack_groups(state_dir: Path) -> set[int]:
    groups = set()
    for pid_file in (state_dir / "run").glob("*.pid"):
        try:
            groups.add(int(pid_file.read_text()))
        except (OSError, ValueError):
            pass
    return groups


def leftovers(marker: str, state_dir: Path) -> list[tuple[int, int, str]]:
    mine, stack = ancestors(), stack_groups(state_dir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        pid = int(entry.name)
        if environment_of(pid).get(MARKER_VARIABLE) != marker:
            continue
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            continue
        if group not in stack:
            found.append((pid, group, command_of(pid)))
    return found


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1]:
        print(__doc__, file=sys.stderr)
        return 2
    state_dir = Path(os.environ.get("FITMINT_STATE_DIR") or Path(__file__).resolve().parents[2] / ".state")
    found = leftovers(sys.argv[1], state_dir)
    if not found:
        print("==> no process left running by the tests")
        return 0
    print(f"==> {len(found)} process(es) started by the tests are still running:", file=sys.stderr)
    for pid, group, command in found:
        print(f"    pid {pid} (group {group}): {command[:200]}", file=sys.stderr)
    for group in {group for _, group, _ in found}:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print("    killed them; the test that started each must stop it (tests/support/processes.py: spawn/stop_group)",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
