"""Head latency (`make bench`): how soon after a transaction's receipt its rows are visible in PostgreSQL and
its event is on Kafka, with the indexer (`python -m indexer run`, its own process, as `make up` runs it)
following the head by polling (before) and over a newHeads subscription (after), in one run.

Single transactions, one at a time at random spacing, on a private Anvil mining on arrival: FIT mints
(a claim: RewardClaimed + the mint Transfer, published as TokenMinted) and plain FIT transfers (indexed,
not published). Receipt: the moment this process has the transaction's receipt; row visible: a query on a
connection of its own sees the block's events (polled every millisecond); on Kafka: a read_committed
consumer of the TokenMinted topic has the record. Ponder 0.16.10 (newHeads over WebSocket, same machine,
figures of issue 22) is the reference.

    python -m bench.freshness_bench [--transactions 50] [--out reports]

Writes <out>/freshness.md and <out>/freshness.json.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer
from web3.exceptions import TransactionNotFound

from fitmint import events as ev
from fitmint.outbox.relay import HORIZON
from indexer.settings import Settings
from tests.support.indexer_targets import create_targets, drop_targets
from tests.support.paths import ROOT
from tests.support.processes import settings_env, spawn, stop_group
from tests.support.scenario import ScenarioChain

MODES = {"poll": False, "subscribe": True}  # mode -> head_subscription
PONDER = {"row_p50_ms": 20, "row_p99_ms": 63}  # Ponder 0.16.10 on newHeads (issue 22, measured here)
TARGETS = {"row_p50_ms": 10, "row_p99_ms": 25, "kafka_p99_ms": 50}
ROW_POLL = 0.001  # seconds between looks for the block's rows
GAP = (0.05, 0.25)  # seconds between transactions (random: a poll's phase must not line up with the sends)


def log(message: str):
    print(f"[bench] {message}", flush=True)


def quantile(values: list[float], q: float) -> float:
    """Nearest rank (with 50 samples, p99 is the largest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict:
    return {"samples": len(values), "p50_ms": round(quantile(values, 0.5), 1),
            "p99_ms": round(quantile(values, 0.99), 1), "mean_ms": round(statistics.mean(values), 1),
            "max_ms": round(max(values), 1)}


class Minted:
    """TokenMinted records as they arrive: tx hash -> when this process had it."""

    def __init__(self, settings: Settings):
        self.arrived: dict[str, float] = {}
        self.consumer = AIOKafkaConsumer(settings.kafka_topic_prefix + ev.TOKEN_MINTED.topic,
                                         bootstrap_servers=settings.bootstrap, isolation_level="read_committed",
                                         auto_offset_reset="earliest", group_id=f"bench-{uuid.uuid4().hex[:6]}",
                                         fetch_max_wait_ms=100)
        self.task: asyncio.Task | None = None

    async def start(self):
        await self.consumer.start()
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        async for record in self.consumer:
            self.arrived[orjson.loads(record.value)["data"]["txHash"]] = time.perf_counter()

    async def wait(self, tx_hash: str, timeout: float = 30) -> float:
        deadline = time.perf_counter() + timeout
        while tx_hash not in self.arrived:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"TokenMinted of {tx_hash} never reached Kafka")
            await asyncio.sleep(ROW_POLL)
        return self.arrived[tx_hash]

    async def stop(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.consumer.stop()


# The relay publishes a row once every transaction older than the row's that could write the outbox has
# ended (fitmint/outbox/relay.py): when that is, seen from here.
_PUBLISHABLE = f"SELECT bool_and(txid < {HORIZON}) FROM outbox WHERE block_number = $1"


async def publishable(connection, block: int, timeout: float = 30) -> float:
    deadline = time.perf_counter() + timeout
    while not await connection.fetchval(_PUBLISHABLE, block):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the outbox rows of block {block} never became publishable")
        await asyncio.sleep(ROW_POLL)
    return time.perf_counter()


async def row_visible(connection, block: int, timeout: float = 30) -> float:
    deadline = time.perf_counter() + timeout
    while await connection.fetchval("SELECT 1 FROM events WHERE block_number = $1 LIMIT 1", block) is None:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the events of block {block} never became visible")
        await asyncio.sleep(ROW_POLL)
    return time.perf_counter()


def send(chain: ScenarioChain, kind: str) -> tuple[str, int, float]:
    """Sends one transaction and reads its receipt: (tx hash, block, when the receipt was here)."""
    if kind == "mint":
        call = chain.rewards.functions.claim(*chain.voucher(chain.accounts[3], 1))
        sender = chain.accounts[9]
    else:
        call = chain.token.functions.transfer(chain.accounts[2], 1)
        sender = chain.accounts[1]
    tx_hash = call.transact({"from": sender})  # Anvil mines on arrival, and answers before it has mined
    while True:
        try:
            receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
            break
        except TransactionNotFound:
            time.sleep(ROW_POLL)
    received = time.perf_counter()
    assert receipt.status == 1, receipt
    return tx_hash.to_0x_hex(), receipt.blockNumber, received


async def measure(chain: ScenarioChain, settings: Settings, transactions: int, log_path: Path) -> dict:
    """Starts the indexer, waits until it is at the head, then times `transactions` single transactions."""
    env = settings_env(settings, INDEXER_METRICS_PORT="0", OTEL_SDK_DISABLED="true",
                       FITMINT_LOG_FORMAT="text")
    with open(log_path, "w") as output:
        process = spawn([sys.executable, "-m", "indexer", "run"], cwd=ROOT, env=env, stdout=output,
                        stderr=subprocess.STDOUT)
    minted = Minted(settings)
    connection = await asyncpg.connect(**settings.postgres(settings.indexer_database))
    rng = random.Random(22)
    rows, kafka, ready, relayed = {"mint": [], "transfer": []}, [], [], []
    try:
        await minted.start()
        head, deadline = chain.head(), time.monotonic() + 120
        while True:
            try:
                cursor = await connection.fetchval("SELECT block_number FROM indexer_cursor")
            except asyncpg.UndefinedTableError:
                cursor = None
            if cursor is not None and cursor >= head:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the indexer did not reach the head:\n{log_path.read_text()[-3000:]}")
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # the relay connected, the consumer assigned
        for i in range(transactions):
            await asyncio.sleep(rng.uniform(*GAP))
            kind = "mint" if i % 2 == 0 else "transfer"
            tx_hash, block, received = await asyncio.to_thread(send, chain, kind)
            rows[kind].append((await row_visible(connection, block) - received) * 1000)
            if kind == "mint":
                ready_at = await publishable(connection, block)
                on_kafka = await minted.wait(tx_hash)
                kafka.append((on_kafka - received) * 1000)
                ready.append((ready_at - received) * 1000)
                relayed.append((on_kafka - ready_at) * 1000)
    finally:
        await minted.stop()
        await connection.close()
        stop_group(process)
    all_rows = rows["mint"] + rows["transfer"]
    return {"row": summary(all_rows), "row_mints": summary(rows["mint"]), "row_transfers": summary(rows["transfer"]),
            "kafka": summary(kafka), "publishable": summary(ready), "publishable_to_kafka": summary(relayed),
            "samples_ms": {"row": [round(v, 2) for v in all_rows], "kafka": [round(v, 2) for v in kafka],
                           "publishable": [round(v, 2) for v in ready]}}


def write_report(out: Path, results: dict, transactions: int, load: float):
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "cpus": os.cpu_count(), "transactions": transactions, "load_average_1m_before": load}
    (out / "freshness.json").write_text(json.dumps({"meta": meta, "ponder": PONDER, "targets": TARGETS,
                                                    **results}, indent=2) + "\n")
    poll, sub = results["poll"], results["subscribe"]
    lines = [
        "# Head latency (freshness)",
        "",
        f"Generated {meta['generated_at']} by `make bench` ({meta['cpus']} cores, load average {load:.1f} before "
        "the run;",
        "Anvil, PostgreSQL, Kafka and the indexer all on this machine). `python -m indexer run` in its own",
        "process (this code; `HEAD_SUBSCRIPTION=false` for the polling column), following a private Anvil",
        f"that mines each transaction on arrival; {transactions} single transactions one at a time (mints and",
        "FIT transfers alternating), the same run for both ways of following the head. Receipt: this process has",
        "the receipt; row visible: its block's events are readable in PostgreSQL (looked for every millisecond);",
        "Kafka: a read_committed consumer has the TokenMinted record (mints only: plain transfers are not",
        "published). Nearest-rank quantiles: with 50 samples, p99 is the largest. Ponder 0.16.10 (newHeads over",
        "WebSocket) as measured on this machine for issue 22.",
        "",
        "| measure | polling (50 ms) | newHeads subscription | Ponder 0.16.10 | target |",
        "|---|---:|---:|---:|---:|",
        f"| receipt -> row visible, p50 | {poll['row']['p50_ms']} ms | {sub['row']['p50_ms']} ms | "
        f"{PONDER['row_p50_ms']} ms | < {TARGETS['row_p50_ms']} ms |",
        f"| receipt -> row visible, p99 | {poll['row']['p99_ms']} ms | {sub['row']['p99_ms']} ms | "
        f"{PONDER['row_p99_ms']} ms | < {TARGETS['row_p99_ms']} ms |",
        f"| receipt -> row visible, mean / max | {poll['row']['mean_ms']} / {poll['row']['max_ms']} ms | "
        f"{sub['row']['mean_ms']} / {sub['row']['max_ms']} ms | | |",
        f"| receipt -> event on Kafka, p50 | {poll['kafka']['p50_ms']} ms | {sub['kafka']['p50_ms']} ms | "
        "(no Kafka) | |",
        f"| receipt -> event on Kafka, p99 | {poll['kafka']['p99_ms']} ms | {sub['kafka']['p99_ms']} ms | "
        f"(no Kafka) | < {TARGETS['kafka_p99_ms']} ms |",
        f"| receipt -> outbox rows publishable (no older transaction running that could write them), p50 / p99 | "
        f"{poll['publishable']['p50_ms']} / {poll['publishable']['p99_ms']} ms | "
        f"{sub['publishable']['p50_ms']} / {sub['publishable']['p99_ms']} ms | | |",
        f"| publishable -> on Kafka (the relay's own share), p50 / p99 | "
        f"{poll['publishable_to_kafka']['p50_ms']} / {poll['publishable_to_kafka']['p99_ms']} ms | "
        f"{sub['publishable_to_kafka']['p50_ms']} / {sub['publishable_to_kafka']['p99_ms']} ms | | |",
        f"| samples (rows / Kafka) | {poll['row']['samples']} / {poll['kafka']['samples']} | "
        f"{sub['row']['samples']} / {sub['kafka']['samples']} | | |",
        "",
        "Where the time goes. Polling, a new block waits for the next look (50 ms apart: ~25 ms on average)",
        "before its logs are fetched. Subscribed, the node's announcement often arrives before the client has",
        "its receipt: what is left is the `eth_getLogs` round trip and the write, one SQL script in one round",
        "trip. On Kafka, after the rows are publishable, the relay's share is one outbox read and one Kafka",
        "transaction (AddPartitionsToTxn, Produce with acks=all, EndTxn: three broker round trips, then the",
        "commit markers), plus the consumer's fetch. A transaction that stays open in the outbox's database",
        "holds publication back until it ends (the outbox's rule against skipping an event); one in another",
        "database no longer does.",
    ]
    (out / "freshness.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=50)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()

    base = Settings()
    admin_dsn = base.postgres()
    results = {}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as state:
        chain = ScenarioChain(Path(state) / "state")
        try:
            chain.claim(chain.accounts[1])  # FIT to transfer
            for mode in args.modes:
                settings = base.model_copy(update={
                    "fitmint_rpc_url": chain.url, "manifest": chain.manifest_path,
                    "indexer_database": f"bench_fresh_{uuid.uuid4().hex[:8]}",
                    "kafka_topic_prefix": f"bench-{uuid.uuid4().hex[:8]}.", "head_subscription": MODES[mode]})
                asyncio.run(create_targets(settings, admin_dsn))
                try:
                    log(f"{mode}: {args.transactions} transactions")
                    results[mode] = asyncio.run(measure(chain, settings, args.transactions,
                                                        Path(state) / f"indexer-{mode}.log"))
                finally:
                    asyncio.run(drop_targets(settings, admin_dsn))
                r = results[mode]
                log(f"{mode}: receipt -> row p50 {r['row']['p50_ms']} ms, p99 {r['row']['p99_ms']} ms; "
                    f"receipt -> Kafka p50 {r['kafka']['p50_ms']} ms, p99 {r['kafka']['p99_ms']} ms")
        finally:
            chain.stop()
    if set(results) == set(MODES):
        write_report(args.out, results, args.transactions, load)
        log(f"report: {args.out / 'freshness.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
