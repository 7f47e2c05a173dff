"""The reorg undo: every block above a common ancestor goes, atomically. Each projection's writes
(indexer.projections.PROJECTIONS) say how they are undone; the published events get compensating
`...reverted.v1` events in the outbox."""

import orjson

from fitmint import events as ev
from indexer.batches import OUTBOX_COLUMNS, copy_rows, upsert_listings
from indexer.cursor import Cursor, fence, save_cursor
from indexer.projections import PROJECTIONS, ZERO, Balances, ListingStates, Rows, fold_listing


async def revert_to(connection, *, chain_id: int, ancestor: Cursor, decoder, current: Cursor | None) -> int:
    """Undoes every block above `ancestor`, atomically: projections back to the ancestor's state, the
    events gone, and a compensating outbox event for each published one. Returns the events undone.
    `current`: the cursor being reverted from (the write is fenced on it)."""
    above = ancestor.block_number
    writes = [write for tables in PROJECTIONS for write in tables.writes]
    async with connection.transaction():
        await fence(connection, current)
        # Balances and listings first: they read the rows above the ancestor that the deletes remove.
        for write in writes:
            if isinstance(write, Balances):
                await _reverse_transfers(connection, write, above)
        touched_listings = [row["listing_id"] for row in await connection.fetch(
            "SELECT DISTINCT listing_id FROM listing_events WHERE block_number > $1 ORDER BY listing_id", above)]
        undone = 0
        for table in [write.table for write in writes if isinstance(write, Rows)] + ["skipped_logs"]:
            deleted = int((await connection.execute(f"DELETE FROM {table} WHERE block_number > $1", above)).split()[-1])
            if table == "events":
                undone = deleted
        if any(isinstance(write, ListingStates) for write in writes):
            await refold_listings(connection, touched_listings, decoder)
        await _compensate(connection, above)
        await connection.execute("DELETE FROM blocks WHERE number > $1", above)
        await save_cursor(connection, chain_id, ancestor)
    return undone


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


async def refold_listings(connection, listing_ids: list[int], decoder) -> None:
    """Folds each listing again from its remaining events (`fold_listing`, as when they were indexed)."""
    if not listing_ids:
        return
    rows = await connection.fetch(
        "SELECT e.block_number, e.address, e.topics, e.data FROM listing_events l JOIN events e "
        "USING (block_number, log_index) WHERE l.listing_id = ANY($1) ORDER BY e.block_number, e.log_index",
        listing_ids)
    states: dict[int, dict | None] = {}
    for row in rows:
        event_decoder = decoder.decoder_for(row["address"], row["topics"])
        args = event_decoder.decode_args(row["topics"], row["data"])
        listing_id = args["listingId"]
        states[listing_id] = fold_listing(states.get(listing_id), event_decoder.name, args, row["block_number"])
    await connection.execute("DELETE FROM listings WHERE listing_id = ANY($1)", listing_ids)
    await upsert_listings(connection, [s for s in states.values() if s is not None])


async def _compensate(connection, above: int) -> None:
    """A `...reverted.v1` outbox event for each event published from above `above` and not yet reverted."""
    originals = await connection.fetch(
        "SELECT id, aggregatetype, aggregateid, type, payload FROM outbox o WHERE block_number > $1 "
        "AND reverts IS NULL AND NOT EXISTS (SELECT 1 FROM outbox r WHERE r.reverts = o.id) ORDER BY seq", above)
    compensations = []
    for row in originals:
        reverted = ev.ALL_TYPES[row["type"]].reverted
        payload = {"reverts": str(row["id"]), "original": orjson.loads(row["payload"])}
        compensations.append((ev.reverted_id(row["id"]), row["aggregatetype"], row["aggregateid"],
                              reverted.ce_type, orjson.dumps(payload).decode(), None, None, row["id"]))
    if compensations:
        await copy_rows(connection, "outbox", OUTBOX_COLUMNS, compensations)
