"""Keeps one service of `make up` running: starts it, and restarts it whenever it dies, after a capped
exponential backoff with jitter (1 s, 2 s, 4 s ... 30 s; back to 1 s once a run lasted a minute).

    supervise.py --name NAME --run-dir DIR [--stop-signal INT] -- COMMAND [ARG...]

stack.sh starts it with `setsid`, so the supervisor leads the service's process group and the service
runs inside it: `stack.sh down` signals the whole group, the supervisor sees the signal, lets the
service stop and exits without restarting it. The supervisor writes DIR/NAME.child.pid (the running
service's PID) and DIR/NAME.supervisor.json (restarts, the last exit and when), which `make status`
shows. Every start and exit is one line in the service's log (its stdout). Standard library only: it runs
before any venv exists.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

BACKOFF_FIRST = 1.0
BACKOFF_CAP = 30.0
STABLE_AFTER = 60.0  # a run this long resets the backoff: the next crash is a new incident


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def say(name: str, message: str) -> None:
    print(f"=== supervisor {now_iso()} {name}: {message}", flush=True)


def describe(status: int) -> str:
    return f"killed by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"


class Supervisor:
    def __init__(self, name: str, run_dir: str, argv: list[str], stop_signal: int):
        self.name = name
        self.argv = argv
        self.stop_signal = stop_signal
        self.child_pid_file = os.path.join(run_dir, f"{name}.child.pid")
        self.status_file = os.path.join(run_dir, f"{name}.supervisor.json")
        self.child: subprocess.Popen | None = None
        self.stopping = False
        self.restarts = 0
        self.last_exit: dict | None = None

    def on_signal(self, signum, _frame) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            try:  # the group got the signal too when stack.sh sent it; this covers a signal to us alone
                self.child.send_signal(self.stop_signal)
            except ProcessLookupError:
                pass

    def write_status(self, state: str, next_start: float | None = None) -> None:
        status = {"state": state, "restarts": self.restarts, "child_pid": self.child.pid if self.child else None,
                  "last_exit": self.last_exit, "updated": now_iso()}
        if next_start is not None:
            status["next_start_in_seconds"] = round(next_start, 1)
        temporary = self.status_file + ".tmp"
        with open(temporary, "w") as handle:
            json.dump(status, handle)
        os.replace(temporary, self.status_file)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))

    def run(self) -> int:
        backoff = BACKOFF_FIRST
        while not self.stopping:
            started = time.monotonic()
            self.child = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)
            with open(self.child_pid_file, "w") as handle:
                handle.write(str(self.child.pid))
            self.write_status("running")
            if self.restarts:
                say(self.name, f"restarted (restart {self.restarts}, pid {self.child.pid})")
            status = self.wait_child()
            ran = time.monotonic() - started
            if self.stopping:
                say(self.name, f"stopped ({describe(status)})")
                break
            self.restarts += 1
            self.last_exit = {"status": describe(status), "at": now_iso(), "ran_seconds": round(ran, 1)}
            if ran >= STABLE_AFTER:
                backoff = BACKOFF_FIRST
            delay = backoff * random.uniform(0.8, 1.2)
            say(self.name, f"died ({describe(status)}) after {ran:.1f} s; restarting in {delay:.1f} s")
            self.write_status("backoff", delay)
            self.sleep(delay)
            backoff = min(backoff * 2, BACKOFF_CAP)
        self.write_status("stopped")
        return 0

    def wait_child(self) -> int:
        while True:
            try:
                return self.child.wait()
            except InterruptedError:  # a signal arrived while waiting: keep waiting for the child
                continue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--stop-signal", default="TERM", help="what `down` sends the service (PostgreSQL: INT)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not argv:
        parser.error("no command to supervise")
    supervisor = Supervisor(args.name, args.run_dir, argv, signal.Signals["SIG" + args.stop_signal.upper()])
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, supervisor.on_signal)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
