"""PostgreSQL: the schema, one transaction per batch (rows + outbox + cursor), and reorg reverts."""

import io
from collections import defaultdict
from datetime import datetime
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson

from fitmint import events as ev
from indexer.projections import Projection, fold_listing

SCHEMA = Path(__file__).with_name("schema.sql")
SCHEMA_VERSION = 4  # bump with every change to schema.sql, and add the step from the previous one to UPGRADES
TABLES = ("indexer_meta", "indexer_cursor", "blocks", "events", "skipped_logs", "token_transfers", "token_balances",
          "claims", "epoch_roots", "item_metadata", "item_transfers", "item_balances", "listings", "listing_events",
          "orders", "outbox", "relay_position")

_DROP_TABLES = f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE"

# In-place upgrades, from the version in the key to the next one (older versions need a reset).
UPGRADES = {
    # 2 -> 3: the outbox records its writing transaction (the relay publishes only ended ones). Rows
    # written before have txid 0: a relay position recorded as a bare seq then reads as (0, seq).
    # The meta row names the deployment indexed (unknown before: recorded on the next start).
    2: """
ALTER TABLE outbox ADD COLUMN txid bigint NOT NULL DEFAULT 0;
ALTER TABLE outbox ALTER COLUMN txid SET DEFAULT pg_current_xact_id()::text::bigint;
ALTER TABLE relay_position ADD COLUMN txid bigint NOT NULL DEFAULT 0;
ALTER TABLE indexer_meta ADD COLUMN deployment text;
""",
    # 3 -> 4: ItemMetadataUpdated is no longer published (nothing consumes it, and `fitmint.items` is no
    # longer created): its outbox rows and their reverted events go, so the relay never publishes one
    # to a topic that is gone and a reorg never looks up a type that is gone. item_metadata stays.
    3: """
DELETE FROM outbox WHERE type IN ('dev.fitmint.item.metadata.v1', 'dev.fitmint.item.metadata.reverted.v1');
""",
}
SCHEMA_LOCK = 727274  # pg_advisory_xact_lock key: one schema change at a time


class SchemaMismatchError(RuntimeError):
    """The database holds another schema version's data."""


class CursorMovedError(RuntimeError):
    """The stored cursor is not the one this write extends: someone else wrote the database meanwhile."""


WRITE_LOCK = 727275  # pg_advisory_xact_lock key: one indexer write (batch or revert) at a time
LISTING_COLUMNS = ("listing_id", "item_id", "seller", "unit_price", "remaining", "is_primary", "cid", "status",
                   "created_block", "updated_block")


@dataclass(frozen=True)
class Cursor:
    block_number: int
    block_hash: str


async def connect(settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(host=settings.postgres_host, port=settings.postgres_port,
                                     user=settings.postgres_user, password=settings.postgres_password(),
                                     database=settings.indexer_database, min_size=1, max_size=4)
    async with pool.acquire() as connection:
        await _ensure_schema(connection, settings.indexer_database)
    return pool


async def _ensure_schema(connection, database: str) -> None:
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        has_data = await connection.fetchval("SELECT to_regclass('indexer_cursor') IS NOT NULL")
        has_meta = await connection.fetchval("SELECT to_regclass('indexer_meta') IS NOT NULL")
        version = await connection.fetchval("SELECT schema_version FROM indexer_meta") if has_meta else (
            0 if has_data else None)
        while version is not None and version < SCHEMA_VERSION and version in UPGRADES:
            await connection.execute(UPGRADES[version])
            version += 1
            await connection.execute("UPDATE indexer_meta SET schema_version = $1", version)
        if version is not None and version != SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"database {database} holds indexer schema version {version}, this indexer needs {SCHEMA_VERSION}: "
                "run `python -m indexer reset` to drop the indexed data (it is rebuilt from the chain and "
                "republished with the same event ids)")
        await _create_schema(connection)


async def _create_schema(connection) -> None:
    await connection.execute(SCHEMA.read_text())
    await connection.execute(
        "INSERT INTO indexer_meta (id, schema_version, generation) VALUES (1, $1, gen_random_uuid()) "
        "ON CONFLICT (id) DO NOTHING", SCHEMA_VERSION)


async def drop_everything(settings) -> None:
    """`python -m indexer reset`: the indexed data is derived from the chain, so it can always go."""
    connection = await asyncpg.connect(host=settings.postgres_host, port=settings.postgres_port,
                                       user=settings.postgres_user, password=settings.postgres_password(),
                                       database=settings.indexer_database)
    try:
        await connection.execute(_DROP_TABLES)
    finally:
        await connection.close()


def deployment_of(manifest) -> str:
    """What identifies a deployment: its deploy block, that block's hash and the contracts' addresses."""
    addresses = ",".join(sorted(contract.address for contract in manifest.contracts.values()))
    return f"{manifest.deploy_block}:{manifest.deploy_block_hash.lower()}:{addresses}"


async def drop_if_other_deployment(settings, manifest) -> bool:
    """Drops the indexed data if it was indexed from another deployment: the database names another
    one (the contracts were deployed again), or its copy of the deploy block has another hash (Anvil
    restarted: a new chain). That data describes contracts or a chain that are gone; the indexer
    rebuilds it from this one, under a new generation. The old tables are replaced by empty ones in one
    transaction: readers (the API, `caught_up` checks) see the old data or the new schema, never a
    database without tables."""
    connection = await asyncpg.connect(host=settings.postgres_host, port=settings.postgres_port,
                                       user=settings.postgres_user, password=settings.postgres_password(),
                                       database=settings.indexer_database)
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
            if not await connection.fetchval("SELECT to_regclass('blocks') IS NOT NULL"):
                return False
            recorded = None
            if await connection.fetchval("SELECT count(*) = 1 FROM information_schema.columns WHERE "
                                         "table_name = 'indexer_meta' AND column_name = 'deployment'"):
                recorded = await connection.fetchval("SELECT deployment FROM indexer_meta")
            stored = await connection.fetchval("SELECT hash FROM blocks WHERE number = $1", manifest.deploy_block)
            other_chain = stored is not None and stored.lower() != manifest.deploy_block_hash.lower()
            if not other_chain and recorded in (None, deployment_of(manifest)):
                return False
            await connection.execute(_DROP_TABLES)
            await _create_schema(connection)
        return True
    finally:
        await connection.close()


async def record_deployment(pool, manifest) -> None:
    """Names the deployment this database indexes (see drop_if_other_deployment)."""
    await pool.execute("UPDATE indexer_meta SET deployment = $1", deployment_of(manifest))


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


async def _check_cursor(connection, expected: Cursor | None) -> None:
    """Fences a write: it extends `expected` (None: nothing indexed yet), or nothing is written. One
    writer per database is the rule (indexer.writer); this makes a second one harmless, not just rare."""
    await connection.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
    row = await connection.fetchrow("SELECT block_number, block_hash FROM indexer_cursor")
    stored = Cursor(row["block_number"], row["block_hash"]) if row else None
    if row is not None and stored != expected:
        raise CursorMovedError(f"the database's cursor is at block {stored.block_number}, not at "
                               f"{expected.block_number if expected else 'the start'} where this write begins: "
                               "another indexer wrote it")


async def write_batch(connection, *, chain_id: int, projection: Projection, blocks: list[tuple],
                      skipped: list[tuple], cursor: Cursor, parent: Cursor | None) -> None:
    """Everything one block range produced, atomically: a crash leaves either all of it or none.
    `parent`: the cursor the range extends (None: the first range)."""
    async with connection.transaction():
        await _check_cursor(connection, parent)
        copies = (
            ("events", projection.events, ("block_number", "log_index", "block_hash", "tx_hash", "address", "contract",
                                           "name", "topics", "data")),
            ("listing_events", projection.listing_index, ("listing_id", "block_number", "log_index")),
            ("token_transfers", projection.token_transfers,
             ("block_number", "log_index", "tx_hash", "from_address", "to_address", "value")),
            ("claims", projection.claims, ("claim_id", "kind", "account", "amount", "epoch", "attestor",
                                           "block_number", "log_index", "tx_hash")),
            ("epoch_roots", projection.epoch_roots, ("epoch", "root", "total", "operator", "block_number")),
            ("item_metadata", projection.item_metadata, ("block_number", "log_index", "item_id", "uri")),
            ("item_transfers", projection.item_transfers,
             ("block_number", "log_index", "position", "item_id", "from_address", "to_address", "value")),
            ("orders", projection.orders, ("order_id", "listing_id", "buyer", "seller", "item_id", "quantity",
                                           "unit_price", "fee", "burned", "block_number", "log_index", "tx_hash")),
            ("outbox", projection.outbox, ("id", "aggregatetype", "aggregateid", "type", "payload", "event_time",
                                           "block_number", "reverts")),
            ("skipped_logs", skipped, ("block_number", "log_index", "address", "reason")),
        )
        for table, records, columns in copies:
            if records:
                await copy_rows(connection, table, columns, records)
        await _apply_deltas(connection, "token_balances", ("account",),
                            {(account,): delta for account, delta in projection.balance_deltas.items()})
        await _apply_deltas(connection, "item_balances", ("item_id", "account"), projection.item_deltas)
        if projection.listing_events:
            await _fold_listings(connection, projection)
        if blocks:
            await connection.executemany(
                "INSERT INTO blocks (number, hash, parent_hash, timestamp) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = "
                "COALESCE(EXCLUDED.parent_hash, blocks.parent_hash), timestamp = EXCLUDED.timestamp", blocks)
        await _save_cursor(connection, chain_id, cursor)


def _copy_field(value) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# Tables whose rows hold only ints and hex or name strings (never None, a tab or a backslash):
# their COPY lines need no per-value escaping, the hot path of a backfill.
_PLAIN_TABLES = {"events", "token_transfers", "item_transfers", "listing_events"}


async def copy_rows(connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """COPY in PostgreSQL's text format: PostgreSQL parses the values (on its own core), where
    asyncpg's binary COPY would encode every uint256 and array in this process."""
    field = str if table in _PLAIN_TABLES else _copy_field
    text = "".join(["\t".join(map(field, row)) + "\n" for row in rows])
    await connection.copy_to_table(table, source=io.BytesIO(text.encode()), columns=columns, format="text")


async def _save_cursor(connection, chain_id: int, cursor: Cursor):
    await connection.execute(
        "INSERT INTO indexer_cursor (id, chain_id, block_number, block_hash) VALUES (1, $1, $2, $3) "
        "ON CONFLICT (id) DO UPDATE SET block_number = $2, block_hash = $3, updated_at = now()",
        chain_id, cursor.block_number, cursor.block_hash)


async def _apply_deltas(connection, table: str, keys: tuple[str, ...], deltas: dict[tuple, int]):
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


async def _fold_listings(connection, projection: Projection):
    ids = sorted(projection.listing_ids)
    rows = await connection.fetch(f"SELECT {', '.join(LISTING_COLUMNS)} FROM listings WHERE listing_id = ANY($1)", ids)
    states = {row["listing_id"]: {**row, "unit_price": int(row["unit_price"]), "remaining": int(row["remaining"]),
                                  "item_id": int(row["item_id"])} for row in rows}
    for event in projection.listing_events:
        listing_id = event.args["listingId"]
        states[listing_id] = fold_listing(states.get(listing_id), event.name, event.args, event.block_number)
    await _upsert_listings(connection, [state for state in states.values() if state is not None])


async def _upsert_listings(connection, states: list[dict]):
    if not states:
        return
    placeholders = ", ".join(f"${i + 1}" for i in range(len(LISTING_COLUMNS)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in LISTING_COLUMNS[1:])
    await connection.executemany(
        f"INSERT INTO listings ({', '.join(LISTING_COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT (listing_id) DO UPDATE SET {updates}",
        [tuple(state[c] for c in LISTING_COLUMNS) for state in states])


async def revert_to(connection, *, chain_id: int, ancestor: Cursor, decoder, current: Cursor | None) -> int:
    """Undoes every block above `ancestor`, atomically: projections back to the ancestor's state, the
    events gone, and a compensating outbox event for each published one. Returns the events undone.
    `current`: the cursor being reverted from (the write is fenced on it)."""
    above = ancestor.block_number
    async with connection.transaction():
        await _check_cursor(connection, current)
        for table, keys, rows in (
            ("token_balances", ("account",), await connection.fetch(
                "DELETE FROM token_transfers WHERE block_number > $1 RETURNING from_address, to_address, "
                "NULL::numeric AS item_id, value", above)),
            ("item_balances", ("item_id", "account"), await connection.fetch(
                "DELETE FROM item_transfers WHERE block_number > $1 RETURNING from_address, to_address, "
                "item_id, value", above)),
        ):
            deltas = defaultdict(int)
            for row in rows:
                value, item = int(row["value"]), row["item_id"]
                prefix = (int(item),) if item is not None else ()
                deltas[prefix + (row["from_address"],)] += value
                deltas[prefix + (row["to_address"],)] -= value
            zero = "0x" + "0" * 40
            await _apply_deltas(connection, table, keys, {k: v for k, v in deltas.items() if k[-1] != zero})

        listing_ids = sorted({row["listing_id"] for row in await connection.fetch(
            "DELETE FROM listing_events WHERE block_number > $1 RETURNING listing_id", above)})
        for table in ("claims", "epoch_roots", "item_metadata", "orders", "skipped_logs"):
            await connection.execute(f"DELETE FROM {table} WHERE block_number > $1", above)
        undone = int((await connection.execute("DELETE FROM events WHERE block_number > $1", above)).split()[-1])
        await _recompute_listings(connection, listing_ids, decoder)

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
            await copy_rows(connection, "outbox", ("id", "aggregatetype", "aggregateid", "type", "payload", "event_time",
                                                   "block_number", "reverts"), compensations)
        await connection.execute("DELETE FROM blocks WHERE number > $1", above)
        await _save_cursor(connection, chain_id, ancestor)
    return undone


async def _recompute_listings(connection, listing_ids: list[int], decoder):
    """Replays each listing's remaining events through `fold_listing`."""
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
    await _upsert_listings(connection, [s for s in states.values() if s is not None])
