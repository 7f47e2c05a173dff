"""Alembic environment: migrations are plain SQL run through asyncpg, one transaction each run,
under an advisory lock so two API replicas starting together do not both migrate."""

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATION_LOCK = 0x666D6D67  # any constant: pg_advisory_xact_lock key for "fitmint migrations"


def url() -> str:
    configured = context.config.attributes.get("url")
    if configured:
        return configured
    from backend.app.core.config import get_settings  # `alembic -c backend/alembic.ini upgrade head`
    from backend.app.core.db import dsn
    settings = get_settings()
    return dsn(settings, settings.backend_database, "postgresql+asyncpg")


def run(connection) -> None:
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def main() -> None:
    engine = create_async_engine(url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against the database")
asyncio.run(main())
