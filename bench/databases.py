"""Throwaway PostgreSQL databases for benchmarks and tests, created and dropped as the stack's owner.

`connect` is what asyncpg.connect takes to reach the server as its owner (a `dsn`, or host, port, user
and password); the statements run in the `postgres` maintenance database unless it names another."""

from collections.abc import Iterable

import asyncpg


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
