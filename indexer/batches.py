"""The batch writer: everything one block range produced, in one transaction (each projection's rows by
COPY, balance deltas, listing states, the outbox, the blocks and the cursor)."""

from fitmint.outbox.append import append_copy
from fitmint.pgcopy import copy_rows
from indexer.cursor import Cursor, fence, save_cursor
from indexer.projections import LISTING_COLUMNS, PROJECTIONS, Balances, ListingStates, Projection, Rows, fold_listing

SKIPPED_COLUMNS = ("block_number", "log_index", "address", "reason")
HISTORY_COLUMNS = ("listing_id", "block_number", "log_index", *LISTING_COLUMNS[1:])


async def write_batch(connection, *, chain_id: int, projection: Projection, blocks: list[tuple],
                      skipped: list[tuple], cursor: Cursor, parent: Cursor | None) -> None:
    """Everything one block range produced, atomically: a crash leaves either all of it or none.
    `parent`: the cursor the range extends (None: the first range)."""
    async with connection.transaction():
        await fence(connection, parent)
        for tables in PROJECTIONS:
            for write in tables.writes:
                if isinstance(write, Rows):
                    rows = getattr(projection, write.attribute)
                    if rows:
                        await copy_rows(connection, write.table, write.columns, rows, plain=write.plain)
                elif isinstance(write, Balances):
                    deltas = getattr(projection, write.attribute)
                    await apply_deltas(connection, write.table, write.keys,
                                       deltas if len(write.keys) > 1 else {(k,): v for k, v in deltas.items()})
                elif isinstance(write, ListingStates):
                    if projection.listing_events:
                        await _fold_listings(connection, projection)
        await append_copy(connection, projection.outbox)
        if skipped:
            await copy_rows(connection, "skipped_logs", SKIPPED_COLUMNS, skipped)
        if blocks:
            await connection.executemany(
                "INSERT INTO blocks (number, hash, parent_hash, timestamp) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = "
                "COALESCE(EXCLUDED.parent_hash, blocks.parent_hash), timestamp = EXCLUDED.timestamp", blocks)
        await save_cursor(connection, chain_id, cursor)


async def apply_deltas(connection, table: str, keys: tuple[str, ...], deltas: dict[tuple, int]) -> None:
    """Adds each delta to its row (creating it); keyed arrays keep this one statement per batch."""
    deltas = {key: delta for key, delta in deltas.items() if delta}
    if not deltas:
        return
    # Arrays of text, cast by PostgreSQL: asyncpg's numeric[] encoding is slow for 10^4 big ints.
    columns = [[str(key[i]) for key in deltas] for i in range(len(keys))]
    casts = ", ".join(f"unnest(${i + 1}::text[])::{'numeric' if k == 'item_id' else 'text'}"
                      for i, k in enumerate(keys))
    await connection.execute(
        f"INSERT INTO {table} ({', '.join(keys)}, balance) "
        f"SELECT {casts}, unnest(${len(keys) + 1}::text[])::numeric "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET balance = {table}.balance + EXCLUDED.balance",
        *columns, [str(delta) for delta in deltas.values()])


async def _fold_listings(connection, projection: Projection) -> None:
    ids = sorted(projection.listing_ids)
    rows = await connection.fetch(f"SELECT {', '.join(LISTING_COLUMNS)} FROM listings WHERE listing_id = ANY($1)", ids)
    states = {row["listing_id"]: {**row, "unit_price": int(row["unit_price"]), "remaining": int(row["remaining"]),
                                  "item_id": int(row["item_id"])} for row in rows}
    history = []
    for event in projection.listing_events:
        listing_id = event.args["listingId"]
        state = states[listing_id] = fold_listing(states.get(listing_id), event.name, event.args, event.block_number)
        if state is not None:
            history.append((listing_id, event.block_number, event.log_index,
                            *(state[column] for column in LISTING_COLUMNS[1:])))
    await copy_rows(connection, "listing_states", HISTORY_COLUMNS, history)
    await upsert_listings(connection, [state for state in states.values() if state is not None])


async def upsert_listings(connection, states: list[dict]) -> None:
    if not states:
        return
    placeholders = ", ".join(f"${i + 1}" for i in range(len(LISTING_COLUMNS)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in LISTING_COLUMNS[1:])
    await connection.executemany(
        f"INSERT INTO listings ({', '.join(LISTING_COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT (listing_id) DO UPDATE SET {updates}",
        [tuple(state[c] for c in LISTING_COLUMNS) for state in states])
