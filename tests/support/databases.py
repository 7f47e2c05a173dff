"""Throwaway PostgreSQL databases for benchmarks and tests, created and dropped as the stack's owner.

`connect` is what asyncpg.connect takes to reach the server as its owner (a `dsn`, or host, port, user
and password); the statements run in the `postgres` maintenance database unless it names another.
`stack` is the stack's settings (stackenv.stack_settings)."""

import asyncio
import contextlib
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import asyncpg

from fitmint.outbox.schema import DDL as OUTBOX_DDL


async def create_databases(names: Iterable[str], **connect) -> None:
    await _as_owner([f'CREATE DATABASE "{name}"' for name in names], connect)


async def drop_databases(names: Iterable[str], **connect) -> None:
    """Drops each database if it exists, disconnecting whoever is still connected."""
    await _as_owner([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names], connect)


async def _as_owner(statements: list[str], connect: dict) -> None:
    connection = await asyncpg.connect(**{"database": "postgres", **connect})
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def admin_dsn(stack: dict) -> dict:
    """How tests connect to the stack's PostgreSQL as its owner (add `database=`)."""
    secret = Path(stack["FITMINT_STATE_DIR"]) / "secrets" / "postgres-password"
    return dict(host="127.0.0.1", port=int(stack["POSTGRES_PORT"]), user=stack["POSTGRES_USER"],
                password=secret.read_text().strip())


def create_database(stack: dict) -> str:
    name = f"api_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(create_databases([name], **admin_dsn(stack)))
    return name


def drop_database(stack: dict, name: str) -> None:
    asyncio.run(drop_databases([name], **admin_dsn(stack)))


@contextlib.contextmanager
def kernel_outbox_database(stack: dict) -> Iterator[str]:
    """A throwaway database holding only the kernel's outbox (fitmint/outbox/schema.sql): its name."""
    name = create_database(stack)
    try:
        asyncio.run(_as_owner([OUTBOX_DDL], {**admin_dsn(stack), "database": name}))
        yield name
    finally:
        drop_database(stack, name)
