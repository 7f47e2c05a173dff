"""The transaction queue's DDL (schema.sql beside this file), for whoever hosts the queue's tables."""

from pathlib import Path

DDL = Path(__file__).with_name("schema.sql").read_text()


async def create_schema(connection) -> None:
    """Creates the queue's tables on an asyncpg connection (re-runnable)."""
    await connection.execute(DDL)
