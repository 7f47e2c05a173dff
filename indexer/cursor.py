"""The indexer's cursor (the last block indexed, by number and hash) and the fence every write passes:
a write extends the stored cursor or writes nothing."""

from dataclasses import dataclass

WRITE_LOCK = 727275  # pg_advisory_xact_lock key: one indexer write (batch or revert) at a time


class CursorMovedError(RuntimeError):
    """The stored cursor is not the one this write extends: someone else wrote the database meanwhile."""


@dataclass(frozen=True)
class Cursor:
    block_number: int
    block_hash: str


async def load_cursor(connection, chain_id: int) -> Cursor | None:
    row = await connection.fetchrow("SELECT chain_id, block_number, block_hash FROM indexer_cursor")
    if row is None:
        return None
    if row["chain_id"] != chain_id:
        raise RuntimeError(f"the database was indexed for chain {row['chain_id']}, not {chain_id}: "
                           "use another database or reset this one")
    return Cursor(row["block_number"], row["block_hash"])


async def stored_hash(connection, number: int) -> str | None:
    return await connection.fetchval("SELECT hash FROM blocks WHERE number = $1", number)


async def fence(connection, expected: Cursor | None) -> None:
    """In a write's transaction: the write extends `expected` (None: nothing indexed yet), or it raises
    CursorMovedError. One writer per database is the rule (indexer.writer); this makes a second one
    harmless, not just rare."""
    await connection.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
    row = await connection.fetchrow("SELECT block_number, block_hash FROM indexer_cursor")
    stored = Cursor(row["block_number"], row["block_hash"]) if row else None
    if row is not None and stored != expected:
        raise CursorMovedError(f"the database's cursor is at block {stored.block_number}, not at "
                               f"{expected.block_number if expected else 'the start'} where this write begins: "
                               "another indexer wrote it")


async def save_cursor(connection, chain_id: int, cursor: Cursor) -> None:
    await connection.execute(
        "INSERT INTO indexer_cursor (id, chain_id, block_number, block_hash) VALUES (1, $1, $2, $3) "
        "ON CONFLICT (id) DO UPDATE SET block_number = $2, block_hash = $3, updated_at = now()",
        chain_id, cursor.block_number, cursor.block_hash)
