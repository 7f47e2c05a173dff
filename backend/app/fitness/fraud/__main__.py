"""Operator commands for the anti-cheat model, on the API's database (settings from the environment):

  python -m backend.app.fitness.fraud train [--seed N] [--members M] [--days D]
  python -m backend.app.fitness.fraud versions
  python -m backend.app.fitness.fraud activate VERSION

`train` trains, evaluates and stores a new version, activated unless it is worse than the active one (as the
worker's weekly job does; default seed: this ISO week's); `activate` makes any stored version the active one
(a rollback). API processes pick the active version up within `FRAUD_MODEL_REFRESH_SECONDS`.
"""

import argparse
import asyncio
import logging
import sys
from contextlib import asynccontextmanager

from backend.app.core.config import get_settings
from backend.app.core.db import create_pool, migrate_async
from backend.app.fitness.fraud import versions
from backend.app.fitness.fraud.training import retrain, week_of


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.3f}"


@asynccontextmanager
async def _database():
    """The settings and a pool on the API's database, migrated (idempotent)."""
    settings = get_settings()
    await migrate_async(settings)
    pool = await create_pool(settings, settings.backend_database, min_size=1, max_size=2)
    try:
        yield settings, pool
    finally:
        await pool.close()


async def _train(args) -> int:
    async with _database() as (settings, pool):
        now = settings.now()
        outcome = await retrain(pool, seed=week_of(now)[1] if args.seed is None else args.seed,
                                members=args.members or settings.fraud_train_members,
                                days=args.days or settings.fraud_train_days, now=now)
    accepted = outcome.metrics["on_rule_accepted"]
    print(f"version {outcome.version} ({outcome.seconds} s): {outcome.decision}")
    print(f"held-out, rule-accepted workouts: ROC AUC {_ratio(accepted['roc_auc'])}, recall at 95% precision "
          f"{_ratio(accepted['recall_at_95_precision'])}, at the threshold {outcome.metrics['threshold']:.3f}: "
          f"precision {_ratio(accepted['precision'])}, recall {_ratio(accepted['recall'])}")
    return 0


async def _versions(args) -> int:
    async with _database() as (_, pool):
        rows = await versions.listing(pool)
    print(f"{'version':>7}  {'active':6}  {'trained at (UTC)':16}  {'AUC':>6}  {'R@95P':>6}  decision")
    for row in rows:
        accepted = row["metrics"]["on_rule_accepted"]
        print(f"{row['version']:>7}  {'yes' if row['active'] else '':6}  {row['trained_at']:%Y-%m-%d %H:%M}  "
              f"{_ratio(accepted['roc_auc']):>6}  {_ratio(accepted['recall_at_95_precision']):>6}  {row['decision']}")
    return 0


async def _activate(args) -> int:
    async with _database() as (_, pool), pool.acquire() as connection:
        try:
            await versions.activate_version(connection, args.version)
        except versions.UnknownVersion as exc:
            print(f"fraud: {exc}", file=sys.stderr)
            return 1
    print(f"version {args.version} is active")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.app.fitness.fraud", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train, evaluate, store (and activate unless worse) a new version")
    train.add_argument("--seed", type=int, help="the simulator's seed (default: this ISO week's)")
    train.add_argument("--members", type=_positive, help="simulated members (default: FRAUD_TRAIN_MEMBERS)")
    train.add_argument("--days", type=_positive, help="simulated days (default: FRAUD_TRAIN_DAYS)")
    commands.add_parser("versions", help="every stored version with its held-out metrics")
    activate = commands.add_parser("activate", help="make a stored version the active one")
    activate.add_argument("version", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command = {"train": _train, "versions": _versions, "activate": _activate}[args.command]
    return asyncio.run(command(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
