"""The indexed projections equal the contracts' state after a scripted scenario."""

import asyncio
import json

import pytest

from checks import assert_matches_chain, consume_all, db, index_to_head, publish_all
from tests.support.eventschemas import assert_matches_schema


def test_projections_equal_contract_state(chain, indexer_settings):
    chain.run_scenario()
    asyncio.run(index_to_head(indexer_settings))
    balances = assert_matches_chain(chain, indexer_settings)
    assert len(balances) >= 7  # five users, the proceeds account, the treasury

    names = {r["name"]: r["n"] for r in db(indexer_settings, "SELECT name, count(*) AS n FROM events GROUP BY name")}
    for name in ("Transfer", "RewardClaimed", "EpochRootPosted", "EpochRewardClaimed", "ListingCreated",
                 "ListingUpdated", "ListingCancelled", "OrderCreated", "TransferSingle", "URI"):
        assert names.get(name), f"no {name} indexed"
    statuses = {r["listing_id"]: r["status"] for r in db(indexer_settings, "SELECT listing_id, status FROM listings")}
    assert statuses == {1: "open", 2: "open", 3: "sold_out", 4: "cancelled"}

    # Outbox: one event per mint, per claim and per order, with deterministic ids.
    outbox = db(indexer_settings, "SELECT type, aggregateid, payload FROM outbox ORDER BY seq")
    kinds = [r["type"] for r in outbox]
    mints = db(indexer_settings, "SELECT count(*) AS n FROM token_transfers WHERE from_address = $1", "0x" + "0" * 40)
    assert kinds.count("dev.fitmint.token.minted.v1") == mints[0]["n"]
    claims = db(indexer_settings, "SELECT count(*) AS n FROM claims")
    assert kinds.count("dev.fitmint.reward.claimed.v1") == claims[0]["n"]
    assert kinds.count("dev.fitmint.order.created.v1") == 4
    # Metadata changes are indexed (item_metadata), not published: nothing consumes them.
    assert db(indexer_settings, "SELECT count(*) AS n FROM item_metadata")[0]["n"] > 0
    assert set(kinds) == {"dev.fitmint.token.minted.v1", "dev.fitmint.reward.claimed.v1",
                          "dev.fitmint.order.created.v1"}
    order = json.loads(next(r["payload"] for r in outbox if r["type"] == "dev.fitmint.order.created.v1"))
    assert order["orderId"] == 1 and order["quantity"] == "2"
    for row in outbox:  # what consumers in other languages are promised (schemas/events/)
        assert_matches_schema(row["type"], row["payload"])


def test_reindexing_is_idempotent(chain, indexer_settings):
    chain.run_scenario()
    asyncio.run(index_to_head(indexer_settings))
    before = db(indexer_settings, "SELECT id FROM outbox ORDER BY seq")
    chain.mine(3)
    asyncio.run(index_to_head(indexer_settings))  # resumes from its cursor: nothing new, nothing twice
    assert db(indexer_settings, "SELECT id FROM outbox ORDER BY seq") == before
    assert_matches_chain(chain, indexer_settings)


def test_old_schema_is_refused_and_reset_rebuilds_and_republishes(chain, indexer_settings):
    from indexer.schema import SchemaMismatchError, connect, drop_everything

    chain.run_scenario()
    asyncio.run(index_to_head(indexer_settings))
    asyncio.run(publish_all(indexer_settings))
    ids = {str(row["id"]) for row in db(indexer_settings, "SELECT id FROM outbox")}

    db(indexer_settings, "UPDATE indexer_meta SET schema_version = 1")
    with pytest.raises(SchemaMismatchError, match="python -m indexer reset"):
        asyncio.run(connect(indexer_settings))

    asyncio.run(drop_everything(indexer_settings))
    asyncio.run(index_to_head(indexer_settings))
    assert_matches_chain(chain, indexer_settings)
    # A new database generation: the relay publishes the rebuilt outbox again, with the same ids.
    asyncio.run(publish_all(indexer_settings))
    published = [record["id"] for record in asyncio.run(consume_all(indexer_settings))]
    assert sorted(published) == sorted(list(ids) * 2)


def test_upgrade_to_4_drops_the_unpublished_item_metadata_events(chain, indexer_settings):
    """A database of schema 3 may hold ItemMetadataUpdated outbox rows (and their reverted events): the
    upgrade removes them, as the bus no longer carries that type; everything else stays."""
    from indexer.schema import SCHEMA_VERSION, connect

    chain.run_scenario()
    asyncio.run(index_to_head(indexer_settings))
    kept = db(indexer_settings, "SELECT id FROM outbox ORDER BY seq")
    for ce_type in ("dev.fitmint.item.metadata.v1", "dev.fitmint.item.metadata.reverted.v1"):
        db(indexer_settings, "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) "
                             "VALUES (gen_random_uuid(), 'fitmint.items', '1', $1, '{}')", ce_type)
    as_version_4(indexer_settings)
    db(indexer_settings, "UPDATE indexer_meta SET schema_version = 3")

    async def reconnect():
        pool = await connect(indexer_settings)
        await pool.close()

    asyncio.run(reconnect())
    assert db(indexer_settings, "SELECT schema_version FROM indexer_meta")[0]["schema_version"] == SCHEMA_VERSION
    assert db(indexer_settings, "SELECT id FROM outbox ORDER BY seq") == kept


def as_version_4(settings):
    """Turns an indexed database back into what schema version 4 had: listing_events (which events concern
    which listing) instead of listing_states, and no read views."""
    from indexer.schema import READ_VIEWS

    db(settings, "CREATE TABLE listing_events AS SELECT listing_id, block_number, log_index FROM listing_states")
    db(settings, "DROP TABLE listing_states")
    db(settings, f"DROP VIEW {', '.join(READ_VIEWS)}")
    db(settings, "UPDATE indexer_meta SET schema_version = 4")


def test_upgrade_from_4_folds_each_listing_s_states_once_and_adds_the_read_views(chain, indexer_settings):
    from indexer.schema import READ_VIEWS, SCHEMA_VERSION, connect

    chain.run_scenario()
    asyncio.run(index_to_head(indexer_settings))
    history = "SELECT * FROM listing_states ORDER BY listing_id, block_number, log_index"
    states = db(indexer_settings, history)
    assert len({row["listing_id"] for row in states}) == 4 and len(states) > 4
    as_version_4(indexer_settings)

    async def reconnect():
        pool = await connect(indexer_settings)
        await pool.close()

    asyncio.run(reconnect())
    assert db(indexer_settings, "SELECT schema_version FROM indexer_meta")[0]["schema_version"] == SCHEMA_VERSION
    assert db(indexer_settings, history) == states
    assert db(indexer_settings, "SELECT to_regclass('listing_events') IS NULL AS gone")[0]["gone"]
    for view in READ_VIEWS:
        assert db(indexer_settings, "SELECT to_regclass($1) IS NOT NULL AS present", view)[0]["present"], view
    chain.mine(1)
    asyncio.run(index_to_head(indexer_settings))
    assert_matches_chain(chain, indexer_settings)
