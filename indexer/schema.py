"""The indexer database's lifecycle: create the schema (tables and read views), migrate it in place from
older versions, refuse a version it cannot migrate, and drop it (a reset, or another deployment)."""

from pathlib import Path

import asyncpg

from fitmint.chain.manifest import Manifest
from fitmint.outbox.schema import DDL as OUTBOX_DDL
from fitmint.pgcopy import copy_rows
from indexer.batches import HISTORY_COLUMNS
from indexer.decode import LogDecoder
from indexer.projections import LISTING_COLUMNS, fold_listing

SCHEMA = Path(__file__).with_name("schema.sql")
SCHEMA_VERSION = 7  # bump with every change to schema.sql, and add the step from the previous one to UPGRADES
TABLES = ("indexer_meta", "indexer_cursor", "blocks", "events", "skipped_logs", "token_transfers", "token_balances",
          "claims", "epoch_roots", "item_metadata", "item_transfers", "item_balances", "listings", "listing_states",
          "orders", "outbox", "relay_position")
FORMER_TABLES = ("listing_events",)  # tables of older versions, dropped with the rest by a reset
# What other components may read (schema.sql says how they are versioned); dropped with the tables.
READ_VIEWS = ("indexed_head_v1", "wallet_balances_v1", "wallet_transfers_v1", "wallet_claims_v1", "wallet_orders_v1",
              "wallet_items_v1", "marketplace_listings_v1", "item_uris_v1")

_DROP_TABLES = f"DROP TABLE IF EXISTS {', '.join(TABLES + FORMER_TABLES)} CASCADE"


async def upgrade_listing_states(connection, settings) -> None:
    """4 -> 5: listing_states from listing_events, by folding each listing's events as the indexer did
    (the only time they are decoded again: their arguments were not stored; the ABIs are the manifest's
    of the chain indexed)."""
    await connection.execute(SCHEMA.read_text())  # creates listing_states (all else exists at version 4)
    rows = await connection.fetch(
        "SELECT l.listing_id, e.block_number, e.log_index, e.address, e.topics, e.data FROM listing_events l "
        "JOIN events e USING (block_number, log_index) ORDER BY e.block_number, e.log_index")
    if rows:
        chain_id = await connection.fetchval("SELECT chain_id FROM indexer_cursor")
        decoder = LogDecoder(Manifest.load(settings.manifest_path(chain_id)))
        states, history = {}, []
        for row in rows:
            event_decoder = decoder.decoder_for(row["address"], row["topics"])
            args = event_decoder.decode_args(row["topics"], row["data"])
            listing_id = row["listing_id"]
            state = states[listing_id] = fold_listing(states.get(listing_id), event_decoder.name, args,
                                                      row["block_number"])
            if state is not None:
                history.append((listing_id, row["block_number"], row["log_index"],
                                *(state[column] for column in LISTING_COLUMNS[1:])))
        await copy_rows(connection, "listing_states", HISTORY_COLUMNS, history)
    await connection.execute("DROP TABLE listing_events")


# In-place upgrades, from the version in the key to the next one (older versions need a reset): SQL, or
# a function of the connection and the settings.
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
    # 4 -> 5: the read views (READ_VIEWS), which schema.sql creates on every start; listing_states (each
    # listing's state after each of its events: a reorg restores listings from it) replaces
    # listing_events (which events concern which listing: a reorg decoded them again), filled by
    # folding those events once (upgrade_listing_states).
    4: upgrade_listing_states,
    # 5 -> 6: the marketplace's read views (marketplace_listings_v1, item_uris_v1) and the listings'
    # indexes their filters use: schema.sql creates them on every start, so no data moves.
    5: "SELECT 1",
    # 6 -> 7: outbox rows keep the trace context of the chain transaction that wrote them (head batches
    # only; rows written before have none).
    6: "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text",
}
SCHEMA_LOCK = 727274  # pg_advisory_xact_lock key: one schema change at a time


class SchemaMismatchError(RuntimeError):
    """The database holds another schema version's data."""


async def _connect_once(settings) -> asyncpg.Connection:
    return await asyncpg.connect(**settings.postgres(settings.indexer_database))


async def connect(settings) -> asyncpg.Pool:
    """A pool on the indexer's database, whose schema is this indexer's (created or migrated first)."""
    pool = await asyncpg.create_pool(**settings.postgres(settings.indexer_database), min_size=1, max_size=4)
    async with pool.acquire() as connection:
        await _ensure_schema(connection, settings)
    return pool


async def _ensure_schema(connection, settings) -> None:
    database = settings.indexer_database
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        has_data = await connection.fetchval("SELECT to_regclass('indexer_cursor') IS NOT NULL")
        has_meta = await connection.fetchval("SELECT to_regclass('indexer_meta') IS NOT NULL")
        version = await connection.fetchval("SELECT schema_version FROM indexer_meta") if has_meta else (
            0 if has_data else None)
        while version is not None and version < SCHEMA_VERSION and version in UPGRADES:
            step = UPGRADES[version]
            await (connection.execute(step) if isinstance(step, str) else step(connection, settings))
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
    await connection.execute(OUTBOX_DDL)
    await connection.execute(
        "INSERT INTO indexer_meta (id, schema_version, generation) VALUES (1, $1, gen_random_uuid()) "
        "ON CONFLICT (id) DO NOTHING", SCHEMA_VERSION)


async def drop_everything(settings) -> None:
    """`python -m indexer reset`: the indexed data is derived from the chain, so it can always go."""
    connection = await _connect_once(settings)
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
    connection = await _connect_once(settings)
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
