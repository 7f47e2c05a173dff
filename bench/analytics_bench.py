"""Analytics benchmark (`make bench`, issue 17 "Measured"), in a store of the bench's own (a private
database on the stack's PostgreSQL, topics of its own on the stack's Kafka):

1. Rebuild: the synthetic platform (analytics.synthetic: 5 tenants over 90 days) up to `--events` events
   (1,000,000) appended to the store, then every projection rebuilt from it: wall time; peak memory of
   this process and of the PostgreSQL backend that ran the rebuild (VmHWM: its private memory and the
   shared buffers it touched).
2. Dashboard queries: each `GET /analytics/...` query (backend.app.analytics.queries) over that store, for
   a tenant and for all tenants, over 30 and 90 days: p50/p99 of `--queries` runs each.
3. Freshness: the analytics consumer (in this process, as `python -m analytics run` runs it) over that
   store while events of 3 new tenants are published at `--rate` events/s for `--seconds`: from each
   record's Kafka timestamp to the commit of the batch that brought its projections up to date, p50/p99.

    python -m bench.analytics_bench [--events 1000000] [--rate 200] [--seconds 30] [--out reports]

Writes <out>/analytics.md and <out>/analytics.json.
"""

import argparse
import asyncio
import json
import platform
import resource
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

from analytics import rebuild, synthetic
from analytics.service import AnalyticsConsumer
from fitmint import events as ev
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.analyticsstore import PrivateStores, analytics_settings

TARGETS = {"rebuild_seconds": 60, "query_p99_ms": 100, "freshness_p99_s": 1.0}
LAST_DAY = date(2026, 11, 30)


def log(message: str):
    print(f"[bench] {message}", flush=True)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def backend_peak_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None  # PostgreSQL runs as another user, or elsewhere
    return None


async def measure_rebuild(stores, settings, events: int) -> tuple[object, dict]:
    pool = await stores.new(settings, min_size=1, max_size=1)
    plan = synthetic.Plan(events=events, days=90, tenants=5, seed=17, last_day=LAST_DAY)
    started = time.perf_counter()
    stored = await synthetic.load(pool, plan, progress=lambda m: log(m) if m.endswith("00,000 events stored") else None)
    load_seconds = time.perf_counter() - started
    log(f"loaded {stored:,} events in {load_seconds:.0f} s ({plan.describe()})")
    pid = await pool.fetchval("SELECT pg_backend_pid()")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rebuilt = await rebuild.from_store(pool, progress=log)
    result = {
        "plan": plan.describe(), "events": rebuilt.events, "facts": rebuilt.facts, "reverted": rebuilt.reverted,
        "load_seconds": round(load_seconds, 1), "rebuild_seconds": round(rebuilt.seconds, 2),
        "bench_process_peak_mib": round(max(rss_before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024),
        "postgres_backend_peak_mib": (None if (kib := await backend_peak_kib(pid)) is None else round(kib / 1024)),
        "store_mib": round(await pool.fetchval("SELECT pg_database_size(current_database())") / 2**20),
        "rows": {table: await pool.fetchval(f"SELECT count(*) FROM {table}")
                 for table in ("events", "facts", "member_days", "activity_days", "member_milestones",
                               "retention_weeks")},
    }
    await pool.close()
    return result


async def measure_queries(stores, settings, runs: int) -> dict:
    from backend.app.analytics import queries  # the API's queries, as the endpoints run them

    pool = await stores.connect_last(settings)
    tenant = str(await pool.fetchval("SELECT tenant_id FROM member_milestones ORDER BY tenant_id LIMIT 1"))
    timings = {}
    try:
        for name, run in queries.BENCHMARKED.items():
            for scope, tenants in (("tenant", [tenant]), ("all", None)):
                for days in (30, 90):
                    period = (LAST_DAY - timedelta(days=days - 1), LAST_DAY)
                    samples = []
                    for _ in range(runs):
                        started = time.perf_counter()
                        async with pool.acquire() as connection:
                            await run(connection, tenants, *period)
                        samples.append((time.perf_counter() - started) * 1000)
                    timings[f"{name} {scope} {days}d"] = {"p50_ms": round(statistics.median(samples), 2),
                                                          "p99_ms": round(quantile(samples, 0.99), 2)}
    finally:
        await pool.close()
    return timings


async def measure_freshness(stores, settings, rate: int, seconds: int, seed: int = 99) -> dict:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    settings = settings.model_copy(update={"kafka_topic_prefix": prefix, "analytics_batch_size": 500})
    await ensure_topics(settings.bootstrap, [prefix + t for t in ev.ALL_TOPICS], 3)
    pool = await stores.connect_last(settings, min_size=1, max_size=2)
    latencies: list[float] = []
    applied_batches: list[int] = []

    def on_applied(applied, records, committed_at):
        new = {event.id for event in applied.stored}
        applied_batches.append(len(new))
        latencies.extend(committed_at - r.timestamp / 1000 for r in records
                         if ev.parse(r.value).id in new)

    stop = asyncio.Event()
    consumer = asyncio.create_task(AnalyticsConsumer(pool, settings, on_applied=on_applied).run(stop))
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    await producer.start()
    plan = synthetic.Plan(events=rate * seconds, days=3, tenants=3, seed=seed, last_day=LAST_DAY)
    published = 0
    try:
        # The group's first assignment (Kafka's initial rebalance delay) is not freshness: a probe event
        # first, measured from once it is applied.
        # Sent to every partition (stored once: one event id), so each has its leader and the producer
        # its metadata before the clock starts.
        probe = next(synthetic.generate(synthetic.Plan(events=1, days=1, tenants=1, seed=98, last_day=LAST_DAY)))
        for topic in ev.ALL_TOPICS:
            for partition in await producer.partitions_for(prefix + topic):
                await producer.send_and_wait(prefix + topic, probe.value, partition=partition)
        deadline = time.monotonic() + 60
        while not applied_batches and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        latencies.clear()
        applied_batches.clear()
        started = time.perf_counter()
        for event in synthetic.generate(plan):
            await producer.send(prefix + event.topic, event.value, key=event.key.encode())
            published += 1
            ahead = published / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await producer.flush()
        deadline = time.monotonic() + 60
        while len(latencies) < published and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
        stop.set()
        await consumer
        await pool.close()
        await delete_topics_with_prefix(settings.bootstrap, prefix)
    return {"published": published, "rate_per_s": rate, "seconds": seconds, "applied": len(latencies),
            "batches": len(applied_batches), "p50_s": round(quantile(latencies, 0.5), 3),
            "p99_s": round(quantile(latencies, 0.99), 3), "max_s": round(max(latencies), 3)}


def report(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "analytics.json").write_text(json.dumps(result, indent=2) + "\n")
    r, f = result["rebuild"], result["freshness"]
    lines = [
        "# Analytics benchmark", "",
        f"{result['when']} on {result['machine']}; `python -m bench.analytics_bench` (issue 17, Measured).", "",
        "## Rebuild of every projection from the event store", "",
        f"Data: {r['events']:,} events of the synthetic platform ({r['plan']}), {r['facts']:,} facts "
        f"({r['reverted']:,} undone by a reorganisation); store {r['store_mib']} MiB.", "",
        "| measure | value | target |", "|---|---|---|",
        f"| rebuild wall time | {r['rebuild_seconds']} s | < {TARGETS['rebuild_seconds']} s |",
        f"| peak memory, PostgreSQL backend (VmHWM) | {r['postgres_backend_peak_mib']} MiB | |",
        f"| peak memory, rebuilding process | {r['bench_process_peak_mib']} MiB | |",
        f"| loading the events (generator + append) | {r['load_seconds']} s | |", "",
        "Rows after the rebuild: " + ", ".join(f"{t} {n:,}" for t, n in r["rows"].items()) + ".", "",
        "## Dashboard queries over that store", "",
        f"{result['query_runs']} runs of each; `tenant`: one tenant's, `all`: a platform admin's view.", "",
        "| query | p50 ms | p99 ms |", "|---|---|---|",
        *[f"| {name} | {t['p50_ms']} | {t['p99_ms']} |" for name, t in result["queries"].items()], "",
        f"Worst p99: {result['query_worst_p99_ms']} ms (target < {TARGETS['query_p99_ms']} ms).", "",
        "## Freshness: an event on Kafka to its projections", "",
        f"{f['published']:,} events published at {f['rate_per_s']}/s for {f['seconds']} s while the store holds "
        f"the data above; {f['applied']:,} applied in {f['batches']} batches.", "",
        "| p50 | p99 | max | target p99 |", "|---|---|---|---|",
        f"| {f['p50_s']} s | {f['p99_s']} s | {f['max_s']} s | < {TARGETS['freshness_p99_s']} s |", "",
    ]
    (out / "analytics.md").write_text("\n".join(lines))


async def main(args) -> dict:
    settings = analytics_settings()
    stores = PrivateStores()
    try:
        result = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                  "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs",
                  "targets": TARGETS, "query_runs": args.queries}
        result["rebuild"] = await measure_rebuild(stores, settings, args.events)
        result["queries"] = await measure_queries(stores, settings, args.queries)
        result["query_worst_p99_ms"] = max(t["p99_ms"] for t in result["queries"].values())
        result["freshness"] = await measure_freshness(stores, settings, args.rate, args.seconds)
        return result
    finally:
        await stores.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("reports"))
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    report(outcome, arguments.out)
    log(f"wrote {arguments.out}/analytics.md")
