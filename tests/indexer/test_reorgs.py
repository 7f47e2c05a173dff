"""Reorgs made by Anvil itself (anvil_reorg), depth 1 to 5, with the reorged blocks' transactions
replaced: the projections follow the canonical chain and Kafka carries compensating events."""

import asyncio

import pytest

from checks import assert_matches_chain, consume_all, db, index_to_head, publish_all
from tests.support.units import FIT


def claim_tx(chain, account, amount):
    voucher, signature = chain.voucher(account, amount)
    return {"from": chain.accounts[9], "to": chain.rewards.address, "gas": hex(500_000),
            "data": chain.rewards.functions.claim(voucher, signature)._encode_transaction_data()}


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_reorg_follows_the_canonical_chain_and_publishes_compensations(chain, indexer_settings, depth):
    users = chain.accounts[1:6]
    for user in users[:3]:
        chain.claim(user, 100 * FIT)
    chain.approve_market(users[0])
    listing = chain.list_item(1, 10 * FIT, 50)
    # The blocks that will be reorged away: a claim per block, and a purchase in the newest one.
    for i in range(depth):
        chain.claim(users[i % 5], (i + 1) * FIT)
    chain.buy(listing, 1, users[0])
    asyncio.run(index_to_head(indexer_settings))
    asyncio.run(publish_all(indexer_settings))
    orphaned = {r["id"]: r["type"] for r in db(indexer_settings, "SELECT id::text, type FROM outbox o WHERE "
                                                "block_number > $1", chain.head() - depth)}
    assert orphaned, "the blocks to be reorged carry published events"

    # Replace the last `depth` blocks: different claims, one per new block, and an extra block on top.
    replacements = [[claim_tx(chain, users[4], 3 * FIT), offset] for offset in range(depth)]
    height = chain.head()
    chain.rpc("anvil_reorg", depth, replacements)
    chain.mine(1)
    assert chain.head() == height + 1

    asyncio.run(index_to_head(indexer_settings))
    assert_matches_chain(chain, indexer_settings)
    assert not db(indexer_settings, "SELECT 1 FROM orders")  # the purchase was in a reorged block

    asyncio.run(publish_all(indexer_settings))
    published = asyncio.run(consume_all(indexer_settings))
    ids = [r["id"] for r in published]
    assert len(ids) == len(set(ids)), "an event id was published twice"
    reverted = {r["data"]["reverts"]: r["type"] for r in published if r["type"].endswith(".reverted.v1")}
    assert set(reverted) == set(orphaned)
    for original, reverted_type in reverted.items():
        assert reverted_type == orphaned[original].removesuffix(".v1") + ".reverted.v1"
    # The replacement claims were published as new events.
    new_claims = [r for r in published if r["type"] == "dev.fitmint.reward.claimed.v1"
                  and r["data"]["account"] == users[4].lower() and r["data"]["amount"] == str(3 * FIT)]
    assert len(new_claims) == depth


def test_reorg_deeper_than_the_configured_depth_stops_loudly(chain, indexer_settings):
    from indexer.sync import DeepReorgError

    for _ in range(4):
        chain.claim(chain.accounts[1], FIT)
    asyncio.run(index_to_head(indexer_settings.model_copy(update={"reorg_depth": 2})))
    chain.rpc("anvil_reorg", 4, [])
    chain.mine(1)
    with pytest.raises(DeepReorgError, match="no common ancestor was found within 2 blocks"):
        asyncio.run(index_to_head(indexer_settings.model_copy(update={"reorg_depth": 2})))
