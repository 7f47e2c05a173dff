"""The batch writer: everything one block range produced, in one transaction (each projection's rows by
COPY, balance deltas, listing states, the outbox, the blocks and the cursor).

A small batch (the head's: a block or a few) goes as one SQL script instead, in one round trip: a
multi-statement query runs as one implicit transaction, so it is as atomic as the COPY path, which costs
a round trip or two per table (measured at the head: ~10-30 ms per block on a busy 2-core machine, the
script ~2-5 ms)."""

from datetime import datetime

import asyncpg

from fitmint.outbox.append import COLUMNS as OUTBOX_COLUMNS
from fitmint.outbox.append import append_copy, outbox_rows
from fitmint.pgcopy import copy_rows
from indexer.cursor import FENCE_SQLSTATE, Cursor, fence, fence_sql, moved_error, save_cursor, save_cursor_sql
from indexer.projections import LISTING_COLUMNS, PROJECTIONS, Balances, ListingStates, Projection, Rows, fold_listing

SCRIPT_MAX_ROWS = 1_000  # rows of a batch written as one script (more: COPY, which parses faster)
BLOCK_COLUMNS = ("number", "hash", "parent_hash", "timestamp")
BLOCKS_UPSERT = ("ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = "
                 "COALESCE(EXCLUDED.parent_hash, blocks.parent_hash), timestamp = EXCLUDED.timestamp")

SKIPPED_COLUMNS = ("block_number", "log_index", "address", "reason")
HISTORY_COLUMNS = ("listing_id", "block_number", "log_index", *LISTING_COLUMNS[1:])


async def write_batch(connection, *, chain_id: int, projection: Projection, blocks: list[tuple],
                      skipped: list[tuple], cursor: Cursor, parent: Cursor | None) -> None:
    """Everything one block range produced, atomically: a crash leaves either all of it or none.
    `parent`: the cursor the range extends (None: the first range)."""
    if not projection.listing_events and _row_count(projection, skipped, blocks) <= SCRIPT_MAX_ROWS:
        await write_small_batch(connection, chain_id=chain_id, projection=projection, blocks=blocks,
                                skipped=skipped, cursor=cursor, parent=parent)
        return
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
                    await apply_deltas(connection, write.table, write.keys, deltas)
                elif isinstance(write, ListingStates):
                    if projection.listing_events:
                        await _fold_listings(connection, projection)
        await append_copy(connection, projection.outbox)
        if skipped:
            await copy_rows(connection, "skipped_logs", SKIPPED_COLUMNS, skipped)
        if blocks:
            await connection.executemany(
                "INSERT INTO blocks (number, hash, parent_hash, timestamp) VALUES ($1, $2, $3, $4) " + BLOCKS_UPSERT,
                blocks)
        await save_cursor(connection, chain_id, cursor)


def _row_count(projection: Projection, skipped: list[tuple], blocks: list[tuple]) -> int:
    count = len(projection.outbox) + len(skipped) + len(blocks)
    for tables in PROJECTIONS:
        for write in tables.writes:
            if isinstance(write, (Rows, Balances)):
                count += len(getattr(projection, write.attribute))
    return count


def literal(value) -> str:
    """A value as an SQL literal for a script (an escape string: right whatever standard_conforming_strings
    says); PostgreSQL casts it to its column's type as COPY would."""
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "true" if value else "false"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _insert(table: str, columns: tuple[str, ...], rows, conflict: str = "") -> str:
    values = ",\n".join("(" + ", ".join(map(literal, row)) + ")" for row in rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n{values}\n{conflict};\n"


async def write_small_batch(connection, *, chain_id: int, projection: Projection, blocks: list[tuple],
                            skipped: list[tuple], cursor: Cursor, parent: Cursor | None) -> None:
    """write_batch's rows, in the same order, as one script (no listing events: their fold reads first)."""
    script = [fence_sql(parent, literal)]
    for tables in PROJECTIONS:
        for write in tables.writes:
            if isinstance(write, Rows):
                rows = getattr(projection, write.attribute)
                if rows:
                    script.append(_insert(write.table, write.columns, rows))
            elif isinstance(write, Balances):
                deltas = nonzero(getattr(projection, write.attribute))
                if deltas:
                    keys = write.keys
                    rows = ((*(key if len(keys) > 1 else (key,)), delta) for key, delta in deltas.items())
                    script.append(_insert(write.table, (*keys, "balance"), rows, add_balance(write.table, keys)))
    if projection.outbox:
        script.append(_insert("outbox", OUTBOX_COLUMNS, outbox_rows(projection.outbox)))
    if skipped:
        script.append(_insert("skipped_logs", SKIPPED_COLUMNS, skipped))
    if blocks:
        script.append(_insert("blocks", BLOCK_COLUMNS, blocks, BLOCKS_UPSERT))
    script.append(save_cursor_sql(chain_id, cursor, literal))
    try:
        await connection.execute("".join(script))
    except asyncpg.PostgresError as exc:
        if getattr(exc, "sqlstate", None) == FENCE_SQLSTATE:
            raise moved_error(exc.message, parent) from None
        raise


def nonzero(deltas: dict) -> dict:
    return {key: delta for key, delta in deltas.items() if delta}


def add_balance(table: str, keys: tuple[str, ...]) -> str:
    """The upsert clause both writers give a balance delta: added to the row's balance (the row created)."""
    return f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET balance = {table}.balance + EXCLUDED.balance"


async def apply_deltas(connection, table: str, keys: tuple[str, ...], deltas: dict) -> None:
    """Adds each delta to its row (creating it); keyed arrays keep this one statement per batch. `deltas`
    is keyed by a tuple of the `keys` columns' values, or by the value itself when there is one key."""
    # Arrays of text, cast by PostgreSQL: asyncpg's numeric[] encoding is slow for 10^4 big ints.
    # One pass over the deltas (a backfill's batch holds up to ~10^4 distinct accounts).
    columns, values = [[] for _ in keys], []
    single = len(keys) == 1
    for key, delta in deltas.items():
        if delta:
            if single:
                columns[0].append(str(key))
            else:
                for column, part in zip(columns, key, strict=True):
                    column.append(str(part))
            values.append(str(delta))
    if not values:
        return
    casts = ", ".join(f"unnest(${i + 1}::text[])::{'numeric' if k == 'item_id' else 'text'}"
                      for i, k in enumerate(keys))
    await connection.execute(
        f"INSERT INTO {table} ({', '.join(keys)}, balance) "
        f"SELECT {casts}, unnest(${len(keys) + 1}::text[])::numeric "
        + add_balance(table, keys),
        *columns, values)


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
