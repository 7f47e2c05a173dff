"""Schema migrations before a rollout: what the Helm chart's pre-install/pre-upgrade hook Job runs
(deploy/helm/fitmint/templates/migrations.yaml), so a failed migration stops the upgrade before any pod of the
new version starts.

  python -m ops.migrate [--backend] [--analytics] [--indexer]

Each step is the one the process itself runs at start, serialised on the same PostgreSQL lock, so the hook
and a starting replica never race:
  --backend    Alembic, up to head, on the API's database (backend.app.core.db.migrate; the API and the worker
               also run it at start; the transaction queue's tables are among them)
  --analytics  the event store's schema (analytics.store.connect, which analytics runs at start)
  --indexer    the indexer's schema (indexer.schema.connect; the writer also runs it once it holds the writer
               lock). Off in the chart by default: migrating ahead of the new writer changes the schema under
               the old one, which keeps writing until it stops.
"""

import argparse
import asyncio
import logging
import sys

from analytics import store
from analytics.settings import Settings as AnalyticsSettings
from backend.app.core.config import get_settings
from backend.app.core.db import migrate
from indexer import schema
from indexer.settings import Settings as IndexerSettings

log = logging.getLogger("migrate")


def migrate_backend() -> None:
    migrate(get_settings())


async def migrate_analytics() -> None:
    pool = await store.connect(AnalyticsSettings(), min_size=1, max_size=1)
    await pool.close()


async def migrate_indexer() -> None:
    pool = await schema.connect(IndexerSettings())
    await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.migrate", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="store_true", help="the API's database (Alembic)")
    parser.add_argument("--analytics", action="store_true", help="the analytics event store")
    parser.add_argument("--indexer", action="store_true", help="the indexer's database")
    args = parser.parse_args(argv)
    if not (args.backend or args.analytics or args.indexer):
        parser.error("name at least one of --backend, --analytics, --indexer")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    steps = [("backend", args.backend, migrate_backend),
             ("analytics", args.analytics, lambda: asyncio.run(migrate_analytics())),
             ("indexer", args.indexer, lambda: asyncio.run(migrate_indexer()))]
    for name, wanted, step in steps:
        if wanted:
            log.info("migrating the %s schema", name)
            step()
            log.info("the %s schema is current", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
