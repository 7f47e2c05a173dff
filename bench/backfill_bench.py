"""Backfill benchmark (`make bench`): cold backfill as a user runs it, `python -m indexer backfill` in its
own process against a private Anvil and a database of its own, timed from process start to exit (the exit
comes after the last range's rows are committed), with the process's peak RSS (the kernel's ru_maxrss of
the reaped child). Workloads (issue 22):

  distinct200k   200,000 FIT Transfers to 200,000 distinct accounts
  scenario       the indexer benchmark's chain: 50,000 claim events and 150,000 Transfers to 20,000 accounts
  distinct1m     ~500 quiet blocks, then 1,000,000 Transfers to 1,000,000 distinct accounts (and 100 claim
                 events): the chain after which the range sizer once asked for 800k logs in one request

    python -m bench.backfill_bench [--workloads distinct200k,scenario,distinct1m] [--before DIR] [--out reports]

`--before DIR` also runs the indexer of another checkout (e.g. a worktree of the previous commit) on the
same chains, alternating with this one. Writes <out>/backfill.md and <out>/backfill.json.
"""

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from eth_abi import encode as abi_encode
from eth_utils import keccak

from bench.indexer_bench import compiled, log
from bench.indexer_bench import generate as generate_scenario
from indexer.settings import Settings
from tests.support.databases import create_databases, drop_databases
from tests.support.paths import ROOT
from tests.support.processes import settings_env
from tests.support.scenario import ScenarioChain
from tests.support.units import FIT

WORKLOADS = ("distinct200k", "scenario", "distinct1m")
# Issue 22's figures, measured side by side on this machine (fitmint before the change, Ponder 0.16.10).
REFERENCE = {
    "distinct200k": {"before": "18,214-18,810/s, 329-332 MB", "ponder": "3,787-3,792/s, 998-1,031 MB"},
    "distinct1m": {"before": "17,235-17,709/s, 3,575-3,577 MB", "ponder": "4,864/s, 2.9 GB"},
    "scenario": {"before": "38,550/s (timed inside the process, reports/indexer.md)", "ponder": "-"},
}
TARGET_EVENTS_PER_S = 30_000
TARGET_RSS_MB = 250


def spray_distinct(chain: ScenarioChain, transfers: int, per_tx: int, per_block: int, quiet_blocks: int = 0) -> dict:
    """`quiet_blocks` empty blocks, then `transfers` Transfers of 1 wei to as many distinct fresh accounts,
    `per_tx` per transaction and `per_block` transactions per block, then one claim batch (100 events).

    Blocks are mined on demand: Anvil's cost per block grows with the state (a block per transaction
    took 188 s for 200k transfers to fresh accounts, 5 transactions per block ~10x less)."""
    started = time.monotonic()
    artifact = compiled("TransferSpray")
    spray_contract = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = chain.w3.eth.wait_for_transaction_receipt(spray_contract.constructor().transact({"from": chain.admin}))
    spray = receipt.contractAddress
    chain.claim(spray, 100 * FIT)
    if quiet_blocks:
        chain.rpc("anvil_mine", hex(quiet_blocks))
    spray_call = keccak(text="spray(address,address,uint256,uint256)")[:4]
    base = int("0x" + "c" * 8 + "0" * 32, 16)
    chain.rpc("evm_setAutomine", False)
    last = None
    try:
        for i in range(transfers // per_tx):
            first = "0x" + hex(base + i * per_tx)[2:].rjust(40, "0")
            data = spray_call + abi_encode(["address", "address", "uint256", "uint256"],
                                           [chain.token.address, first, per_tx, 1])
            last = chain.send_fast(spray, data, chain.admin, 45_000 * per_tx)
            if (i + 1) % per_block == 0:
                chain.rpc("evm_mine")
            if i % 200 == 0:
                log(f"sprays: {i * per_tx:,}/{transfers:,} transfers")
        chain.rpc("evm_mine")
    finally:
        chain.rpc("evm_setAutomine", True)
    if last is not None:
        receipt = chain.w3.eth.wait_for_transaction_receipt(last, timeout=600)
        assert receipt.status == 1, "the last generated transaction reverted"
    chain.claim_batch([(chain.accounts[1 + n % 9], 1) for n in range(50)])  # 100 claim events, published
    return {"transfers": transfers // per_tx * per_tx, "quiet_blocks": quiet_blocks, "blocks": chain.head(),
            "seconds": round(time.monotonic() - started, 1)}


def generate(chain: ScenarioChain, workload: str) -> dict:
    if workload == "distinct200k":
        return {"description": "200,000 FIT Transfers to 200,000 distinct accounts (200 per transaction, 5 "
                               "per block), 100 claim events", **spray_distinct(chain, 200_000, 200, 5)}
    if workload == "distinct1m":
        return {"description": "500 quiet blocks, then 1,000,000 FIT Transfers to 1,000,000 distinct accounts "
                               "(1,000 per transaction, 10 per block), 100 claim events",
                **spray_distinct(chain, 1_000_000, 1_000, 10, quiet_blocks=500)}
    generation = generate_scenario(chain, 200_000)
    return {"description": f"{generation['claim_events']:,} claim events and {generation['spray_events']:,} "
                           "FIT Transfers to 20,000 accounts", **generation}


def run_indexer(tree: Path, settings: Settings, head: int, log_path: Path) -> dict:
    """`python -m indexer backfill --until head` of the checkout `tree`, from spawn to exit; its peak RSS."""
    env = settings_env(settings, INDEXER_METRICS_PORT="0", OTEL_SDK_DISABLED="true", FITMINT_LOG_FORMAT="text")
    env["PYTHONPATH"] = str(tree)
    with open(log_path, "w") as output:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "indexer", "backfill", "--until", str(head)], cwd=tree,
                                   env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"the indexer exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2)}


async def indexed(settings: Settings) -> dict:
    connection = await asyncpg.connect(**settings.postgres(settings.indexer_database))
    try:
        return {"events": await connection.fetchval("SELECT count(*) FROM events"),
                "balances": await connection.fetchval("SELECT count(*) FROM token_balances"),
                "outbox_rows": await connection.fetchval("SELECT count(*) FROM outbox"),
                "cursor": await connection.fetchval("SELECT block_number FROM indexer_cursor")}
    finally:
        await connection.close()


def measure(chain: ScenarioChain, workload: str, trees: dict[str, Path], rounds: int, logs: Path) -> dict:
    base, head = Settings(), chain.head()
    admin = base.postgres()
    runs = {name: [] for name in trees}
    for round_ in range(rounds):
        order = list(trees.items())
        for name, tree in order if round_ % 2 == 0 else order[::-1]:  # each goes first in turn
            # A database of its own (a backfill publishes nothing: no Kafka topics needed).
            settings = base.model_copy(update={
                "fitmint_rpc_url": chain.url, "manifest": chain.manifest_path,
                "indexer_database": f"bench_backfill_{uuid.uuid4().hex[:8]}"})
            asyncio.run(create_databases([settings.indexer_database], **admin))
            try:
                run = run_indexer(tree, settings, head, logs / f"{workload}-{name}-{round_}.log")
                counts = asyncio.run(indexed(settings))
            finally:
                asyncio.run(drop_databases([settings.indexer_database], **admin))
            if counts["cursor"] != head:
                raise RuntimeError(f"{name} stopped at block {counts['cursor']}, not {head}")
            run.update(counts, events_per_s=round(counts["events"] / run["seconds"]))
            log(f"{workload} {name}: {run['events']:,} events in {run['seconds']} s = {run['events_per_s']:,}/s, "
                f"peak RSS {run['peak_rss_mb']} MB, {run['cpu_seconds']} CPU-s")
            runs[name].append(run)
    return runs


def best(runs: list[dict]) -> dict:
    return max(runs, key=lambda run: run["events_per_s"])


def peak_rss(runs: list[dict]) -> int:
    return max(run["peak_rss_mb"] for run in runs)


def write_report(out: Path, results: dict, load_at_start: float):
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "cpus": os.cpu_count(), "load_average_start": round(load_at_start, 1),
            "load_average_end": round(os.getloadavg()[0], 1)}
    (out / "backfill.json").write_text(json.dumps({"meta": meta, "workloads": results}, indent=2) + "\n")
    (out / "backfill.md").write_text(render(meta, results))


def render(meta: dict, results: dict) -> str:
    lines = [
        "# Backfill benchmark",
        "",
        f"Generated {meta['generated_at']} by `make bench` ({meta['cpus']} cores, load average "
        f"{meta['load_average_start']} at the start and {meta['load_average_end']} at the end; Anvil, PostgreSQL "
        "and the indexer on this machine).",
        "",
        "`python -m indexer backfill` in its own process, a private Anvil, a database of its own: events/s from "
        "process start to exit (every row committed), peak RSS of the process (ru_maxrss) and its CPU seconds "
        "(user + system: what other work on the machine inflates less than wall time). Best of the rounds "
        "(the highest peak RSS of them); every round in backfill.json.",
        "",
        "| workload | chain | events | now: events/s | now: peak RSS | now: CPU-s | before (same run) | "
        "issue 22: fitmint before | Ponder 0.16.10 | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload, result in results.items():
        now, rss = best(result["runs"]["now"]), peak_rss(result["runs"]["now"])
        before = result["runs"].get("before")
        before_text = (f"{best(before)['events_per_s']:,}/s, {peak_rss(before):,} MB, "
                       f"{best(before)['cpu_seconds']} CPU-s" if before else "-")
        fast = now["events_per_s"] >= TARGET_EVENTS_PER_S
        small = rss < TARGET_RSS_MB
        lines.append(
            f"| {workload} | {result['chain']['description']}; {result['chain']['blocks']:,} blocks | "
            f"{now['events']:,} | {now['events_per_s']:,} ({now['seconds']} s) | "
            f"{rss:,} MB | {now['cpu_seconds']} | {before_text} | "
            f"{REFERENCE[workload]['before']} | {REFERENCE[workload]['ponder']} | "
            f">= {TARGET_EVENTS_PER_S:,}/s: {'met' if fast else 'not met'}; < {TARGET_RSS_MB} MB: "
            f"{'met' if small else 'not met'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, of {', '.join(WORKLOADS)} (one for a quick run)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", type=Path, default=None, help="also run this checkout's indexer")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    if unknown := set(workloads) - set(WORKLOADS):
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    trees = {"now": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    results, load_at_start = {}, os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as state:
        for workload in workloads:
            chain = ScenarioChain(Path(state) / workload, gas_limit=1_000_000_000, prune_history=True)
            try:
                log(f"{workload}: generating the chain")
                generation = generate(chain, workload)
                log(f"{workload}: {generation['blocks']:,} blocks generated in {generation['seconds']} s")
                results[workload] = {"chain": generation,
                                     "runs": measure(chain, workload, trees, args.rounds, Path(state))}
            finally:
                chain.stop()
    write_report(args.out, results, load_at_start)
    log(f"report: {args.out / 'backfill.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
