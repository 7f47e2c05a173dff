"""The reorg undo: every block above a common ancestor goes, atomically. Each projection's writes
(indexer.projections.PROJECTIONS) say how they are undone; the published events get compensating
`...reverted.v1` events in the outbox."""

from fitmint import events as ev
from fitmint.outbox.append import Outgoing, append_copy
from indexer.cursor import Cursor, fence, save_cursor
from indexer.projections import LISTING_COLUMNS, PROJECTIONS, ZERO, Balances, ListingStates, Rows


async def revert_to(connection, *, chain_id: int, ancestor: Cursor, current: Cursor | None) -> int:
    """Undoes every block above `ancestor`, atomically: projections back to the ancestor's state, the
    events gone, and a compensating outbox event for each published one. Returns the events undone.
    `current`: the cursor being reverted from (the write is fenced on it)."""
    above = ancestor.block_number
    undone = 0
    async with connection.transaction():
        await fence(connection, current)
        for tables in PROJECTIONS:
            # Balances first: they read the transfer rows above the ancestor that their Rows delete.
            for write in sorted(tables.writes, key=lambda write: not isinstance(write, Balances)):
                if isinstance(write, Balances):
                    await _reverse_transfers(connection, write, above)
                elif isinstance(write, Rows):
                    deleted = await _delete_above(connection, write.table, above)
                    undone = deleted if write.table == "events" else undone
                elif isinstance(write, ListingStates):
                    await _restore_listings(connection, write, above)
        await _delete_above(connection, "skipped_logs", above)
        await _compensate(connection, above)
        await connection.execute("DELETE FROM blocks WHERE number > $1", above)
        await save_cursor(connection, chain_id, ancestor)
    return undone


async def _delete_above(connection, table: str, above: int) -> int:
    return int((await connection.execute(f"DELETE FROM {table} WHERE block_number > $1", above)).split()[-1])


async def _restore_listings(connection, listings: ListingStates, above: int) -> None:
    """Each listing with a state above `above` back to its last state at or below it (none: it goes)."""
    touched = sorted({row["listing_id"] for row in await connection.fetch(
        f"DELETE FROM {listings.history} WHERE block_number > $1 RETURNING listing_id", above)})
    if not touched:
        return
    columns = ", ".join(LISTING_COLUMNS)
    await connection.execute(f"DELETE FROM {listings.table} WHERE listing_id = ANY($1)", touched)
    await connection.execute(
        f"INSERT INTO {listings.table} ({columns}) SELECT DISTINCT ON (listing_id) {columns} FROM {listings.history} "
        "WHERE listing_id = ANY($1) ORDER BY listing_id, block_number DESC, log_index DESC", touched)


async def _reverse_transfers(connection, balances: Balances, above: int) -> None:
    """Subtracts from `balances.table` what the transfers above `above` added (the zero address has no
    balance row: mints and burns)."""
    key = f"{balances.key_column}, " if balances.key_column else ""
    await connection.execute(
        f"INSERT INTO {balances.table} ({', '.join(balances.keys)}, balance) "
        f"SELECT {key}account, sum(delta) FROM ("
        f"  SELECT {key}from_address AS account, value AS delta FROM {balances.transfers} WHERE block_number > $1"
        f"  UNION ALL"
        f"  SELECT {key}to_address, -value FROM {balances.transfers} WHERE block_number > $1) reversed "
        f"WHERE account <> $2 GROUP BY {key}account HAVING sum(delta) <> 0 "
        f"ON CONFLICT ({', '.join(balances.keys)}) DO UPDATE SET balance = {balances.table}.balance + EXCLUDED.balance",
        above, ZERO)


async def _compensate(connection, above: int) -> None:
    """A `...reverted.v1` outbox event for each event published from above `above` and not yet reverted."""
    originals = await connection.fetch(
        "SELECT id, type, payload FROM outbox o WHERE block_number > $1 "
        "AND reverts IS NULL AND NOT EXISTS (SELECT 1 FROM outbox r WHERE r.reverts = o.id) ORDER BY seq", above)
    compensations = []
    for row in originals:
        original = ev.ALL_TYPES[row["type"]]
        payload = ev.Reverted(reverts=str(row["id"]), original=original.decoder.decode(row["payload"]))
        compensations.append(Outgoing(ev.reverted_id(row["id"]), original.reverted, payload, reverts=str(row["id"])))
    await append_copy(connection, compensations)
