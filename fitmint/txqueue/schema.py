"""The transaction queue's DDL (schema.sql beside this file), for whoever hosts the queue's tables. The queue
writes its outcome events to the outbox of the same database (fitmint/txqueue/outcomes.py): its host creates
that outbox too (the API's migrations do; `create_schema` does for a database of the queue's own)."""

from pathlib import Path

from fitmint.outbox.schema import DDL as OUTBOX_DDL

DDL = Path(__file__).with_name("schema.sql").read_text()


async def create_schema(connection) -> None:
    """Creates the queue's tables and the outbox on an asyncpg connection (re-runnable)."""
    await connection.execute(OUTBOX_DDL)
    await connection.execute(DDL)
