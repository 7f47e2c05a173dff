"""python -m indexer run|backfill|relay

  run       index and follow the head, and publish the outbox to Kafka (the default)
  backfill  index up to the current head (or --until BLOCK) and exit
  relay     only publish the outbox to Kafka
  reset     drop the indexed data (rebuilt from the chain on the next run)
"""

import argparse
import asyncio
import logging
import signal
import sys

from prometheus_client import start_http_server

from indexer.manifest import Manifest, ManifestError
from indexer.relay import Relay
from indexer.rpc import Rpc
from indexer.settings import Settings
from indexer.store import SchemaMismatchError, connect, drop_everything, drop_if_other_deployment
from indexer.sync import ChainSync, DeepReorgError


async def main(command: str, until: int | None) -> int:
    settings = Settings()
    if command == "reset":
        await drop_everything(settings)
        logging.info("dropped the indexer's tables in %s", settings.indexer_database)
        return 0
    rpc = Rpc(settings.fitmint_rpc_url)
    try:
        chain_id = await rpc.chain_id()
        manifest = Manifest.load(settings.manifest_path(chain_id))
    except ManifestError as exc:
        logging.error("%s", exc)
        return 2
    except OSError as exc:
        logging.error("cannot reach the chain at %s: %s", settings.fitmint_rpc_url, exc)
        return 2
    if await drop_if_other_deployment(settings, manifest.deploy_block, manifest.deploy_block_hash):
        logging.warning("%s was indexed from another deployment (the chain was reset): dropped it; indexing "
                        "the deployment of block %d again", settings.indexer_database, manifest.deploy_block)
    if settings.indexer_metrics_port:
        start_http_server(settings.indexer_metrics_port, addr=settings.indexer_metrics_host)
    try:
        pool = await connect(settings)
    except SchemaMismatchError as exc:
        logging.error("%s", exc)
        await rpc.close()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        sync = ChainSync(settings=settings, rpc=rpc, pool=pool, manifest=manifest)
        relay = Relay(pool=pool, bootstrap=settings.bootstrap, chain_id=chain_id, batch_size=settings.relay_batch,
                      topic_prefix=settings.kafka_topic_prefix)
        if command == "backfill":
            await sync.run(until_block=until if until is not None else await rpc.block_number(), stop=stop)
        elif command == "relay":
            await relay.run(stop)
        else:
            await asyncio.gather(sync.run(stop=stop), relay.run(stop, wake=sync.written))
        return 0
    except DeepReorgError as exc:
        logging.critical("%s", exc)
        return 3
    finally:
        await pool.close()
        await rpc.close()


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m indexer", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="run", choices=("run", "backfill", "relay", "reset"))
    parser.add_argument("--until", type=int, default=None, help="backfill: stop at this block")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return asyncio.run(main(args.command, args.until))


if __name__ == "__main__":
    sys.exit(cli())
