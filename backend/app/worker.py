"""The notifications worker: `python -m backend.app.worker`.

Runs, in one process:
- the consumer group `fitmint-notifications` (chain and API events -> notifications and their
  NotificationQueued events: consumer.py) and `fitmint-deliveries` (NotificationQueued -> deliveries,
  email batches and their EmailBatchReady events, the live WebSocket push: dispatch.py);
- unless `--no-senders`, what sends: the consumer group `fitmint-email` (EmailBatchReady -> SMTP:
  mailer.py), the SMS and DIDComm sends of the deliveries group, and the senders' loop (stale claims,
  email retries announced in new batches, due SMS and DIDComm: deliveries.py). A `--no-senders` worker
  still stores, dispatches and pushes; its SMS and DIDComm rows wait for a sending worker's loop;
- the scheduled jobs (only in the replica holding the scheduler's lock), the outbox relay (only in the
  process holding the relay's lock, this one or an API process) and the identity reconciler (only in
  the replica holding its lock: agent/controller/reconciler.py);
- the relayer's batcher (backend/app/relayer/batcher.py; every replica and API process, sharing the
  waiting relays out by row locks).
Any number of workers may run: Kafka shares each group's partitions among them. Stops cleanly on
SIGTERM/SIGINT.
"""

import argparse
import asyncio
import logging
import os
import signal

from prometheus_client import start_http_server
from redis.asyncio import Redis

from agent.controller.acapy import AcaPy
from agent.controller.reconciler import run_reconciler
from backend.app.core.background import pause
from backend.app.core.config import Settings, get_settings
from backend.app.core.db import create_pool, migrate_async
from backend.app.notifications import deliveries
from backend.app.notifications.consumer import NotificationConsumer
from backend.app.notifications.dispatch import DeliveriesConsumer
from backend.app.notifications.mailer import EmailConsumer
from backend.app.notifications.scheduler import Scheduler
from backend.app.notifications.sms import sms_provider
from backend.app.outbox_relay import run_relay
from backend.app.relayer.batcher import ClaimBatcher
from backend.app.relayer.chain import RelayerChain
from fitmint import telemetry
from fitmint.chain.gateway import ChainGateway
from fitmint.resilience import Retrier, quiet_library_retries

log = logging.getLogger("worker")


async def run(settings: Settings, *, scheduler: bool = True, senders: bool = True,
              stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    startup = Retrier("worker", ("postgres",), log=log)  # PostgreSQL down at start: wait for it
    pool = await startup.run(lambda: _connect(settings), stop)
    if pool is None:
        return
    redis = Redis(host=settings.redis_host, port=settings.redis_port, socket_timeout=10, socket_connect_timeout=5)
    agent = AcaPy(settings) if senders else None
    texts = sms_provider(settings) if senders else None
    consumer = NotificationConsumer(pool, settings)
    dispatcher = DeliveriesConsumer(pool, redis, settings, senders=senders, sms_provider=texts, agent=agent)
    tasks = [asyncio.create_task(consumer.run(stop), name="notifications"),
             asyncio.create_task(dispatcher.run(stop), name="deliveries"),
             asyncio.create_task(_heartbeat(redis, consumer, dispatcher, stop), name="heartbeat")]
    if settings.relay_enabled:
        tasks.append(asyncio.create_task(run_relay(pool, settings, stop), name="relay"))
    if senders:
        tasks.append(asyncio.create_task(EmailConsumer(pool, settings).run(stop), name="email"))
        tasks.append(asyncio.create_task(deliveries.run(pool, settings, stop, sms_provider=texts, agent=agent),
                                         name="senders"))
    relayer_chain = RelayerChain(ChainGateway.from_settings(settings, timeout=5))
    if settings.relayer_enabled:  # gathers relayed voucher claims into claimBatch transactions (row locks)
        tasks.append(asyncio.create_task(ClaimBatcher(pool, relayer_chain, settings).run(stop), name="relayer"))
    if settings.identity_reconciler_enabled:  # one replica reconciles (advisory lock)
        tasks.append(asyncio.create_task(run_reconciler(pool, settings, stop), name="identity-reconciler"))
    jobs = Scheduler(pool, settings) if scheduler else None
    if jobs is not None:
        await jobs.start()
    log.info("worker started (notifications, deliveries%s%s%s%s)", ", relay" if settings.relay_enabled else "",
             ", email and senders" if senders else "", ", scheduler" if scheduler else "",
             ", identity reconciler" if settings.identity_reconciler_enabled else "")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    try:
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        ended = [task for task in done if task is not stopping]
        if ended and not stop.is_set():
            # Every loop rides out outages on its own: one that ended is a bug. Exit non-zero, so the
            # supervisor restarts the whole process, rather than run on without it.
            task = ended[0]
            reason = repr(task.exception()) if not task.cancelled() and task.exception() else "returned"
            log.critical("worker task %s ended unexpectedly (%s): stopping the worker", task.get_name(), reason)
            stop.set()
            raise SystemExit(1)
    finally:
        stopping.cancel()
        if jobs is not None:
            await jobs.stop()
        for task in tasks:
            try:
                await asyncio.wait_for(task, 15)
            except Exception:  # noqa: BLE001 - shutting down
                task.cancel()
        if agent is not None:
            await agent.close()
        await relayer_chain.gateway.close()
        await redis.aclose()
        await pool.close()
        log.info("worker stopped")


async def _connect(settings: Settings):
    await migrate_async(settings)
    # Held for long: the relay's lock and its LISTEN, the reconciler's lock; and a connection at a time
    # for each consumer group, the relay and the senders' loop.
    return await create_pool(settings, settings.backend_database, min_size=1, max_size=12)


async def _heartbeat(redis, consumer: NotificationConsumer, dispatcher: DeliveriesConsumer,
                     stop: asyncio.Event) -> None:
    """`fitmint:worker:<pid>` while this process runs (what `make status` checks), with what it did."""
    key = f"fitmint:worker:{os.getpid()}"
    health = Retrier("worker.heartbeat", ("redis",), log=log)
    while not stop.is_set():
        try:
            await redis.set(key, f'{{"applied": {consumer.applied}, "dispatched": {dispatcher.applied}, '
                                 f'"pushed": {dispatcher.pushed}}}', ex=15)
            health.progressed()
        except Exception as exc:  # noqa: BLE001 - Redis down: status shows the worker unhealthy meanwhile
            if health.classify(exc) is None:
                log.warning("heartbeat: %r", exc)
            else:
                health.down("redis", exc)
        await pause(stop, 5)
    try:
        await redis.delete(key)
    except Exception:  # noqa: BLE001 - exiting: a key left behind expires by itself
        pass


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m backend.app.worker", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-scheduler", action="store_true", help="never run the scheduled jobs here")
    parser.add_argument("--no-senders", action="store_true",
                        help="send no email, SMS or DIDComm from this process (it does not join fitmint-email)")
    args = parser.parse_args()
    telemetry.setup("worker")  # JSON logs (apscheduler's and httpx's per-run lines quieted), traces
    quiet_library_retries()
    get_settings().refuse_exposed_secrets("worker")

    async def serve():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(get_settings(), scheduler=not args.no_scheduler, senders=not args.no_senders, stop=stop)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
