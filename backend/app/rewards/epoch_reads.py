"""Reads of the closed reward epochs (rewards/epochs.py writes them) and of their claims on the indexed chain.

"Claimed" comes from the indexer's read view `wallet_claims_v1`: the contract's EpochRewardClaimed event,
indexed with claim id `epoch:<epoch>:<index>` and kind `epoch`, whoever sent the claim (the member, a
relayer, anyone). So a leaf reads as claimed once the indexer has seen the claim's block, and every answer
names the indexed block it is consistent at (None: no indexer data).
"""

import asyncpg

from backend.app.wallets.service import snapshot

EPOCH_COLUMNS = ("epoch, starts_at, ends_at, state, reason, root, total, accrued, available, leaves, accruals, "
                 "tx_request_id, tx_hash, block_number, closed_at, settled_at")


def leaf_claim_id(epoch: int, index: int) -> str:
    """The indexer's claim id of a Merkle leaf (indexer/projections.py)."""
    return f"epoch:{epoch}:{index}"


async def _indexed(indexer_pool: asyncpg.Pool | None, query: str, *args) -> tuple[list, int | None]:
    if indexer_pool is None:
        return [], None
    try:
        return await snapshot(indexer_pool, query, *args)
    except asyncpg.UndefinedTableError:  # the indexer has not started on this database yet
        return [], None


def _epoch(row, claimed: dict) -> dict:
    epoch = dict(row)
    for name in ("total", "accrued", "available"):
        epoch[name] = str(int(row[name]))
    epoch["claimed_total"], epoch["claimed_leaves"] = claimed.get(row["epoch"], ("0", 0))
    return epoch


async def list_epochs(pool: asyncpg.Pool, indexer_pool: asyncpg.Pool | None, *, chain_id: int, contract: str,
                      limit: int, before: int | None) -> tuple[list[dict], int | None, int | None]:
    """Closed epochs, newest first (keyset by epoch), each with what its leaves' claims total on the indexed
    chain; (epochs, next cursor, indexed block)."""
    rows = await pool.fetch(
        f"SELECT {EPOCH_COLUMNS} FROM reward_epochs WHERE chain_id = $1 AND contract = $2 AND epoch < $3 "
        "ORDER BY epoch DESC LIMIT $4", chain_id, contract, 2**62 if before is None else before, limit + 1)
    rows, more = rows[:limit], len(rows) > limit
    claims, block = await _indexed(
        indexer_pool, "SELECT epoch, sum(amount) AS amount, count(*) AS leaves FROM wallet_claims_v1 "
                      "WHERE kind = 'epoch' AND epoch = ANY($1::bigint[]) GROUP BY epoch", [r["epoch"] for r in rows])
    claimed = {c["epoch"]: (str(int(c["amount"])), c["leaves"]) for c in claims}
    return [_epoch(row, claimed) for row in rows], (rows[-1]["epoch"] if more else None), block


async def epoch_state(pool: asyncpg.Pool, *, chain_id: int, contract: str, epoch: int) -> dict | None:
    row = await pool.fetchrow(f"SELECT {EPOCH_COLUMNS} FROM reward_epochs WHERE chain_id = $1 AND contract = $2 "
                              "AND epoch = $3", chain_id, contract, epoch)
    return dict(row) if row else None


async def leaf(pool: asyncpg.Pool, indexer_pool: asyncpg.Pool | None, *, chain_id: int, contract: str, epoch: int,
               account: str) -> dict | None:
    """The account's leaf of `epoch` with its proof and whether it is claimed (None: no leaf)."""
    row = await pool.fetchrow(
        "SELECT l.leaf_index, l.account, l.amount, l.accrued, l.proof, e.root FROM reward_epoch_leaves l "
        "JOIN reward_epochs e USING (chain_id, contract, epoch) "
        "WHERE l.chain_id = $1 AND l.contract = $2 AND l.epoch = $3 AND l.account = $4",
        chain_id, contract, epoch, account.lower())
    if row is None:
        return None
    claims, block = await _indexed(indexer_pool, "SELECT block_number, tx_hash FROM wallet_claims_v1 "
                                                 "WHERE claim_id = $1", leaf_claim_id(epoch, row["leaf_index"]))
    claim = claims[0] if claims else None
    return {"epoch": epoch, "index": row["leaf_index"], "account": row["account"], "amount": str(int(row["amount"])),
            "accrued": str(int(row["accrued"])), "proof": list(row["proof"]), "root": row["root"],
            "contract": contract, "chain_id": chain_id, "claimed": claim is not None,
            "claimed_block": claim["block_number"] if claim else None,
            "claimed_tx": claim["tx_hash"] if claim else None,
            "block": block}
