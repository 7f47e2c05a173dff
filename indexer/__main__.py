"""python -m indexer run|backfill|relay

  run       index and follow the head, and publish the outbox to Kafka (the default)
  backfill  index up to the current head (or --until BLOCK) and exit
  relay     only publish the outbox to Kafka
  reset     drop the indexed data (rebuilt from the chain on the next run)

Outages of the node, PostgreSQL or Kafka are ridden out (fitmint.resilience): the indexer waits with
backoff, says once that a dependency is down and once that it is back, and resumes from its cursor. Only
one indexer writes a database (indexer.writer): a second one waits for the first to stop.
"""

import argparse
import asyncio
import gc
import logging
import signal
import sys

from prometheus_client import start_http_server

from fitmint import telemetry
from fitmint.chain.heads import HeadSubscription
from fitmint.chain.manifest import Manifest, ManifestError
from fitmint.chain.rpc import Rpc
from fitmint.outbox.relay import Relay
from fitmint.resilience import Retrier, quiet_library_retries
from indexer.cursor import CursorMovedError
from indexer.schema import SchemaMismatchError, connect, drop_everything, drop_if_other_deployment, record_deployment
from indexer.settings import Settings
from indexer.sync import ChainSync, DeepReorgError
from indexer.writer import WriterLock, WriterLost

log = logging.getLogger("indexer")


async def main(command: str, until: int | None) -> int:
    settings = Settings()
    if command == "reset":
        await drop_everything(settings)
        log.info("dropped the indexer's tables in %s", settings.indexer_database)
        return 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if settings.indexer_metrics_port:
        start_http_server(settings.indexer_metrics_port, addr=settings.indexer_metrics_host)
    rpc = Rpc(settings.fitmint_rpc_url, timeout=settings.rpc_timeout_seconds)
    startup = Retrier("indexer", ("rpc", "postgres"), log=log)
    writer = WriterLock(settings, startup)
    pool = None
    heads = None
    try:
        chain_id = await startup.run(rpc.chain_id, stop)
        if chain_id is None:
            return 0
        manifest = Manifest.load(settings.manifest_path(chain_id))
        if command != "relay" and not await writer.acquire(stop):
            return 0
        if await startup.run(lambda: drop_if_other_deployment(settings, manifest), stop):
            log.warning("%s was indexed from another deployment (the chain was reset, or the contracts deployed "
                        "again): dropped it; indexing the deployment of block %d", settings.indexer_database,
                        manifest.deploy_block)
        pool = await startup.run(lambda: connect(settings), stop)
        if pool is None:
            return 0
        if command != "relay":
            await startup.run(lambda: record_deployment(pool, manifest), stop)
        relay = Relay(pool=pool, bootstrap=settings.bootstrap, chain_id=chain_id, batch_size=settings.relay_batch,
                      topic_prefix=settings.kafka_topic_prefix)
        if command == "relay":
            await relay.run(stop)
            return 0
        if command == "run" and settings.head_subscription:
            heads = HeadSubscription(settings.head_url).start()
        sync = ChainSync(settings=settings, rpc=rpc, pool=pool, manifest=manifest,
                         health=Retrier("indexer.sync", ("rpc", "postgres"), log=log), writer=writer, heads=heads)
        if command == "backfill":
            target = until if until is not None else await startup.run(rpc.block_number, stop)
            await follow(sync, writer, stop, until_block=target)
        else:
            await asyncio.gather(follow(sync, writer, stop), relay.run(stop, wake=sync.written))
        return 0
    except ManifestError as exc:
        log.error("%s", exc)
        return 2
    except SchemaMismatchError as exc:
        log.error("%s", exc)
        return 2
    except DeepReorgError as exc:
        log.critical("%s", exc)
        return 3
    finally:
        if heads is not None:
            await heads.close()
        await writer.release()
        if pool is not None:
            await pool.close()
        await rpc.close()


async def follow(sync: ChainSync, writer: WriterLock, stop: asyncio.Event, until_block: int | None = None) -> None:
    """Runs the sync until `until_block` (or `stop`), again after every outage, from the stored cursor."""
    health = sync.health
    while not stop.is_set():
        try:
            await sync.run(until_block=until_block, stop=stop)
            return
        except (WriterLost, CursorMovedError) as exc:
            log.warning("%s: stopping writes until this process holds the writer lock again", exc)
            await writer.release()
            if not await writer.acquire(stop):
                return
        except Exception as exc:
            if health.classify(exc) is None:
                raise
            await health.failed(exc, stop)


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m indexer", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="run", choices=("run", "backfill", "relay", "reset"))
    parser.add_argument("--until", type=int, default=None, help="backfill: stop at this block")
    args = parser.parse_args()
    gc.freeze()  # what start-up made lives as long as the process: full collections need not scan it
    telemetry.setup("indexer")
    quiet_library_retries()
    Settings().refuse_exposed_secrets("indexer")
    return asyncio.run(main(args.command, args.until))


if __name__ == "__main__":
    sys.exit(cli())
