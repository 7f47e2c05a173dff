"""The chaos run (`make chaos`): the indexer, the API, a worker and the transaction queue on a private stack whose
PostgreSQL, Redis, Kafka and RPC they reach only through Toxiproxy (tests/support/proxiedstack.py), under the
member journey load (tests/support/journeyload.py), while the faults of tests/chaos/faults.py are injected one
after the other and healed. After each heal, the time until a fresh member's whole journey succeeds again and
until every consumer group has no lag is measured and held to a bound; after the run, the invariants of
tests/support/invariants.py must hold (Kafka exactly once, nothing notified twice, balances equal the chain,
every API error a 503/504 with a reason). Writes reports/chaos.md and reports/chaos.json."""

import asyncio
import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.chaos.faults import SCENARIOS
from tests.chaos.report import render_markdown
from tests.support.invariants import acheck_all, api_errors, consumer_lag
from tests.support.journeyload import Abandon, JourneyConfig, Member, Stats, Unavailable, load_settings, run_load
from tests.support.paths import ROOT
from tests.support.replicas import Replicas
from tests.support.units import FIT

MEMBERS = int(os.environ.get("CHAOS_MEMBERS", "6"))
BASELINE_SECONDS = float(os.environ.get("CHAOS_BASELINE_SECONDS", "10"))
REPORTS = Path(os.environ.get("CHAOS_REPORTS", ROOT / "reports"))
# Recovery bounds, from the heal: a fresh member's whole journey (sign-in, workout, voucher, relayed claim mined,
# balance, quote, relayed purchase mined, notifications) has succeeded, and every consumer group's lag was 0.
# What they cover: the processes' reconnect backoff (fitmint/resilience.py: 5 s cap), a Kafka consumer's
# reconnect and the journey's own length under load (~2-5 s here).
JOURNEY_RECOVERY_BOUND_S = 30.0
LAG_RECOVERY_BOUND_S = 40.0
# The API's waits on PostgreSQL and Redis, shorter than the defaults (10 s, 5 s) so that a stall of a few seconds
# (faults.TIMEOUT_MS) shows the 504 answers within the run.
API_TIMEOUTS = {"POSTGRES_TIMEOUT_SECONDS": "2", "REDIS_TIMEOUT_SECONDS": "1"}


def log(message: str) -> None:
    print(f"[chaos] {message}", flush=True)


@pytest.fixture(scope="module")
def system(proxied, tmp_path_factory):
    """One of each process on the proxied stack, healthy; stopped afterwards (the stack is the session's)."""
    began = time.monotonic()
    replicas = Replicas(proxied.stack, tmp_path_factory.mktemp("chaos-logs"), **load_settings(),
                        **proxied.process_env(), **API_TIMEOUTS)
    try:
        replicas.migrate()
        listing = replicas.list_item(1, FIT // 10, 10**9)
        with ThreadPoolExecutor(4) as starting:  # each waits for its own readiness: side by side
            started = [starting.submit(replicas.start_txqueue, "txqueue"),
                       starting.submit(lambda: (replicas.start_indexer("indexer"), replicas.wait_writer())),
                       starting.submit(replicas.start_api, "api"), starting.submit(replicas.start_worker, "worker")]
        base = started[2].result()
        for future in started:
            future.result()
        log(f"processes up behind Toxiproxy in {time.monotonic() - began:.0f} s")
        yield replicas, base, listing
    finally:
        replicas.stop_all()


async def journey_once(config: JourneyConfig, stats: Stats, chain: dict, number: int) -> bool:
    """A fresh member's whole journey: whether every step was answered and every relay mined (Abandon or
    Unavailable when a step was refused)."""
    async with httpx.AsyncClient(timeout=config.request_timeout) as client:
        member = Member(number, config, client, stats, [], chain)
        before = Counter(stats.relays)
        await member.sign_in()
        await member.journey()
        relays = Counter(stats.relays) - before
        return relays["claim mined"] == 1 and not any(k.endswith(("failed", "timeout")) for k in relays)


async def recovery(config: JourneyConfig, stats: Stats, chain: dict, target, healed_at: float,
                   serial: list) -> dict:
    """Seconds from the heal until a fresh member's whole journey succeeded, and until every group's lag was 0
    after that (None: not within the bound)."""

    async def journey() -> float | None:
        probe = replace(config, relay_timeout=JOURNEY_RECOVERY_BOUND_S)
        while time.monotonic() - healed_at < JOURNEY_RECOVERY_BOUND_S:
            serial[0] += 1
            try:
                if await journey_once(probe, stats, chain, serial[0]):
                    return round(time.monotonic() - healed_at, 2)
            except (Abandon, Unavailable, httpx.HTTPError):
                pass
            await asyncio.sleep(0.5)
        return None

    async def lag() -> float | None:
        while time.monotonic() - healed_at < LAG_RECOVERY_BOUND_S:
            try:
                if not any((await asyncio.wait_for(consumer_lag(target.bootstrap, target.groups), 10)).values()):
                    return round(time.monotonic() - healed_at, 2)
            except Exception:  # noqa: BLE001 - Kafka still coming back: asked again
                pass
            await asyncio.sleep(0.5)
        return None

    # Lag 0 is looked for once the journey went through again: before that, little flows, and a lag of 0 would
    # say nothing about the backlog (the outboxes' events held back by the fault) being consumed.
    journey_s = await journey()
    return {"journey_s": journey_s, "lag_zero_s": await lag() if journey_s is not None else None}


def run_scenarios(proxied, target, config: JourneyConfig, cut_load, probe_stats: Stats) -> list[dict]:
    """In a thread beside the load: the baseline, then each fault injected, healed and recovered from.
    `cut_load()`: the load's summary since the last cut (taken in the load's own thread)."""
    chain = httpx.get(config.bases[0] + "/chain", timeout=30).json()
    serial = [10**6]  # the probes' member numbers (apart from the load's)
    time.sleep(BASELINE_SECONDS)
    # The same measures with no fault: what a fresh member's journey takes under this load (the floor of every
    # recovery time below).
    reference = asyncio.run(recovery(config, probe_stats, chain, target, time.monotonic(), serial))
    phases = [{"name": "baseline", "fault": "none", "recovery": reference, "load": cut_load(),
               "probe": probe_stats.cut()}]
    log(f"baseline: a journey takes {reference['journey_s']} s, lag 0 after {reference['lag_zero_s']} s")
    for fault in SCENARIOS:
        log(f"inject {fault.describe()}")
        with fault.injected(proxied.proxies[fault.dependency]):
            time.sleep(fault.seconds)
        healed_at = time.monotonic()
        recovered = asyncio.run(recovery(config, probe_stats, chain, target, healed_at, serial))
        phase = {"name": fault.name, "fault": fault.describe(), "seconds": fault.seconds,
                 "recovery": recovered, "load": cut_load(), "probe": probe_stats.cut()}
        phases.append(phase)
        log(f"healed {fault.name}: journey again after {recovered['journey_s']} s, lag 0 after "
            f"{recovered['lag_zero_s']} s; {phase['load']['requests']} requests, statuses "
            f"{statuses(phase['load'], phase['probe'])}")
    return phases


def trimmed(summary: dict) -> dict:
    """A phase's load summary for the report: a few of its error bodies (the invariants saw them all)."""
    return {**summary, "errors_5xx": summary["errors_5xx"][:5], "errors_4xx": summary.get("errors_4xx", [])[:3]}


def statuses(*summaries: dict) -> dict[str, int]:
    total: dict[str, int] = {}
    for summary in summaries:
        for endpoint in summary["endpoints"].values():
            for code, n in endpoint["statuses"].items():
                total[code] = total.get(code, 0) + n
        if summary.get("no_answer"):
            total["no answer"] = total.get("no answer", 0) + summary["no_answer"]
    return dict(sorted(total.items()))


def test_the_journey_rides_out_latency_stalls_resets_and_partitions_of_each_dependency(proxied, system):
    replicas, base, listing = system
    target = replicas.target(base)
    target = replace(target, rpc_url=f"http://127.0.0.1:{proxied.stack.port('ANVIL_PORT')}")  # the chain itself
    config = JourneyConfig(bases=[base], members=MEMBERS, seconds=3600, listing_id=listing, progress_every=0,
                           relay_timeout=JOURNEY_RECOVERY_BOUND_S)
    stats, probe_stats, outcome = Stats(), Stats(), {}
    began = time.monotonic()

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def cut() -> dict:
            return stats.cut()

        def cut_load() -> dict:
            return asyncio.run_coroutine_threadsafe(cut(), loop).result(30)

        def orchestrate():
            try:
                outcome["phases"] = run_scenarios(proxied, target, config, cut_load, probe_stats)
            except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
                outcome["error"] = exc
            finally:
                proxied.heal()
                loop.call_soon_threadsafe(stop.set)

        watcher = threading.Thread(target=orchestrate, daemon=True)
        watcher.start()
        result = await run_load(config, stop, stats=stats)
        watcher.join(60)
        return result

    result = asyncio.run(run())
    if "error" in outcome:
        raise outcome["error"]
    # Unsupervised here (tests/support/replicas.py): a process that died of a fault stays dead and fails the run.
    died = {name: service.log[-1500:] for name, service in replicas.services().items()
            if service.process.poll() is not None}
    phases = outcome["phases"]
    summaries = [summary for phase in phases for summary in (phase["load"], phase["probe"])] + [stats.cut()]
    members = [address for address, _ in result.members] + [address for address, _ in probe_stats.members]
    log("load stopped; checking the invariants")
    verdicts = asyncio.run(acheck_all(target, summaries, members,
                                      [ids for socket in result.sockets for ids in socket.connections],
                                      settle_seconds=90))
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "seconds": round(time.monotonic() - began, 1),
        "topology": "indexer, API, worker and transaction queue reach PostgreSQL, Redis, Kafka (advertised "
                    "listener: the proxy) and Anvil only through Toxiproxy v2.12.0",
        "members": MEMBERS, "bounds": {"journey_s": JOURNEY_RECOVERY_BOUND_S, "lag_zero_s": LAG_RECOVERY_BOUND_S},
        "phases": [{**phase, "load": trimmed(phase["load"]), "probe": trimmed(phase["probe"]),
                    "statuses": statuses(phase["load"], phase["probe"])} for phase in phases],
        "websockets": result.socket_summary(), "errors": api_errors(*summaries).details,
        "processes_died": sorted(died),
        "invariants": verdicts.as_dict()}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "chaos.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (REPORTS / "chaos.md").write_text(render_markdown(report))
    log(f"report: {REPORTS / 'chaos.md'}")

    assert not died, f"processes died during the run: {died}"
    slow = {phase["name"]: phase["recovery"] for phase in phases[1:]
            if None in phase["recovery"].values()}
    assert not slow, f"not recovered within {JOURNEY_RECOVERY_BOUND_S:g} s / {LAG_RECOVERY_BOUND_S:g} s: {slow}"
    assert verdicts.ok, verdicts.failures()
