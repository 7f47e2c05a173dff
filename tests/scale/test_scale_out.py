"""The scale-out run (`make scale`): 2 API processes, 3 workers, 2 indexer candidates (one writes: the advisory
lock of indexer/writer.py) and the transaction queue, on a private stack, under the member journey load
(tests/support/journeyload.py) for SCALE_SECONDS (default 300). Then, the load going on, one API, one worker
and the active indexer are killed (SIGKILL): the survivors must take over (the workers' Kafka rebalance
hands them every partition, the standby indexer takes the lock and goes on from the cursor, the WebSockets
reconnect to the other API) and, after the run, nothing may be lost or doubled (tests/support/invariants.py).
Writes reports/scale.md and reports/scale.json; fails when an invariant or a takeover fails.

Why a private stack rather than the shared one with fresh databases and topics: the Kafka invariant compares
everything on the topics with the outboxes, so no other producer may write there; and the run kills
processes and loads two cores for minutes, which the shared stack's other users must not feel."""

import asyncio
import json
import os
import platform
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.app.notifications.scheduler import SCHEDULER_LOCK
from backend.app.outbox_relay import RELAY_LOCK
from tests.scale import capacity
from tests.scale.measure import (
    Sampler,
    cpu_seconds,
    events_by_type,
    host_busy_seconds,
    render_markdown,
    table_sizes,
    with_descendants,
)
from tests.support.invariants import acheck_all
from tests.support.journeyload import JourneyConfig, Stats, load_settings, run_load
from tests.support.paths import ROOT
from tests.support.privatestack import PrivateStack
from tests.support.replicas import Replicas
from tests.support.units import FIT
from tests.support.waiting import wait_until

pytestmark = pytest.mark.scale

STEADY_SECONDS = float(os.environ.get("SCALE_SECONDS", "300"))
KILL_SECONDS = float(os.environ.get("SCALE_KILL_SECONDS", "90"))
MEMBERS = int(os.environ.get("SCALE_MEMBERS", "40"))
REPORTS = Path(os.environ.get("SCALE_REPORTS", ROOT / "reports"))
# Takeover bounds: a dead worker's partitions wait for its Kafka session to time out (10 s, fitmint/consumer.py)
# plus a rebalance; the standby indexer retries the lock every 2 s; a WebSocket reconnects at once.
MAX_REBALANCE_SECONDS = 45
MAX_INDEXER_TAKEOVER_SECONDS = 30
MAX_RECONNECT_SECONDS = 15
MAX_LOCK_TAKEOVER_SECONDS = 30


def log(message: str) -> None:
    print(f"[scale] {message}", flush=True)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """The private stack's infrastructure and every replica, started and healthy; all of it gone afterwards."""
    stack = PrivateStack()
    replicas = None
    try:
        began = time.monotonic()
        stack("up", "opa", "anvil", "postgres", "redis", "kafka", "mail", check=True)  # opa: the APIs' policy decisions
        log(f"private stack up in {time.monotonic() - began:.0f} s (state {stack.state})")
        replicas = Replicas(stack, tmp_path_factory.mktemp("scale-logs"), **load_settings())
        replicas.migrate()
        listing = replicas.list_item(1, FIT // 10, 10**9)
        replicas.start_txqueue("txqueue")
        replicas.start_indexer("indexer-a")
        replicas.wait_writer()
        standby = replicas.start_indexer("indexer-b")
        standby.wait_for(lambda: "another indexer writes" in standby.log, timeout=60, what="waiting as the standby")
        bases = [replicas.start_api("api-1"), replicas.start_api("api-2")]
        for name in ("worker-1", "worker-2", "worker-3"):
            replicas.start_worker(name)
        wait_until(lambda: spread(replicas, ("worker-1", "worker-2", "worker-3")), 90, 0.5,
                   "every worker holding a partition of each group")
        log(f"replicas up in {time.monotonic() - began:.0f} s: {replicas.describe()}")
        yield replicas, bases, listing
    finally:
        if replicas is not None:
            replicas.stop_all()
        stack("purge")
        shutil.rmtree(stack.state, ignore_errors=True)


def partitions(replicas: Replicas) -> dict[str, set[str]]:
    """Per consumer (its logger's name), every partition its group consumes: "topic[p]"."""
    count = int(replicas.env["KAFKA_PARTITIONS"])
    groups = replicas.target("").groups
    names = dict(zip(("worker.consumer", "worker.deliveries", "worker.email"), groups.values(), strict=True))
    return {consumer: {f"{topic}[{p}]" for topic in topics for p in range(count)} for consumer, topics in names.items()}


def spread(replicas: Replicas, workers) -> bool:
    """Whether each worker holds at least one partition of each group."""
    assignments = [replicas.assigned(name) for name in workers]
    return all(a is not None and all(a.values()) for a in assignments)


def covered(replicas: Replicas, workers) -> bool:
    """Whether `workers` together hold every partition of each group."""
    assignments = [replicas.assigned(name) for name in workers]
    if any(a is None for a in assignments):
        return False
    return all(set().union(*(a.get(consumer, set()) for a in assignments)) == every
               for consumer, every in partitions(replicas).items())


class Cpu:
    """CPU seconds of every process on the machine that takes part: the replicas, the infrastructure (each
    service's whole process group: PostgreSQL's backends, Kafka's JVM) and the load driver (this process)."""

    INFRASTRUCTURE = ("anvil", "postgres", "redis", "kafka")

    def __init__(self, replicas: Replicas):
        self.replicas = replicas
        self.marks = self._read()
        self.at = time.monotonic()

    def _read(self) -> dict[str, float]:
        used = {name: cpu_seconds(service.process.pid) for name, service in self.replicas.services().items()
                if service.process.poll() is None}
        for service in self.INFRASTRUCTURE:
            used[f"({service})"] = sum(
                cpu_seconds(pid) for pid in with_descendants(self.replicas.stack.process_group(service)))
        used["(load driver)"] = cpu_seconds(os.getpid(), children=False)
        used["(host, all processes)"] = host_busy_seconds()
        return used

    def cut(self) -> dict[str, float]:
        """Each live process's CPU use since the last cut, as % of one core (200 % is the whole machine)."""
        now, elapsed = self._read(), time.monotonic() - self.at
        shares = {name: round(100 * (now[name] - self.marks.get(name, 0.0)) / elapsed, 1) for name in now}
        host = shares.pop("(host, all processes)")
        shares["(everything else on the host: other users' work, the kernel)"] = round(
            max(0.0, host - sum(shares.values())), 1)
        shares["(host total)"] = host
        self.marks, self.at = now, time.monotonic()
        return dict(sorted(shares.items()))


def kill_and_watch(replicas: Replicas, stats: Stats, phases: list, sampler: Sampler, cpu: Cpu) -> dict:
    """In a thread beside the load: waits out the steady phase, cuts its numbers, kills one of each and
    measures each takeover. Returns what it saw."""
    time.sleep(STEADY_SECONDS)
    phases.append({"name": "Steady load, every replica", "load": stats.cut(), "cpu_percent": cpu.cut(),
                   "lag": sampler.summary(until=time.monotonic() - sampler.began)})
    backend, indexer_db = replicas.env["BACKEND_DATABASE"], replicas.env["INDEXER_DATABASE"]
    leader_locks = {"api outbox relay": RELAY_LOCK, "notifications scheduler": SCHEDULER_LOCK}

    def lock_holders() -> dict[str, str | None]:
        return {lock: replicas.advisory_holder(backend, key) for lock, key in leader_locks.items()}

    before = lock_holders()
    writer = replicas.indexer_writer()
    standby = next(name for name in replicas.indexers if name != writer)
    killed = ["api-1", "worker-1", writer]
    log(f"killing {killed} (lock holders: {before}); the load goes on")
    kill_at = time.monotonic()
    kill_mark = kill_at - sampler.began
    for name in killed:
        replicas.services()[name].kill()
    # Read once the writer is dead: the standby must take over from here.
    head = replicas.stack.sql("SELECT block_number FROM indexer_cursor", database=indexer_db)[0]["block_number"]
    survivors = [name for name in replicas.workers if name != "worker-1"]
    takeover: dict[str, float | None] = {}

    def until(what: str, condition, timeout: float) -> None:
        try:
            wait_until(condition, timeout, 0.1, what)
            takeover[what] = round(time.monotonic() - kill_at, 1)
        except AssertionError:
            takeover[what] = None
        log(f"{what}: {takeover[what]} s")

    watches = [("indexer: the standby holds the writer lock", lambda: replicas.indexer_writer() == standby,
                MAX_INDEXER_TAKEOVER_SECONDS),
               ("indexer: the standby indexed past the cursor it took over", lambda: replicas.stack.sql(
                   "SELECT block_number FROM indexer_cursor", database=indexer_db)[0]["block_number"] > head,
                MAX_INDEXER_TAKEOVER_SECONDS),
               ("workers: the two survivors hold every partition", lambda: covered(replicas, survivors),
                MAX_REBALANCE_SECONDS)]
    for lock, key in leader_locks.items():
        if before[lock] in killed:
            watches.append((f"{lock}: a survivor holds its lock",
                            lambda key=key: replicas.advisory_holder(backend, key) not in (None, *killed),
                            MAX_LOCK_TAKEOVER_SECONDS))
    with ThreadPoolExecutor(len(watches)) as pool:  # each takeover timed on its own, all at once
        list(pool.map(lambda watch: until(*watch), watches))
    after = lock_holders()
    time.sleep(max(0.0, KILL_SECONDS - (time.monotonic() - kill_at)))
    phases.append({"name": "After the kill: 1 API, 2 workers, 1 indexer", "load": stats.cut(),
                   "cpu_percent": cpu.cut(), "lag": sampler.summary(since=kill_mark)})
    return {"killed": killed, "takeover_seconds": takeover, "lock_holders_before": before,
            "lock_holders_after": after, "indexer_cursor_at_kill": head}


def test_two_apis_three_workers_two_indexers_scale_out_and_survive_a_kill_of_each(system):
    replicas, bases, listing = system
    target = replicas.target(bases[1])  # the API that survives answers the balance reads afterwards
    sampler = Sampler(target.bootstrap, target.groups, target.rpc_url, target.postgres, target.indexer_database)
    stats, phases, kill = Stats(), [], {}
    config = JourneyConfig(bases=bases, members=MEMBERS, seconds=STEADY_SECONDS + KILL_SECONDS + 600,
                           listing_id=listing, progress_every=30)

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def orchestrate():
            try:
                kill.update(kill_and_watch(replicas, stats, phases, sampler, cpu))
            except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
                kill["error"] = exc
            finally:
                loop.call_soon_threadsafe(stop.set)

        load = asyncio.create_task(run_load(config, stop, stats=stats, on_progress=lambda s, elapsed: log(
            f"{elapsed:.0f} s: {sum(s.counts.values())} requests this phase, journeys {dict(s.journeys)}, "
            f"relays {dict(s.relays)}, no answer {sum(s.transport_errors.values())}")))
        watcher = threading.Thread(target=orchestrate, daemon=True)
        watcher.start()
        result = await load
        watcher.join(60)
        return result

    load_at_start = os.getloadavg()
    sampler.start()
    cpu = Cpu(replicas)
    log(f"load: {MEMBERS} members over {bases} for {STEADY_SECONDS:.0f} s, then the kill and {KILL_SECONDS:.0f} s")
    try:
        result = asyncio.run(run())
    finally:
        sampler.stop()
    if "error" in kill:
        raise kill["error"]
    log("load stopped; checking the invariants")
    addresses = [address for address, _ in result.members]
    verdicts = asyncio.run(acheck_all(target, [phase["load"] for phase in phases], addresses,
                                      [ids for socket in result.sockets for ids in socket.connections]))
    databases = (target.backend_database, target.indexer_database)
    storage = {database: asyncio.run(table_sizes(target.postgres, database)) for database in databases}
    events = {database: asyncio.run(events_by_type(target.postgres, database)) for database in databases}
    report = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": {"cpus": os.cpu_count(), "cpu_model": _cpu_model(), "python": platform.python_version(),
                          "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg()},
              "topology": {"summary": "2 API processes (uvicorn, one worker each), 3 workers, 2 indexer candidates, "
                                      "1 transaction queue (3 operator keys)", **replicas.describe()},
              "load": {"members": MEMBERS, "steady_seconds": STEADY_SECONDS, "kill_seconds": KILL_SECONDS,
                       "bases": bases, "listing_id": listing},
              "phases": phases, "kill": kill, "websockets": result.socket_summary(),
              "invariants": verdicts.as_dict(), "storage": storage, "events": events,
              "databases": {"backend": target.backend_database, "indexer": target.indexer_database},
              "lag_samples": sampler.samples}
    report["capacity"] = capacity.model(report, *(json.loads((ROOT / "reports" / name).read_text())
                                                  for name in ("gas.json", "notifications.json")))
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "scale.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (REPORTS / "scale.md").write_text(render_markdown(report))
    log(f"wrote {REPORTS / 'scale.md'} and scale.json")

    assert verdicts.ok, verdicts.failures()
    missing = [what for what, seconds in kill["takeover_seconds"].items() if seconds is None]
    assert not missing, f"no takeover within its bound: {missing}"
    sockets = report["websockets"]
    assert sockets["reconnects"] > 0 and sockets["reconnect_max_s"] <= MAX_RECONNECT_SECONDS, sockets
    after = phases[1]["load"]
    assert after["journeys"].get("completed", 0) > 0, f"no journey completed after the kill: {after['journeys']}"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"

