"""Helpers for tests that drive the API: its settings on the stack's servers with a test's own database
(databases.create_database), queries on that database, and plausible workouts."""

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from backend.app.core.config import Settings
from backend.app.core.db import dsn
from tests.support import testclock
from tests.support.opa import shared_opa_url


def api_settings(stack: dict, state_dir: Path, backend_database: str, **overrides) -> Settings:
    """The API's and the worker's settings on the stack's servers, with the test's database, and consumer
    groups of its own (a group shared with another test's worker would share out its partitions)."""
    run = uuid.uuid4().hex[:8]
    values = dict(fitmint_state_dir=state_dir, redis_port=int(stack["REDIS_PORT"]),
                  notifications_consumer_group=f"test-notifications-{run}",
                  deliveries_consumer_group=f"test-deliveries-{run}", email_consumer_group=f"test-email-{run}",
                  postgres_port=int(stack["POSTGRES_PORT"]),
                  postgres_password_file=Path(stack["FITMINT_STATE_DIR"]) / "secrets" / "postgres-password",
                  backend_database=backend_database,
                  kafka_port=int(stack["KAFKA_PORT"]), relay_enabled=False, rate_limit_auth=100_000,
                  rate_limit_account=100_000, clock_offset_seconds=testclock.pin(),
                  # Public reads: a window of another length than `make up`'s API (60 s) counts in other Redis
                  # keys, so these processes' reads from 127.0.0.1 never spend that API's budget.
                  rate_limit_public=100_000, rate_limit_public_window_seconds=3600,
                  worker_metrics_port=0,  # the stack's worker has the default port
                  opa_url=overrides.get("opa_url") or shared_opa_url())
    return Settings(**{**values, **overrides})


def db(settings: Settings, query: str, *args):
    async def run():
        connection = await asyncpg.connect(dsn(settings, settings.backend_database))
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()

    return asyncio.run(run())


def a_run(hours_ago: float = 3, minutes: int = 30, km: float = 5.0, *, end: datetime | None = None,
          **fields) -> dict:
    """A plausible run that ended `hours_ago` hours ago on the test's clock, or at `end` (10 km/h, ~1.1 m
    per step)."""
    end = end or testclock.now() - timedelta(hours=hours_ago)
    start = end - timedelta(minutes=minutes)
    body = {"activity": "run", "started_at": start.isoformat(), "ended_at": end.isoformat(),
            "distance_m": km * 1000, "steps": int(km * 1000 / 1.1), "calories": 60.0 * km,
            "avg_heart_rate": 150, "max_heart_rate": 178}
    return body | fields
