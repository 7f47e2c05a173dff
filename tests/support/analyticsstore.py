"""A private analytics store for tests of what reads it (the dashboards, the weekly report): a database of
its own on the stack's PostgreSQL with analytics/schema.sql applied, and projection rows written as given."""

import asyncio
from datetime import date, timedelta

import asyncpg

from tests.support.databases import admin_dsn, create_database
from tests.support.paths import ROOT

SCHEMA = ROOT / "analytics" / "schema.sql"


def create_store(stack: dict) -> str:
    """A new database with the analytics schema; its name (drop it with databases.drop_database)."""
    name = create_database(stack)

    async def apply():
        connection = await asyncpg.connect(**admin_dsn(stack), database=name)
        try:
            await connection.execute(SCHEMA.read_text())
        finally:
            await connection.close()

    asyncio.run(apply())
    return name


async def insert_rows(stack: dict, database: str, rows: dict[str, list[dict]]) -> None:
    """Inserts {table: [row, ...]} (each row a {column: value} dict; a table's rows share their columns)."""
    connection = await asyncpg.connect(**admin_dsn(stack), database=database)
    try:
        async with connection.transaction():
            for table, items in rows.items():
                if items:
                    columns = list(items[0])
                    await connection.copy_records_to_table(
                        table, records=[tuple(item[c] for c in columns) for item in items], columns=columns)
    finally:
        await connection.close()


def write_rows(stack: dict, database: str, rows: dict[str, list[dict]]) -> None:
    """`insert_rows` outside an event loop."""
    asyncio.run(insert_rows(stack, database, rows))


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]
