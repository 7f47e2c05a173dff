"""python -m analytics run|rebuild|replay|generate|status

  run        consume every topic of the bus into the event store, projections kept live (the service)
  rebuild    recompute the facts and every projection from the event store
  replay     read the bus from its first offsets into the store (ids already stored are skipped), then rebuild
  generate   append a synthetic data set (analytics.synthetic) to the store, then rebuild: for dashboards
             and benchmarks on a machine with no traffic (--events, --days, --tenants, --seed)
  status     how many events the store holds, the newest, and when the projections were last rebuilt

Kafka or PostgreSQL down: `run` waits with backoff and says once that a dependency is down and once that it
is back (fitmint.consumer).
"""

import argparse
import asyncio
import logging
import signal
import sys
from datetime import date

from prometheus_client import start_http_server

from analytics import rebuild, store, synthetic
from analytics.service import AnalyticsConsumer
from analytics.settings import Settings
from fitmint import events as ev
from fitmint import telemetry
from fitmint.resilience import quiet_library_retries

log = logging.getLogger("analytics")


async def run(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if settings.analytics_metrics_port:
        start_http_server(settings.analytics_metrics_port, addr=settings.analytics_metrics_host)
    pool = await store.connect(settings, min_size=1, max_size=2)
    try:
        if await store.needs_rebuild(pool):
            log.info("the store's events have no facts (a new schema version?): rebuilding first")
            await rebuild.from_store(pool)
        await AnalyticsConsumer(pool, settings).run(stop)
    finally:
        await pool.close()
    return 0


async def command(args, settings: Settings) -> int:
    pool = await store.connect(settings, min_size=1, max_size=2)
    try:
        if args.command == "rebuild":
            await rebuild.from_store(pool)
        elif args.command == "replay":
            topics = [settings.kafka_topic_prefix + t for t in ev.ALL_TOPICS]
            stored = await rebuild.replay_kafka(pool, settings.bootstrap, topics)
            log.info("replay: %d events new to the store", stored)
            await rebuild.from_store(pool)
        elif args.command == "generate":
            plan = synthetic.Plan(events=args.events, days=args.days, tenants=args.tenants, seed=args.seed,
                                  last_day=args.last_day or settings.now().date())
            stored = await synthetic.load(pool, plan, progress=log.info)
            log.info("generate: %d events appended (%s)", stored, plan.describe())
            await rebuild.from_store(pool)
        else:
            state = await pool.fetchrow("SELECT applied_events, last_applied_at, rebuilt_at FROM store_state")
            events = await pool.fetchrow("SELECT count(*) AS n, max(time) AS newest FROM events")
            print(f"events: {events['n']:,} (newest {events['newest']}); applied live: {state['applied_events']:,} "
                  f"(last {state['last_applied_at']}); last rebuild: {state['rebuilt_at']}")
    finally:
        await pool.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", default="run",
                        choices=["run", "rebuild", "replay", "generate", "status"])
    parser.add_argument("--events", type=int, default=100_000, help="generate: about how many events")
    parser.add_argument("--days", type=int, default=90, help="generate: over how many days")
    parser.add_argument("--tenants", type=int, default=3, help="generate: how many tenants")
    parser.add_argument("--seed", type=int, default=17, help="generate: the random seed")
    parser.add_argument("--last-day", type=date.fromisoformat, default=None,
                        help="generate: the last day of the data (default: today)")
    args = parser.parse_args()
    telemetry.setup("analytics") if args.command == "run" else logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_library_retries()
    settings = Settings()
    settings.refuse_exposed_secrets("analytics")
    if args.command == "run":
        return asyncio.run(run(settings))
    return asyncio.run(command(args, settings))


if __name__ == "__main__":
    sys.exit(main())
