"""Indexer benchmark (`make bench`): backfill events/s into PostgreSQL + outbox, outbox -> Kafka events/s,
and head latency (block mined -> event readable on Kafka), on the local stack's PostgreSQL and Kafka
with a private Anvil.

    python -m bench.indexer_bench [--events 200000] [--out reports]

Writes <out>/indexer.md and <out>/indexer.json.
"""

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from eth_abi import encode as abi_encode
from eth_utils import keccak

from fitmint import events as ev
from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import Rpc
from fitmint.outbox.relay import Relay
from indexer.schema import connect
from indexer.settings import Settings
from indexer.sync import ChainSync
from tests.support.indexer_targets import create_targets, drop_targets
from tests.support.paths import ROOT
from tests.support.scenario import ScenarioChain
from tests.support.units import FIT

SPRAY_PER_TX = 200
CLAIMS_PER_TX = 100
RECIPIENTS = 20_000


def compiled(name: str) -> dict:
    """ABI and bytecode of a contract from Ape's compiled artifacts."""
    contract_type = json.loads((ROOT / ".build" / "__local__.json").read_text())["contractTypes"][name]
    return {"abi": contract_type["abi"], "bytecode": contract_type["deploymentBytecode"]["bytecode"]}


def log(message: str):
    print(f"[bench] {message}", flush=True)


def generate(chain: ScenarioChain, target_events: int) -> dict:
    """Claims (each a RewardClaimed + a mint Transfer, both published) and token sprays (Transfers).

    Transactions go out as raw calldata with fixed gas and no receipt waits: web3's ABI encoding and
    gas estimation would take longer than Anvil takes to mine them."""
    artifact = compiled("TransferSpray")
    spray_contract = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = chain.w3.eth.wait_for_transaction_receipt(spray_contract.constructor().transact({"from": chain.admin}))
    spray = receipt.contractAddress
    chain.claim(spray, 100 * FIT)

    claim_batch = keccak(text="claimBatch((address,uint256,bytes32,uint256,uint256)[],bytes[])")[:4]
    spray_call = keccak(text="spray(address,address,uint256,uint256)")[:4]
    claim_events = target_events // 8 // CLAIMS_PER_TX * CLAIMS_PER_TX * 2
    started = time.monotonic()
    users = chain.accounts[1:10]
    last = None
    for i in range(claim_events // 2 // CLAIMS_PER_TX):
        signed = [chain.voucher(users[(i + j) % len(users)], 1) for j in range(CLAIMS_PER_TX)]
        data = claim_batch + abi_encode(["(address,uint256,bytes32,uint256,uint256)[]", "bytes[]"],
                                        [[v for v, _ in signed], [s for _, s in signed]])
        last = chain.send_fast(chain.rewards.address, data, chain.accounts[9], 150_000 * CLAIMS_PER_TX)
        if i % 50 == 0:
            log(f"claims: {i * CLAIMS_PER_TX * 2:,}/{claim_events:,} events")
    spray_txs = max(0, (target_events - claim_events) // SPRAY_PER_TX)
    base = int("0x" + "b" * 8 + "0" * 32, 16)
    for i in range(spray_txs):
        first = "0x" + hex(base + (i * SPRAY_PER_TX) % RECIPIENTS)[2:].rjust(40, "0")
        data = spray_call + abi_encode(["address", "address", "uint256", "uint256"],
                                       [chain.token.address, first, SPRAY_PER_TX, 1])
        last = chain.send_fast(spray, data, chain.admin, 40_000 * SPRAY_PER_TX)
        if i % 200 == 0:
            log(f"sprays: {i * SPRAY_PER_TX:,}/{spray_txs * SPRAY_PER_TX:,} transfers")
    if last is not None:
        receipt = chain.w3.eth.wait_for_transaction_receipt(last, timeout=600)
        assert receipt.status == 1, "the last generated transaction reverted"
    return {"claim_events": claim_events, "spray_events": spray_txs * SPRAY_PER_TX,
            "blocks": chain.head(), "seconds": round(time.monotonic() - started, 1)}


async def measure(chain: ScenarioChain, settings: Settings, latency_samples: int) -> dict:
    rpc = Rpc(settings.fitmint_rpc_url)
    pool = await connect(settings)
    results = {}
    try:
        manifest = Manifest.load(settings.manifest_path())
        sync = ChainSync(settings=settings, rpc=rpc, pool=pool, manifest=manifest)
        head = await rpc.block_number()
        log(f"backfill of {head:,} blocks")
        started = time.perf_counter()
        await sync.run(until_block=head)
        seconds = time.perf_counter() - started
        async with pool.acquire() as connection:
            events = await connection.fetchval("SELECT count(*) FROM events")
            outbox = await connection.fetchval("SELECT count(*) FROM outbox")
        results["backfill"] = {"events": events, "outbox_rows": outbox, "blocks": head, "seconds": round(seconds, 2),
                               "events_per_s": round(events / seconds)}
        log(f"backfill: {events:,} events in {seconds:.1f}s = {events / seconds:,.0f} events/s")

        relay = Relay(pool=pool, bootstrap=settings.bootstrap, chain_id=manifest.chain_id,
                      batch_size=settings.relay_batch, topic_prefix=settings.kafka_topic_prefix)
        await relay._connect()
        started = time.perf_counter()
        published = 0
        while (count := await relay.publish_once()) > 0:
            published += count
        seconds = time.perf_counter() - started
        await relay._disconnect()
        results["relay"] = {"events": published, "seconds": round(seconds, 2),
                            "events_per_s": round(published / seconds)}
        log(f"relay: {published:,} events in {seconds:.1f}s = {published / seconds:,.0f} events/s")

        results["head_latency"] = await head_latency(chain, settings, sync, pool, manifest, latency_samples)
    finally:
        await pool.close()
        await rpc.close()
    return results


async def head_latency(chain, settings, sync, pool, manifest, samples: int) -> dict:
    """Mine one claim at a time; time from its receipt to its TokenMinted event on Kafka."""
    stop = asyncio.Event()
    relay = Relay(pool=pool, bootstrap=settings.bootstrap, chain_id=manifest.chain_id,
                  batch_size=settings.relay_batch, topic_prefix=settings.kafka_topic_prefix)
    consumer = AIOKafkaConsumer(settings.kafka_topic_prefix + ev.TOKEN_MINTED.topic,
                                bootstrap_servers=settings.bootstrap,
                                isolation_level="read_committed", auto_offset_reset="latest",
                                group_id=f"bench-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    tasks = [asyncio.create_task(sync.run(stop=stop)), asyncio.create_task(relay.run(stop, idle_sleep=0.01))]
    latencies = []
    try:
        await asyncio.sleep(2)  # consumer assignment, relay connection
        await consumer.getmany(timeout_ms=500)
        for i in range(samples):
            voucher, signature = chain.voucher(chain.accounts[1 + i % 9], 1)
            # Anvil mines on arrival: when eth_sendTransaction returns, the block exists.
            sent = chain.rewards.functions.claim(voucher, signature).transact({"from": chain.accounts[9]})
            mined = time.perf_counter()
            tx_hash = sent.to_0x_hex()
            found = False
            while not found:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                for records in batch.values():
                    for record in records:
                        if orjson.loads(record.value)["data"]["txHash"] == tx_hash:
                            found = True
                if time.perf_counter() - mined > 30:
                    raise TimeoutError(f"event of {tx_hash} never reached Kafka")
            latencies.append((time.perf_counter() - mined) * 1000)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await consumer.stop()
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    result = {"samples": len(latencies), "p50_ms": round(quantile(0.5), 1), "p99_ms": round(quantile(0.99), 1),
              "max_ms": round(latencies[-1], 1), "mean_ms": round(statistics.mean(latencies), 1),
              "poll_interval_s": settings.poll_interval}
    log(f"head latency: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms over {len(latencies)} blocks")
    return result


def write_report(out: Path, generation: dict, results: dict):
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "cpus": __import__("os").cpu_count()}
    (out / "indexer.json").write_text(json.dumps({"meta": meta, "chain": generation, **results}, indent=2) + "\n")
    b, r, h = results["backfill"], results["relay"], results["head_latency"]
    lines = [
        "# Indexer benchmark",
        "",
        f"Generated {meta['generated_at']} by `make bench` ({meta['cpus']} cores; Anvil, PostgreSQL, Kafka and the",
        "indexer all on this machine).",
        "",
        f"Chain: {generation['blocks']:,} blocks, {generation['claim_events']:,} claim events (RewardClaimed + mint",
        f"Transfer) and {generation['spray_events']:,} FIT Transfers to {RECIPIENTS:,} accounts; generated in "
        f"{generation['seconds']}s.",
        "",
        "| measure | result | target |",
        "|---|---:|---:|",
        f"| backfill into PostgreSQL + outbox | {b['events_per_s']:,} events/s ({b['events']:,} events, "
        f"{b['seconds']} s) | >= 30,000 events/s |",
        f"| outbox -> Kafka (transactional) | {r['events_per_s']:,} events/s ({r['events']:,} events, "
        f"{r['seconds']} s) | |",
        f"| head latency p50 (block mined -> event on Kafka) | {h['p50_ms']} ms | |",
        f"| head latency p99 | {h['p99_ms']} ms ({h['samples']} blocks, max {h['max_ms']} ms) | < 250 ms |",
    ]
    (out / "indexer.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    if args.events < 1_000:
        parser.error("--events must be at least 1000")

    base = Settings()
    admin_dsn = base.postgres()
    with tempfile.TemporaryDirectory() as state:
        chain = ScenarioChain(Path(state) / "state", gas_limit=1_000_000_000, prune_history=True)
        try:
            log(f"generating a chain with ~{args.events:,} events")
            generation = generate(chain, args.events)
            settings = base.model_copy(update={
                "fitmint_rpc_url": chain.url, "manifest": chain.manifest_path,
                "indexer_database": f"bench_indexer_{uuid.uuid4().hex[:8]}",
                "kafka_topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
            asyncio.run(create_targets(settings, admin_dsn))
            try:
                results = asyncio.run(measure(chain, settings, args.latency_samples))
            finally:
                asyncio.run(drop_targets(settings, admin_dsn))
        finally:
            chain.stop()
    write_report(args.out, generation, results)
    log(f"report: {args.out / 'indexer.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
