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
        raise moved_error(str(stored.block_number), expected)


# The fence and the cursor's save as statements of a script (indexer.batches.write_small_batch): the fence
# raises FENCE_SQLSTATE with the stored cursor as its message.
FENCE_SQLSTATE = "FMCUR"


def fence_sql(expected: Cursor | None, literal) -> str:
    moved = ("true" if expected is None else
             f"(stored.block_number, stored.block_hash) IS DISTINCT FROM "
             f"({expected.block_number}::bigint, {literal(expected.block_hash)}::text)")
    return (f"SELECT pg_advisory_xact_lock({WRITE_LOCK});\n"
            "DO $fence$ DECLARE stored record; BEGIN\n"
            "  SELECT block_number, block_hash INTO stored FROM indexer_cursor;\n"
            f"  IF FOUND AND {moved} THEN\n"
            f"    RAISE EXCEPTION USING ERRCODE = '{FENCE_SQLSTATE}', MESSAGE = stored.block_number::text;\n"
            "  END IF;\n"
            "END $fence$;\n")


def moved_error(stored_block: str, expected: Cursor | None) -> CursorMovedError:
    return CursorMovedError(f"the database's cursor is at block {stored_block}, not at "
                            f"{expected.block_number if expected else 'the start'} where this write begins: "
                            "another indexer wrote it")


def save_cursor_sql(chain_id: int, cursor: Cursor, literal) -> str:
    return ("INSERT INTO indexer_cursor (id, chain_id, block_number, block_hash) VALUES "
            f"(1, {chain_id}, {cursor.block_number}, {literal(cursor.block_hash)}) "
            "ON CONFLICT (id) DO UPDATE SET block_number = EXCLUDED.block_number, "
            "block_hash = EXCLUDED.block_hash, updated_at = now();\n")


async def save_cursor(connection, chain_id: int, cursor: Cursor) -> None:
    await connection.execute(
        "INSERT INTO indexer_cursor (id, chain_id, block_number, block_hash) VALUES (1, $1, $2, $3) "
        "ON CONFLICT (id) DO UPDATE SET block_number = $2, block_hash = $3, updated_at = now()",
        chain_id, cursor.block_number, cursor.block_hash)
