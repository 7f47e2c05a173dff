"""API benchmark (`make bench`): EIP-712 voucher signing rate (eth-account's typed-data path and the direct
digest path, in the same run), the voucher endpoint's rate end to end, and wrk read throughput of the balance
endpoint as a ratio to a bare FastAPI hello-world served the same way in the same run.

    python -m bench.api_bench [--duration 10] [--vouchers 5000] [--members 40 --per-member 10 --concurrency 32]
                              [--baseline REF [--rounds 2]] [--out reports]

Needs wrk and the local stack (make up): its PostgreSQL (database fitmint_indexer, and a throwaway database for
the voucher run), Redis, OPA and Anvil with the contracts deployed. Writes <out>/api.md and <out>/api.json.
"""

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import uvicorn
from eth_account import Account

from backend.app.core.config import Settings
from bench.notifications_bench import cpu_seconds, host_busy_seconds, tree_pids
from fitmint.chain.manifest import Manifest, ManifestError
from fitmint.rewards.vouchers import RewardVoucher, VoucherMessage, recover_signer, typed_data
from fitmint.signers import KeySigner
from tests.support import signin
from tests.support.api import a_run
from tests.support.databases import create_database, drop_database
from tests.support.paths import ROOT
from tests.support.stackenv import stack_settings
from tests.support.units import DAY, FIT

CHAIN_ID = 31337
CONNECTIONS = 50
THREADS = 2
WARMUP_SECONDS = 2
# Used when the indexer has no balances yet (or no manifest exists): Anvil's second dev account, and
# the address ActivityRewards gets on a fresh Anvil.
FALLBACK_ADDRESS = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
FALLBACK_REWARDS = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
TARGETS = {"signing_per_s": 6_000, "endpoint_per_s": 2_000, "ratio": 0.5, "p99_ms": 50.0}
SIGNING_ROUNDS = 3


def log(message: str):
    print(f"[bench] {message}", flush=True)


# --- voucher signing ---------------------------------------------------------------------------------

def rewards_address() -> str:
    try:
        return Manifest.read(Settings().manifest_path(CHAIN_ID)).contract("ActivityRewards").checksum_address
    except ManifestError:
        return FALLBACK_REWARDS


def signing(count: int, verify: int = 100) -> dict:
    """Signs `count` vouchers in this (single-threaded) process, so on one core, as the API does with the
    attestor's file-backed signer (fitmint/signers.py), both ways in turn: `old`, eth-account hashing the full
    typed data; `new`, the digest hashed directly (fitmint/rewards/vouchers.py voucher_digest). Each side's
    signatures must be the other's, byte for byte; a sample is recovered with eth-account."""
    signer = Account.create()
    attestor = KeySigner(signer.key.to_0x_hex())
    contract = rewards_address()
    paths = {
        "old": lambda voucher: attestor.sign_typed_data_now(typed_data(voucher, chain_id=CHAIN_ID,
                                                                       verifying_contract=contract)),
        "new": lambda voucher: attestor.sign_digest(VoucherMessage(voucher, CHAIN_ID, contract).digest()),
    }
    deadline = int(time.time()) + 3600
    day = int(time.time()) // DAY
    vouchers = [RewardVoucher(FALLBACK_ADDRESS, FIT + i, i.to_bytes(32, "big"), day, deadline)
                for i in range(count)]
    for sign in paths.values():  # warm-up: first-call caches (eth_account, coincurve) outside the timing
        for voucher in vouchers[:50]:
            sign(voucher)
    runs: dict[str, list[float]] = {name: [] for name in paths}
    signatures = {}
    for _ in range(SIGNING_ROUNDS):  # alternating, so drift in the machine's load hits both paths alike
        for name, sign in paths.items():
            started = time.perf_counter()
            signatures[name] = [sign(v) for v in vouchers]
            runs[name].append(time.perf_counter() - started)
    if signatures["old"] != signatures["new"]:
        raise RuntimeError("the direct digest path signed other bytes than eth-account's typed-data path")
    step = max(1, count // verify)
    for voucher, signature in list(zip(vouchers, signatures["new"], strict=True))[::step]:
        recovered = recover_signer(voucher, signature, chain_id=CHAIN_ID, verifying_contract=contract)
        if recovered != signer.address:
            raise RuntimeError(f"voucher signature recovers {recovered}, not the signer {signer.address}")
    per_s = {name: round(count / min(seconds)) for name, seconds in runs.items()}
    result = {"vouchers": count, "rounds": SIGNING_ROUNDS, "per_s": per_s["new"], "old_per_s": per_s["old"],
              "speedup": round(per_s["new"] / per_s["old"], 2),
              "runs_per_s": {name: [round(count / s) for s in seconds] for name, seconds in runs.items()},
              "verified": len(range(0, count, step))}
    log(f"signing: {count:,} vouchers x {SIGNING_ROUNDS}: eth-account typed data {per_s['old']:,}/s, direct digest "
        f"{per_s['new']:,}/s ({result['speedup']}x; identical signatures, {result['verified']} recovered)")
    return result


# --- servers -----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def uvicorn_options(workers: int = 1) -> list[str]:
    """The same options for both servers; the fast loop and parser only if the venv has them."""
    options = ["--no-access-log", "--no-proxy-headers", "--workers", str(workers)]
    if importlib.util.find_spec("uvloop"):
        options += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        options += ["--http", "httptools"]
    return options


class Server:
    """`app`: uvicorn's app argument (`--factory module:function` for a factory); `env`: on top of ours; `root`: the
    source tree the server runs (another checkout's, for a before/after comparison)."""

    def __init__(self, name: str, app: str, ready_path: str, logs: Path, env: dict | None = None, root: Path = ROOT,
                 workers: int = 1):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path, self.log_path = ready_path, logs / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *app.split(), "--host", "127.0.0.1", "--port", str(self.port),
             *uvicorn_options(workers)],
            cwd=root, env={**os.environ, "PYTHONPATH": str(root), **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited ({self.process.returncode}):\n{self.log_tail()}")
            if (status := get_status(self.url + self.ready_path)) == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready on {self.url}{self.ready_path} after {timeout}s "
                           f"(last answer: {status}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


async def address_with_balance(settings: Settings) -> str | None:
    """The indexed account with the largest FIT balance; None when there is none yet."""
    try:
        connection = await asyncpg.connect(**settings.postgres(settings.indexer_database))
    except asyncpg.InvalidCatalogNameError:
        raise RuntimeError(f"database {settings.indexer_database} is missing: start the stack (make up)") from None
    except OSError as error:
        raise RuntimeError(f"PostgreSQL on {settings.postgres_host}:{settings.postgres_port} is unreachable ({error}): "
                           "start the stack (make up)") from None
    try:
        return await connection.fetchval(
            "SELECT account FROM token_balances WHERE balance > 0 ORDER BY balance DESC LIMIT 1")
    except asyncpg.UndefinedTableError:
        raise RuntimeError(f"{settings.indexer_database} has no indexer tables: run the indexer first "
                           "(make up, or make indexer)") from None
    finally:
        await connection.close()


# --- wrk -----------------------------------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
PERCENTILE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)


def wrk(url: str, seconds: int, headers: dict | None = None) -> dict:
    """One wrk run; requests/s, latency percentiles in ms, and the non-2xx/3xx and socket error counts."""
    argv = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
            *(arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")), url]
    output = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    requests = re.search(r"^\s*(\d+) requests in", output, re.M)
    if not rps or not requests:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    latency = {f"p{q}_ms": round(float(value) * UNITS[unit], 3) for q, value, unit in PERCENTILE.findall(output)}
    return {"rps": round(float(rps.group(1))), "requests": int(requests.group(1)), **latency,
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": sum(map(int, sockets.groups())) if sockets else 0}


def http(duration: int) -> dict:
    settings = Settings()
    address = asyncio.run(address_with_balance(settings))
    note = "the indexed address with the largest FIT balance"
    if address is None:  # the endpoint runs the same queries for it and answers 0
        address, note = FALLBACK_ADDRESS, "token_balances is empty, so an address without a balance"
    with tempfile.TemporaryDirectory() as logs:
        servers = []
        try:
            hello = Server("hello", "bench.hello_app:app", "/", Path(logs))
            servers.append(hello)
            # One client at wrk's rates: the per-IP limit on public reads is counted (its cost measured), not hit.
            api = Server("api", "backend.app.main:app", "/health", Path(logs), env={"RATE_LIMIT_PUBLIC": "1000000000",
                                                                          "RATE_LIMIT_PUBLIC_WINDOW_SECONDS": "3600"})
            servers.append(api)
            for server in servers:
                server.wait_ready()
            targets = {"hello": hello.url + "/", "api": f"{api.url}/wallets/{address}/balance"}
            status = get_status(targets["api"])
            if status != 200:
                raise RuntimeError(f"{targets['api']} answered {status}, not 200:\n{api.log_tail()}")
            log(f"servers ready (uvicorn {' '.join(uvicorn_options())}); balance of {address}")
            for url in targets.values():
                wrk(url, WARMUP_SECONDS)
            # Alternating runs, so drift in the machine's load hits both sides alike.
            runs = {"hello": [], "api": []}
            for name in ["hello", "api", "hello", "api"]:
                log(f"wrk -t{THREADS} -c{CONNECTIONS} -d{duration}s {name} ...")
                run = wrk(targets[name], duration)
                runs[name].append(run)
                log(f"  {run['rps']:,} req/s, p50 {run.get('p50_ms')} ms, p99 {run.get('p99_ms')} ms, "
                    f"{run['non_2xx']} non-2xx, {run['socket_errors']} socket errors")
        finally:
            for server in servers:
                server.stop()
    best = {name: max(results, key=lambda r: r["rps"]) for name, results in runs.items()}
    return {"address": address, "address_note": note, "duration_s": duration, "connections": CONNECTIONS,
            "threads": THREADS, "uvicorn": uvicorn_options(),
            "endpoints": {name: urlsplit(url).path for name, url in targets.items()},
            "runs": runs, "hello": best["hello"], "api": best["api"],
            "ratio": round(best["api"]["rps"] / best["hello"]["rps"], 3)}


# --- the voucher endpoint, end to end ------------------------------------------------------------------

STACK_SERVERS = ("postgres", "anvil", "opa", "redis")  # what the voucher endpoint waits on, from `make up`'s pid files


def component_cpu(api_pid: int) -> dict[str, float]:
    """CPU seconds so far of the voucher run's API process, this process (the load generator), each stack server the
    endpoint uses (with its children: PostgreSQL's backends) and the whole host. The stack's servers also serve
    whatever else runs on the host meanwhile."""
    run = Settings().fitmint_state_dir / "run"
    roots = {"api": tree_pids(api_pid), "load generator": [os.getpid()]}  # api: with its uvicorn workers
    for name in STACK_SERVERS:
        try:
            roots[name] = tree_pids(int((run / f"{name}.pid").read_text().strip()))
        except (OSError, ValueError):
            continue
    return {**{name: cpu_seconds(pids) for name, pids in roots.items()}, "host": host_busy_seconds()}


async def members_with_workouts(base: str, members: int, per_member: int) -> list[tuple[dict, str]]:
    """`members` fresh wallets signed in, each with `per_member` accepted 1 km runs (10 FIT each, far under the
    daily cap; the anti-cheat allows 20 a day): (Authorization header, workout id) pairs, members interleaved."""
    settings = Settings()
    async with aiohttp.ClientSession(base) as session:
        async def member() -> list[tuple[dict, str]]:
            wallet = signin.new_wallet()
            async with session.post("/auth/nonce") as answer:
                nonce = (await answer.json())["nonce"]
            message = signin.siwe_message(None, settings, wallet, nonce=nonce)
            proof = {"message": message, "signature": signin.sign(message, wallet)}
            async with session.post("/auth/verify", json=proof) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"sign-in answered {answer.status}: {await answer.text()}")
                headers = {"Authorization": f"Bearer {(await answer.json())['access_token']}"}
            workouts = []
            for n in range(per_member):  # 6-minute runs 9 minutes apart, the newest 12 minutes ago
                async with session.post("/fitness/workouts", json=a_run(hours_ago=0.2 + 0.15 * n, minutes=6, km=1.0),
                                        headers=headers) as answer:
                    body = await answer.json()
                    if answer.status != 201 or body.get("status") != "accepted":
                        raise RuntimeError(f"a workout answered {answer.status}: {body}")
                    workouts.append((headers, body["id"]))
            return workouts

        batches = await asyncio.gather(*(member() for _ in range(members)))
    # Interleaved, one member's workouts `members` requests apart: a member's vouchers are issued one at a time (an
    # advisory lock per account), so ten of theirs in flight together would measure that queue, not the endpoint.
    return [pair for round_ in zip(*batches, strict=True) for pair in round_]


async def issue_all(base: str, workouts: list[tuple[dict, str]], concurrency: int) -> tuple[float, list[dict], Counter]:
    """POST /rewards/workouts/{id}/voucher for every workout, `concurrency` requests in flight: the seconds from
    the first request to the last answer, the vouchers, and the answers' statuses."""
    pending = iter(workouts)
    vouchers, statuses = [], Counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as session:
        async def client():
            for headers, workout_id in pending:
                async with session.post(f"/rewards/workouts/{workout_id}/voucher", headers=headers) as answer:
                    statuses[answer.status] += 1
                    body = await answer.json()
                    if answer.status == 201:
                        vouchers.append(body)
                    elif len(statuses) < 5:
                        log(f"  voucher answered {answer.status}: {body}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - started, vouchers, statuses


def endpoint(members: int, per_member: int, concurrency: int, verify: int = 100, root: Path = ROOT,
             workers: int = 1) -> dict:
    """The voucher endpoint end to end: an API process (`workers` uvicorn workers, the code of `root`) on a database of
    its own on the stack's PostgreSQL, the stack's Redis, OPA and Anvil (the manifest's ActivityRewards, its
    attestor key); `members` x `per_member` vouchers asked for over HTTP, each once. Every voucher must recover to
    the attestor. Also the API process's CPU seconds over the timed part (vouchers per CPU-second of the API)."""
    stack = stack_settings()
    database = create_database(stack)
    env = {"BACKEND_DATABASE": database, "RELAY_ENABLED": "false", "RELAYER_ENABLED": "false", "ACCESS_LOG": "off",
           **{name: "1000000000" for name in ("RATE_LIMIT_ACCOUNT", "RATE_LIMIT_AUTH", "RATE_LIMIT_PUBLIC")}}
    settings = Settings()
    attestor = settings.attestor_signer().address
    try:
        with tempfile.TemporaryDirectory() as logs:
            api = Server("voucher-api", "backend.app.main:app", "/health", Path(logs), env=env, root=root,
                         workers=workers)
            try:
                api.wait_ready()
                workouts = asyncio.run(members_with_workouts(api.url, members, per_member))
                log(f"endpoint: {members} members signed in, {len(workouts):,} accepted workouts; issuing with "
                    f"{concurrency} requests in flight ...")
                cpu_before = component_cpu(api.process.pid)
                seconds, vouchers, statuses = asyncio.run(issue_all(api.url, workouts, concurrency))
                cpu = {name: round(spent - cpu_before[name], 2)
                       for name, spent in component_cpu(api.process.pid).items() if name in cpu_before}
                api_cpu = cpu["api"]
            except Exception:
                log(api.log_tail())
                raise
            finally:
                api.stop()
    finally:
        drop_database(stack, database)
    step = max(1, len(vouchers) // verify)
    for voucher in vouchers[::step]:
        bound = RewardVoucher(voucher["account"], int(voucher["amount"]), bytes.fromhex(voucher["claim_id"][2:]),
                              voucher["day"], voucher["deadline"])
        recovered = recover_signer(bound, bytes.fromhex(voucher["signature"][2:]), chain_id=voucher["chain_id"],
                                   verifying_contract=voucher["contract"]).lower()
        if recovered != attestor:
            raise RuntimeError(f"an issued voucher recovers {recovered}, not the attestor {attestor}")
    result = {"requests": len(workouts), "issued": len(vouchers), "statuses": dict(statuses),
              "concurrency": concurrency, "workers": workers, "seconds": round(seconds, 3),
              "per_s": round(len(vouchers) / seconds),
              "api_cpu_s": round(api_cpu, 3), "per_api_cpu_s": round(len(vouchers) / api_cpu) if api_cpu else None,
              "cpu_s": cpu, "cpu_ms_per_voucher": {name: round(1000 * spent / max(1, len(vouchers)), 2)
                                                   for name, spent in cpu.items()},
              "verified": len(vouchers[::step])}
    log(f"endpoint: {result['issued']:,} vouchers in {seconds:.2f}s = {result['per_s']:,}/s; the API process used "
        f"{api_cpu:.2f} CPU-s ({result['per_api_cpu_s']:,} vouchers per API CPU-second); statuses {dict(statuses)}")
    per_voucher = result["cpu_ms_per_voucher"]
    log("endpoint: CPU ms per voucher: " + ", ".join(f"{name} {ms}" for name, ms in per_voucher.items()))
    return result


@contextmanager
def checkout(ref: str):
    """A detached git worktree of `ref` in a temporary folder (removed after): the code a baseline runs."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, capture_output=True,
                       check=True)
        try:
            yield tree, commit
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


def endpoint_against(baseline: str | None, rounds: int, members: int, per_member: int, concurrency: int,
                     workers: int = 1) -> tuple[dict, dict | None]:
    """The endpoint run of this tree and, with `baseline` (a git ref), of that commit's code too, alternating
    (baseline, this tree, ...) for `rounds` rounds, so drift in the machine's load hits both alike; the best
    run of each side counts (its `runs_per_s` lists all)."""
    if baseline is None:
        return endpoint(members, per_member, concurrency, workers=workers), None
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    with checkout(baseline) as (tree, commit):
        for _ in range(rounds):
            for side, root in (("before", tree), ("after", ROOT)):
                log(f"endpoint, {side} ({commit[:10] if side == 'before' else 'this tree'}):")
                runs[side].append(endpoint(members, per_member, concurrency, root=root, workers=workers))
    best = {side: {**max(results, key=lambda r: r["per_s"]), "runs_per_s": [r["per_s"] for r in results],
                   "runs_api_cpu_ms": [r["cpu_ms_per_voucher"]["api"] for r in results]}
            for side, results in runs.items()}
    return best["after"], {**best["before"], "ref": baseline, "commit": commit}


# --- report --------------------------------------------------------------------------------------------

def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("Copyright")[0].strip()
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model, "python": platform.python_version(),
            "uvicorn": uvicorn.__version__, "wrk": wrk_version}


def runs_of(side: dict) -> str:
    return ", ".join(f"{rate} ({ms})" for rate, ms in zip(side["runs_per_s"], side["runs_api_cpu_ms"], strict=True))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_report(out: Path, sign: dict, issue: dict, web: dict, before: dict | None = None,
                 load_at_start: float | None = None):
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **machine(),
            "load_average": {"start": load_at_start, "end": round(os.getloadavg()[0], 1)}}
    hello, api = web["hello"], web["api"]

    def all_runs(name: str) -> str:
        return ", ".join(f"{run['rps']:,}" for run in web["runs"][name])

    errors = api["non_2xx"] + api["socket_errors"] + hello["non_2xx"] + hello["socket_errors"]
    # Error responses are cheap and fast: throughput and latency only count when every response was a 2xx.
    checks = {"signing_per_s": sign["per_s"] >= TARGETS["signing_per_s"],
              "endpoint_per_s": issue["per_s"] >= TARGETS["endpoint_per_s"] and issue["issued"] == issue["requests"],
              "ratio": web["ratio"] >= TARGETS["ratio"] and errors == 0,
              "p99_ms": api["p99_ms"] < TARGETS["p99_ms"] and errors == 0,
              "errors": errors == 0}
    report = {"meta": meta, "targets": TARGETS, "signing": sign, "endpoint": issue, "endpoint_before": before,
              "http": web, "checks": checks, "pass": all(checks.values())}
    (out / "api.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# API benchmark",
        "",
        f"Generated {meta['generated_at']} by `make bench` on {meta['nproc']} cores ({meta['cpu']}); wrk, both",
        "uvicorn servers, PostgreSQL and Redis (and the rest of `make up`'s stack) share those cores, so the",
        "numbers are a floor for a dedicated API host. Load average (1 min) at the start and the end of the run: "
        f"{meta['load_average']['start']} / {meta['load_average']['end']} (the host's other work included).",
        "",
        f"Signing: {sign['vouchers']:,} EIP-712 reward vouchers signed one after another in one process (one core) by",
        "the attestor's file-backed signer, both ways in turn, "
        f"{sign['rounds']} alternating rounds (the best of each counts): *old*, eth-account",
        "hashing the full typed data (`encode_typed_data`); *new*, the digest hashed directly",
        "(`fitmint/rewards/vouchers.py` `voucher_digest`: type hash and domain separator computed once, one keccak",
        "over the packed words), both signed with libsecp256k1 (coincurve). The two produced the same bytes;",
        f"{sign['verified']} signatures were recovered with eth-account.",
        "",
        f"Voucher endpoint: `POST /rewards/workouts/{{id}}/voucher` over HTTP, {issue['requests']:,} accepted workouts "
        f"of fresh members, {issue['concurrency']} requests",
        f"in flight (aiohttp), against an API process (uvicorn, {issue['workers']} worker(s)) on a database of its",
        "own and the stack's PostgreSQL, Redis, OPA and Anvil. Per voucher the API reads the contract twice (the caps",
        "and the epoch budget, then `isClaimPaid` for the claim id), each read going out in the JSON-RPC batch that",
        "carries the reads of every voucher in flight (`fitmint/chain/coalesce.py`); it makes 7 PostgreSQL round trips",
        "(the workout with its reward so far; the advisory-locked issue transaction: begin, lock, amount and claim id,",
        "the voucher with its reward row and outbox event in one statement, commit; the indexed claim status) and",
        "asks OPA; the rate is vouchers over the wall time of the run, and the API process's CPU time gives vouchers",
        "per CPU-second of the API.",
        *([f"The same run measured the endpoint of `{before['ref']}` ({before['commit'][:10]}) as *before*, "
           "alternating with this tree; each side's best run counts. All runs, vouchers/s (API CPU ms per voucher):",
           f"before {runs_of(before)}; after {runs_of(issue)}."] if before else []),
        "",
        f"HTTP: `wrk -t{web['threads']} -c{web['connections']} -d{web['duration_s']}s --latency` ({meta['wrk']}) "
        f"against `{web['endpoints']['api']}`",
        f"({web['address_note']}) and a bare FastAPI hello-world "
        f"(`bench/hello_app.py`, `{web['endpoints']['hello']}`),",
        f"both `uvicorn {' '.join(web['uvicorn'])}` (uvicorn {meta['uvicorn']}, Python {meta['python']}); runs",
        "alternate hello, api, hello, api after a warm-up, and each side's best run counts.",
        "",
        "| metric | value | target | result |",
        "|---|---:|---:|---|",
        f"| voucher signing, old path (eth-account typed data) | {sign['old_per_s']:,} vouchers/s | | |",
        f"| voucher signing, new path (digest hashed directly) | {sign['per_s']:,} vouchers/s "
        f"({sign['speedup']}x) | >= {TARGETS['signing_per_s']:,}/s | {verdict(checks['signing_per_s'])} |",
        f"| voucher endpoint, end to end | {issue['per_s']:,} vouchers/s | >= {TARGETS['endpoint_per_s']:,}/s | "
        f"{verdict(checks['endpoint_per_s'])} |",
        f"| voucher endpoint, per CPU-second of the API process | {issue['per_api_cpu_s']:,} vouchers | | |",
        "| voucher endpoint, CPU ms per voucher | "
        + ", ".join(f"{name} {ms}" for name, ms in issue["cpu_ms_per_voucher"].items()) + " | | |",
        *([f"| voucher endpoint, end to end, before | {before['per_s']:,} vouchers/s | | |",
           f"| voucher endpoint, per CPU-second of the API, before | {before['per_api_cpu_s']:,} vouchers | | |",
           "| voucher endpoint, CPU ms per voucher, before | "
           + ", ".join(f"{name} {ms}" for name, ms in before["cpu_ms_per_voucher"].items()) + " | | |"]
          if before else []),
        f"| hello-world throughput | {hello['rps']:,} req/s | | |",
        f"| hello-world latency p50 / p99 | {hello['p50_ms']} / {hello['p99_ms']} ms | | |",
        f"| balance endpoint throughput | {api['rps']:,} req/s | | |",
        f"| balance / hello-world throughput | {web['ratio']:.1%} | >= {TARGETS['ratio']:.0%} | "
        f"{verdict(checks['ratio'])} |",
        f"| balance endpoint latency p50 | {api['p50_ms']} ms | | |",
        f"| balance endpoint latency p99 | {api['p99_ms']} ms | < {TARGETS['p99_ms']:g} ms | "
        f"{verdict(checks['p99_ms'])} |",
        f"| non-2xx responses + socket errors | {errors} | 0 | {verdict(checks['errors'])} |",
        "",
        f"All runs (req/s): hello {all_runs('hello')}; balance {all_runs('api')}. Signing rounds (vouchers/s): old "
        f"{', '.join(f'{r:,}' for r in sign['runs_per_s']['old'])}; new "
        f"{', '.join(f'{r:,}' for r in sign['runs_per_s']['new'])}. Endpoint answers: {issue['statuses']}.",
        "",
        f"Overall: {verdict(all(checks.values()))}",
    ]
    (out / "api.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    load_at_start = round(os.getloadavg()[0], 1)  # the host's other work shows in the numbers: the report says it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--vouchers", type=int, default=5_000)
    parser.add_argument("--members", type=int, default=40, help="members asking for vouchers (endpoint run)")
    parser.add_argument("--per-member", type=int, default=10, help="vouchers each (the anti-cheat allows 20 a day)")
    parser.add_argument("--concurrency", type=int, default=32, help="voucher requests in flight")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the endpoint run's API")
    parser.add_argument("--baseline", metavar="REF", help="also run the endpoint of this git ref (before/after, "
                                                          "alternating rounds)")
    parser.add_argument("--rounds", type=int, default=2, help="endpoint rounds per side with --baseline")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    if min(args.duration, args.vouchers, args.members, args.concurrency) < 1 or not 1 <= args.per_member <= 20:
        parser.error("--duration, --vouchers, --members, --concurrency must be positive, --per-member 1 to 20")
    if shutil.which("wrk") is None:
        print("api_bench: wrk is not installed: run 'scripts/toolchain/install.sh wrk' (or apt-get install wrk).",
              file=sys.stderr)
        return 2

    sign = signing(args.vouchers)
    try:
        issue, before = endpoint_against(args.baseline, args.rounds, args.members, args.per_member, args.concurrency,
                                         args.workers)
        web = http(args.duration)
    except (RuntimeError, OSError, asyncpg.PostgresError, subprocess.SubprocessError, aiohttp.ClientError) as error:
        print(f"api_bench: {error}", file=sys.stderr)
        return 1
    log(f"hello {web['hello']['rps']:,} req/s, balance {web['api']['rps']:,} req/s: ratio {web['ratio']:.1%}, "
        f"balance p99 {web['api']['p99_ms']} ms")
    write_report(args.out, sign, issue, web, before, load_at_start)
    log(f"report: {args.out / 'api.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
