"""The API's PostgreSQL: connection pools and the schema migrations (Alembic, backend/migrations)."""

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import asyncpg
from alembic import command, op
from alembic.config import Config

from backend.app.core.config import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def dsn(settings: Settings, database: str, driver: str = "postgresql") -> str:
    return (f"{driver}://{settings.postgres_user}:{quote(settings.postgres_password(), safe='')}"
            f"@{settings.postgres_host}:{settings.postgres_port}/{database}")


def from_jsonb(value):
    """A jsonb column as Python (asyncpg hands jsonb over as text; None stays None)."""
    return json.loads(value) if isinstance(value, str) else value


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = dsn(settings, settings.backend_database, "postgresql+asyncpg")
    return config


def run_script(script: str) -> None:
    """A migration's SQL through Alembic, one statement per execute: asyncpg prepares each statement and
    cannot run several at once (statements end with ";" + newline, which none contains otherwise)."""
    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)


def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrades the backend database to `revision` (idempotent; concurrent callers serialise on a lock)."""
    command.upgrade(alembic_config(settings), revision)


async def migrate_async(settings: Settings) -> None:
    await asyncio.to_thread(migrate, settings)


async def read_only_reset(connection) -> None:
    """For pools that only read (no session settings, locks or LISTEN): asyncpg still rolls back an open
    transaction on release, and the full reset query (a round trip per request) is skipped."""


async def transaction_scoped_reset(connection) -> None:
    """For a pool whose every statement leaves nothing behind past its transaction: no SET (only SET LOCAL),
    advisory locks only as pg_advisory_xact_lock, no LISTEN, no cursor outside a transaction. asyncpg still
    rolls back an open transaction on release; the reset query (a round trip per release) is skipped."""


async def create_pool(settings: Settings, database: str, **kwargs) -> asyncpg.Pool:
    return await asyncpg.create_pool(**settings.postgres(database), **kwargs)
