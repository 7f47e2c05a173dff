"""Transaction queue benchmark (`make bench`, issue 16 "Measured"): requests submitted at a steady rate to the
queue and mined through it to a private Anvil mining a block every second, as an operator runs it: worker
processes (`python -m fitmint.txqueue run`) sharing a pool of funded keys, the queue's tables in a database
of the bench's own in the stack's PostgreSQL.

    python -m bench.txqueue_bench [--seconds 60] [--rate 500] [--call token|eth] [--keys 16] [--workers 2]
                                  [--profile] [--out reports]

Reports sustained submitted/s and mined/s, p50/p95/p99 submit -> mined (the request's submitted_at to the
moment the queue recorded it mined, both PostgreSQL's clock), and what the chain itself says: per
idempotency key the transactions mined for it (duplicates: more than one; lost: none), each key's mined
nonces contiguous and no transaction outside the queue; CPU and memory of the workers and of Anvil.
`--profile` runs one worker under cProfile and adds its hottest functions to the report (slower: for
finding the bottleneck, not for the numbers). Writes <out>/txqueue.md and <out>/txqueue.json.
"""

import argparse
import asyncio
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from fitmint import secrets
from fitmint.txqueue.schema import create_schema
from fitmint.txqueue.submit import TransactionRequest, submit_many
from tests.support.databases import admin_dsn, create_databases, drop_databases
from tests.support.paths import ROOT
from tests.support.processes import spawn, stop_group
from tests.support.scenario import ANVIL
from tests.support.stackenv import stack_settings
from tests.support.txqueue import Anvil

TARGETS = {"mined_per_s": 500, "duplicates": 0, "lost": 0}
BLOCK_GAS_LIMIT = 300_000_000  # 500 token transfers take ~25M gas a block: Anvil's default 30M is too tight
WARMUP_SECONDS = 5  # left out of the sustained rates (the workers' first passes, the first blocks)
DRAIN_SECONDS = 120  # after the last submission, for the last requests to be mined
TICK = 0.1  # the submitter tops the count up to rate x elapsed this often
DEV_ACCOUNT = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # Anvil's first dev account (unlocked)
RECIPIENTS = 1_000
TOKEN_PER_KEY = 10**24
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str):
    print(f"[bench] {message}", flush=True)


# --- the chain ---------------------------------------------------------------------------------------

def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def wait_receipt(anvil: Anvil, tx_hash: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = anvil.rpc("eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            if int(receipt["status"], 16) != 1:
                raise RuntimeError(f"setup transaction {tx_hash} reverted")
            return receipt
        time.sleep(0.2)
    raise RuntimeError(f"setup transaction {tx_hash} not mined in {timeout} s")


def send_from_dev(anvil: Anvil, to: str | None, data: bytes) -> str:
    call = {"from": DEV_ACCOUNT, "data": "0x" + data.hex(), "gas": hex(10_000_000)}
    if to is not None:
        call["to"] = to
    return anvil.rpc("eth_sendTransaction", call)


def deploy_token(anvil: Anvil, holders: list[str]) -> str:
    """FitToken (Ape's compiled artifact) with TOKEN_PER_KEY minted to each holder."""
    contract_type = json.loads((ROOT / ".build" / "__local__.json").read_text())["contractTypes"]["FitToken"]
    bytecode = bytes.fromhex(contract_type["deploymentBytecode"]["bytecode"].removeprefix("0x"))
    receipt = wait_receipt(anvil, send_from_dev(anvil, None, bytecode + abi_encode(["address", "uint256"],
                                                                                   [DEV_ACCOUNT, 2**255])))
    token = receipt["contractAddress"]
    minter = keccak(text="MINTER_ROLE")
    wait_receipt(anvil, send_from_dev(anvil, token, selector("grantRole(bytes32,address)")
                                      + abi_encode(["bytes32", "address"], [minter, DEV_ACCOUNT])))
    mints = [send_from_dev(anvil, token, selector("mint(address,uint256)")
                           + abi_encode(["address", "uint256"], [holder, TOKEN_PER_KEY])) for holder in holders]
    for tx_hash in mints:
        wait_receipt(anvil, tx_hash)
    return token.lower()


def request_maker(call: str, token: str | None):
    """The n-th request: a token transfer of 1 unit, or 1 wei, to one of RECIPIENTS addresses."""
    transfer = selector("transfer(address,uint256)")

    def make(n: int) -> TransactionRequest:
        recipient = "0x" + (0xB0B0000000000000000000000000000000000000 + n % RECIPIENTS).to_bytes(20, "big").hex()
        if call == "token":
            return TransactionRequest(f"bench-{n}", "bench", token,
                                      transfer + abi_encode(["address", "uint256"], [recipient, 1]))
        return TransactionRequest(f"bench-{n}", "bench", recipient, value=1)

    return make


# --- processes ---------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def host_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole host, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Sampler:
    """CPU seconds and peak RSS of some processes, and the host's CPU use, between start() and stop()."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)

    def start(self):
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.host0, self.t0 = host_busy(), time.monotonic()

    def sample(self):
        for name, pid in self.pids.items():
            self.peak[name] = max(self.peak[name], rss_mb(pid))

    def stop(self) -> dict:
        wall = time.monotonic() - self.t0
        busy, total = host_busy()
        usage = {name: {"cpu_percent": round(100 * (cpu_seconds(pid) - self.cpu0[name]) / wall, 1),
                        "peak_rss_mb": round(self.peak[name], 1)} for name, pid in self.pids.items()}
        cores = len(os.sched_getaffinity(0))
        host = round(100 * cores * (busy - self.host0[0]) / max(1, total - self.host0[1]), 1)
        return {"processes": usage, "host_cpu_percent": host, "host_cores": cores, "seconds": round(wall, 1)}


def start_workers(args, stack: dict, database: str, url: str, key_files: list[Path], profile_dir: Path) -> list:
    env = {**os.environ, "FITMINT_STATE_DIR": stack["FITMINT_STATE_DIR"], "POSTGRES_PORT": stack["POSTGRES_PORT"],
           "POSTGRES_USER": stack["POSTGRES_USER"], "TXQUEUE_DATABASE": database, "FITMINT_RPC_URL": url,
           "TXQUEUE_RPC_URL": url, "TXQUEUE_KEY_FILES": json.dumps([str(path) for path in key_files]),
           "TXQUEUE_MAX_IN_FLIGHT": str(args.max_in_flight), "TXQUEUE_CHUNK_SIZE": str(args.chunk),
           "TXQUEUE_INTERVAL_SECONDS": str(args.interval), "TXQUEUE_MAX_FEE_PER_GAS": str(10**13),
           "TXQUEUE_MAX_KEYS": str(-(-len(key_files) // args.workers)), "MANIFEST": str(ROOT / "no-such-manifest")}
    workers = []
    for n in range(args.workers):
        profiled = args.profile and n == 0
        argv = [sys.executable, *(["-m", "cProfile", "-o", str(profile_dir / "worker.prof")] if profiled else []),
                "-m", "fitmint.txqueue", "run"]
        workers.append(spawn(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=open(profile_dir / f"worker-{n}.log", "w")))
    return workers


async def held_keys(connection, database: str) -> int:
    return await connection.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = $1)", database)


# --- the run -----------------------------------------------------------------------------------------

async def submit_steadily(postgres: dict, make, rate: float, seconds: float, sampler: Sampler) -> dict:
    """Tops the submitted count up to rate x elapsed every TICK for `seconds`; per second the count."""
    connection = await asyncpg.connect(**postgres)
    submitted, started, slow_ticks = 0, time.monotonic(), 0
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(rate * elapsed)
            if due > submitted:
                await submit_many(connection, [make(n) for n in range(submitted, due)])
                submitted = due
            sampler.sample()
            pause = TICK - (time.monotonic() - started - elapsed)
            if pause > 0:
                await asyncio.sleep(pause)
            else:
                slow_ticks += 1
        due = int(rate * seconds)
        if due > submitted:
            await submit_many(connection, [make(n) for n in range(submitted, due)])
            submitted = due
    finally:
        await connection.close()
    return {"submitted": submitted, "seconds": round(time.monotonic() - started, 2), "late_ticks": slow_ticks}


async def drain(postgres: dict, sampler: Sampler, timeout: float) -> float:
    connection = await asyncpg.connect(**postgres)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            sampler.sample()
            if not await connection.fetchval("SELECT count(*) FROM txqueue_request WHERE state IN ('queued', 'sent')"):
                break
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    return round(time.monotonic() - started, 1)


async def measured(postgres: dict, window: tuple[float, float]) -> dict:
    """Rates and latencies from the queue's records (PostgreSQL's clock: submitted_at, updated_at when mined)."""
    connection = await asyncpg.connect(**postgres)
    try:
        rows = await connection.fetch(
            """SELECT state, extract(epoch FROM submitted_at)::float8 AS submitted,
                      extract(epoch FROM updated_at)::float8 AS settled
               FROM txqueue_request WHERE requester = 'bench'""")
        states = {row["state"]: 0 for row in rows}
        for row in rows:
            states[row["state"]] += 1
    finally:
        await connection.close()
    mined = [row for row in rows if row["state"] == "mined"]
    start, end = window
    latencies = sorted((row["settled"] - row["submitted"]) * 1000 for row in mined)

    def quantile(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else 0.0

    in_window = end - start
    per_second = {}
    for row in mined:
        per_second[int(row["settled"] - start)] = per_second.get(int(row["settled"] - start), 0) + 1
    steady = [per_second.get(second, 0) for second in range(WARMUP_SECONDS, int(in_window))]
    return {
        "states": states,
        "submitted_per_s": round(sum(1 for r in rows if start + WARMUP_SECONDS <= r["submitted"] < end)
                                 / (in_window - WARMUP_SECONDS), 1),
        "mined_per_s": round(sum(1 for r in mined if start + WARMUP_SECONDS <= r["settled"] < end)
                             / (in_window - WARMUP_SECONDS), 1),
        "mined_per_s_min_second": min(steady) if steady else 0,
        "mined_per_s_max_second": max(steady) if steady else 0,
        "latency_ms": {"p50": quantile(0.50), "p95": quantile(0.95), "p99": quantile(0.99),
                       "max": round(latencies[-1], 1) if latencies else 0.0,
                       "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0},
    }


async def chain_audit(anvil: Anvil, postgres: dict, first_block: int, signers: list[str]) -> dict:
    """What the chain says: every transaction mined since `first_block` (its status from the block's
    receipts), mapped to the idempotency key whose attempt it is."""
    head = int(anvil.rpc("eth_blockNumber"), 16)
    mined_ok, outside, per_block = {}, 0, []
    for number in range(first_block, head + 1):
        receipts = anvil.rpc("eth_getBlockReceipts", hex(number))
        per_block.append(len(receipts))
        for receipt in receipts:
            if receipt["from"].lower() in signers:
                mined_ok[receipt["transactionHash"]] = int(receipt["status"], 16) == 1
            else:
                outside += 1
    connection = await asyncpg.connect(**postgres)
    try:
        rows = await connection.fetch(
            """SELECT r.idempotency_key, r.signer, r.nonce, r.state, r.mined_hash, a.tx_hash
               FROM txqueue_request r LEFT JOIN txqueue_attempt a ON a.request_id = r.id""")
    finally:
        await connection.close()
    by_key, nonces, ours, recorded = {}, {}, set(), {}
    for row in rows:
        recorded[row["idempotency_key"]] = (row["state"], row["mined_hash"])
        by_key.setdefault(row["idempotency_key"], [])
        if row["tx_hash"] is not None:
            ours.add(row["tx_hash"])
            if mined_ok.get(row["tx_hash"]):
                by_key[row["idempotency_key"]].append(row["tx_hash"])
        if row["nonce"] is not None:
            nonces.setdefault(row["signer"], set()).add(row["nonce"])
    bench_keys = [key for key in by_key if key.startswith("bench-")]
    contiguous = all(sorted(found) == list(range(len(found))) and int(anvil.rpc(
        "eth_getTransactionCount", to_checksum_address(signer), "latest"), 16) == len(found)
        for signer, found in nonces.items())
    return {
        "duplicates": sum(1 for key in bench_keys if len(by_key[key]) > 1),
        "lost": sum(1 for key in bench_keys if not by_key[key]),
        "reverted_on_chain": sum(1 for ok in mined_ok.values() if not ok),
        "not_the_queues": sum(1 for tx_hash in mined_ok if tx_hash not in ours) + outside,
        "gap_fillers": sum(1 for key in by_key if key.startswith("txqueue:")),
        "nonces_contiguous": contiguous,
        # the queue's records say what the chain says: mined, with the hash the chain mined
        "records_disagree": sum(1 for key in bench_keys if len(by_key[key]) == 1
                                and recorded[key] != ("mined", by_key[key][0])),
        "keys_used": len(nonces),
        "blocks": len(per_block),
        "max_tx_per_block": max(per_block, default=0),
    }


def hottest(profile: Path, limit: int = 25) -> list[dict]:
    if not profile.exists():
        return []
    stats = pstats.Stats(str(profile))
    total = stats.total_tt or 1
    rows = sorted(((key, value) for key, value in stats.stats.items()), key=lambda item: -item[1][2])[:limit]
    return [{"function": f"{Path(file).name}:{line} {name}", "self_s": round(tt, 2),
             "self_percent": round(100 * tt / total, 1), "cumulative_s": round(ct, 2), "calls": nc}
            for (file, line, name), (_, nc, tt, ct, _) in rows]


async def run(args) -> dict:
    stack = stack_settings()
    owner = admin_dsn(stack)
    database = f"txqueue_bench_{uuid.uuid4().hex[:8]}"
    await create_databases([database], **owner)
    postgres = {**owner, "database": database}
    anvil = Anvil("--block-time", "1", "--gas-limit", str(BLOCK_GAS_LIMIT))
    scratch = Path(tempfile.mkdtemp(prefix="txqueue-bench-"))  # key files, worker logs, the profile
    workers = []
    try:
        connection = await asyncpg.connect(**postgres)
        await create_schema(connection)
        keys = [anvil.funded_key() for _ in range(args.keys)]
        signers = [Account.from_key(key).address.lower() for key in keys]
        token = deploy_token(anvil, signers) if args.call == "token" else None
        make = request_maker(args.call, token)
        key_files = []
        for n, key in enumerate(keys):
            key_files.append(scratch / f"txqueue-{n}.key")
            secrets.write(key_files[-1], key)
        workers = start_workers(args, stack, database, anvil.url, key_files, scratch)
        deadline = time.monotonic() + 30
        while await held_keys(connection, database) < len(keys):
            if time.monotonic() > deadline or any(worker.poll() is not None for worker in workers):
                logs = "".join(path.read_text()[-2000:] for path in scratch.glob("worker-*.log"))
                raise RuntimeError(f"the workers hold {await held_keys(connection, database)} of {len(keys)} "
                                   f"keys:\n{logs}")
            await asyncio.sleep(0.2)
        await connection.close()
        log(f"{args.workers} worker(s) hold {len(keys)} keys; submitting {args.call} requests at {args.rate}/s "
            f"for {args.seconds} s")
        first_block = int(anvil.rpc("eth_blockNumber"), 16) + 1
        sampler = Sampler({**{f"worker-{n}": worker.pid for n, worker in enumerate(workers)},
                           "anvil": anvil.process.pid})
        sampler.start()
        window_start = time.time()
        submitting = await submit_steadily(postgres, make, args.rate, args.seconds, sampler)
        window_end = time.time()
        usage = sampler.stop()
        drained = await drain(postgres, sampler, DRAIN_SECONDS)
        log(f"submitted {submitting['submitted']:,}; drained in {drained} s")
        for worker in workers:
            stop_group(worker)
        workers = []
        numbers = await measured(postgres, (window_start, window_end))
        audit = await chain_audit(anvil, postgres, first_block, signers)
        profile = hottest(scratch / "worker.prof") if args.profile else []
        return {"submitting": submitting, "drain_seconds": drained, "usage": usage, **numbers, "chain": audit,
                "profile": profile}
    finally:
        for worker in workers:
            stop_group(worker)
        anvil.stop()
        await drop_databases([database], **owner)
        shutil.rmtree(scratch, ignore_errors=True)


# --- the report --------------------------------------------------------------------------------------

def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    anvil = subprocess.run([str(ANVIL), "--version"], capture_output=True,
                           text=True).stdout.splitlines()
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model, "python": platform.python_version(),
            "anvil": anvil[0] if anvil else "?"}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_report(out: Path, args, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **machine()}
    chain, latency, usage = result["chain"], result["latency_ms"], result["usage"]
    checks = {"mined_per_s": result["mined_per_s"] >= TARGETS["mined_per_s"],
              "duplicates": chain["duplicates"] == 0, "lost": chain["lost"] == 0,
              "nonces_contiguous": chain["nonces_contiguous"] and chain["not_the_queues"] == 0,
              "records_agree": chain["records_disagree"] == 0}
    config = {"seconds": args.seconds, "rate": args.rate, "call": args.call, "keys": args.keys,
              "workers": args.workers, "max_in_flight_per_key": args.max_in_flight, "chunk": args.chunk,
              "interval_s": args.interval, "block_time_s": 1, "block_gas_limit": BLOCK_GAS_LIMIT,
              "warmup_s": WARMUP_SECONDS, "profiled": args.profile}
    document = {"meta": meta, "config": config, "targets": TARGETS, "result": result, "checks": checks,
                "pass": all(checks.values())}
    (out / "txqueue.json").write_text(json.dumps(document, indent=2) + "\n")
    call = ("a FitToken `transfer(recipient, 1)` (ERC-20, OpenZeppelin 5, 1,000 recipients)" if args.call == "token"
            else "an ETH transfer of 1 wei (1,000 recipients)")
    lines = [
        "# Transaction queue benchmark",
        "",
        f"Generated {meta['generated_at']} by `make bench` (`python -m bench.txqueue_bench`) on {meta['nproc']} "
        f"cores ({meta['cpu']}); the workers, Anvil, PostgreSQL and the rest of `make up`'s stack share those "
        "cores, so the numbers are a floor for a dedicated host.",
        "",
        f"Setup: a private Anvil (`--block-time 1 --gas-limit {BLOCK_GAS_LIMIT:,}`, {meta['anvil']}), the queue's "
        f"tables in a database of the bench's own in the stack's PostgreSQL, {args.keys} funded keys shared by "
        f"{args.workers} worker process(es) `python -m fitmint.txqueue run` (each holding up to "
        f"{-(-args.keys // args.workers)} keys; TXQUEUE_MAX_IN_FLIGHT={args.max_in_flight}, "
        f"TXQUEUE_CHUNK_SIZE={args.chunk}, TXQUEUE_INTERVAL_SECONDS={args.interval}). Each request is {call}, "
        "simulated (eth_estimateGas at the latest block: a revert is never sent) before it is signed. Requests "
        f"are submitted with `submit_many` "
        f"every {TICK} s, topped up to {args.rate}/s x elapsed, for {args.seconds} s; rates count from "
        f"{WARMUP_SECONDS} s in to the last submission. Latency: a request's `submitted_at` to the moment the queue "
        "recorded it mined (both PostgreSQL's clock), so it includes the wait for the block (1 s) and for "
        "the worker's next pass. Duplicates, lost and nonces are read from the chain: every block's receipts "
        "mapped to the queue's recorded attempts.",
        "",
        "| metric | value | target | result |",
        "|---|---:|---:|---|",
        f"| submitted | {result['submitting']['submitted']:,} ({result['submitted_per_s']:,}/s sustained) | | |",
        f"| mined per second, sustained | {result['mined_per_s']:,}/s (slowest second "
        f"{result['mined_per_s_min_second']}, fastest {result['mined_per_s_max_second']}) | "
        f">= {TARGETS['mined_per_s']}/s | "
        f"{verdict(checks['mined_per_s'])} |",
        f"| submit -> mined p50 / p95 / p99 | {latency['p50']:,} / {latency['p95']:,} / {latency['p99']:,} ms | | |",
        f"| submit -> mined max | {latency['max']:,} ms | | |",
        f"| last request mined after the last submission | {result['drain_seconds']} s | | |",
        f"| duplicates (keys with more than one mined tx) | {chain['duplicates']} | 0 | "
        f"{verdict(checks['duplicates'])} |",
        f"| lost (keys with no mined tx at the end) | {chain['lost']} | 0 | {verdict(checks['lost'])} |",
        f"| mined nonces contiguous per key, no tx outside the queue | {chain['nonces_contiguous']}, "
        f"{chain['not_the_queues']} outside | yes, 0 | {verdict(checks['nonces_contiguous'])} |",
        f"| requests whose record (state, mined hash) disagrees with the chain | {chain['records_disagree']} | 0 | "
        f"{verdict(checks['records_agree'])} |",
        f"| reverted on chain / gap fillers | {chain['reverted_on_chain']} / {chain['gap_fillers']} | | |",
        f"| request states at the end | {', '.join(f'{k} {v:,}' for k, v in sorted(result['states'].items()))} "
        "| | |",
        f"| blocks / most transactions in one block | {chain['blocks']} / {chain['max_tx_per_block']} | | |",
        "",
        f"CPU and memory over the {usage['seconds']} s of submission (100% = one core; the host has "
        f"{usage['host_cores']}, busy {usage['host_cpu_percent']}% of one core in total):",
        "",
        "| process | CPU | peak RSS |",
        "|---|---:|---:|",
        *(f"| {name} | {value['cpu_percent']}% | {value['peak_rss_mb']} MB |"
          for name, value in usage["processes"].items()),
        "",
        f"Overall: {verdict(all(checks.values()))}",
    ]
    if result["profile"]:
        lines += ["", "## Profile of worker-0 (cProfile: this run is slower than an unprofiled one)", "",
                  "| function | self s | self % | cumulative s | calls |", "|---|---:|---:|---:|---:|",
                  *(f"| `{row['function']}` | {row['self_s']} | {row['self_percent']}% | {row['cumulative_s']} | "
                    f"{row['calls']:,} |" for row in result["profile"])]
    (out / "txqueue.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=500, help="requests submitted per second")
    parser.add_argument("--call", choices=["token", "eth"], default="token")
    parser.add_argument("--keys", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="worker processes sharing the keys")
    parser.add_argument("--max-in-flight", type=int, default=512, help="per key")
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between a worker's passes")
    parser.add_argument("--profile", action="store_true", help="run worker-0 under cProfile")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    if args.seconds <= WARMUP_SECONDS or args.rate <= 0 or args.keys < 1 or args.workers < 1:
        parser.error(f"--seconds must exceed {WARMUP_SECONDS}; --rate, --keys, --workers positive")
    result = asyncio.run(run(args))
    log(f"mined {result['mined_per_s']}/s sustained (submitted {result['submitted_per_s']}/s); p50/p95/p99 "
        f"{result['latency_ms']['p50']}/{result['latency_ms']['p95']}/{result['latency_ms']['p99']} ms; "
        f"duplicates {result['chain']['duplicates']}, lost {result['chain']['lost']}")
    write_report(args.out, args, result)
    log(f"report: {args.out / 'txqueue.md'}")
    # A missed rate is in the report (FAIL), like the other benchmarks; a transaction sent twice, lost, or
    # recorded other than the chain has it is a broken queue: exit 1.
    chain = result["chain"]
    broken = chain["duplicates"] or chain["lost"] or chain["records_disagree"] or not chain["nonces_contiguous"]
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
