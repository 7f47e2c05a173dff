"""Wallet reads from the indexer's read views (indexer/schema.sql: versioned, owned and migrated by the
indexer; never its tables). Every answer is read in one REPEATABLE READ snapshot together with the
indexed head, so it names the block it is consistent at."""

from dataclasses import dataclass

import asyncpg

# The indexer's read views these reads use, with the columns they rely on (tests/indexer/test_wallet_api.py
# checks them against the indexer's schema, and that these reads need no other relation).
VIEWS = {
    "indexed_head_v1": ("block_number",),
    "wallet_balances_v1": ("account", "balance"),
    "wallet_transfers_v1": ("block_number", "log_index", "tx_hash", "from_address", "to_address", "value"),
    "wallet_claims_v1": ("account", "claim_id", "kind", "amount", "epoch", "block_number", "log_index", "tx_hash"),
    "wallet_orders_v1": ("order_id", "listing_id", "buyer", "seller", "item_id", "quantity", "unit_price", "fee",
                         "burned", "block_number", "log_index", "tx_hash"),
    "wallet_items_v1": ("account", "item_id", "quantity"),
}


@dataclass(frozen=True)
class Page:
    items: list[dict]
    block: int | None
    next_cursor: str | None


async def snapshot(pool: asyncpg.Pool, query: str, *args) -> tuple[list[asyncpg.Record], int | None]:
    async with pool.acquire() as connection:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            block = await connection.fetchval("SELECT block_number FROM indexed_head_v1")
            rows = await connection.fetch(query, *args)
    return rows, block


async def balance(pool, account: str) -> tuple[int, int | None]:
    # One statement is one snapshot: the balance and the cursor agree without an explicit transaction
    # (the hot endpoint: one round trip instead of BEGIN / two SELECTs / COMMIT).
    row = await pool.fetchrow(
        "SELECT (SELECT block_number FROM indexed_head_v1) AS block, "
        "(SELECT balance FROM wallet_balances_v1 WHERE account = $1) AS balance", account)
    return (int(row["balance"]) if row["balance"] is not None else 0), row["block"]


def _uint(value) -> str:
    """A numeric(78, 0) as decimal digits. asyncpg gives a Decimal that may carry an exponent
    (20 FIT comes back as Decimal('2.000E+19')), so str() alone is not enough."""
    return str(int(value))


def _position(cursor: str | None) -> tuple[int, int]:
    """Pages walk backwards in (block, log index) order; the cursor is where the last page stopped."""
    if cursor is None:
        return 2**62, 0
    block, _, index = cursor.partition("-")
    return int(block), int(index)


def _page(rows: list, block: int | None, limit: int, item) -> Page:
    """The first `limit` rows (of limit + 1 fetched) as a page, with where the next one starts."""
    items = [item(row) for row in rows[:limit]]
    next_cursor = f"{items[-1]['block']}-{items[-1]['log_index']}" if len(rows) > limit else None
    return Page(items, block, next_cursor)


async def transfers(pool, account: str, *, limit: int, cursor: str | None) -> Page:
    block_before, index_before = _position(cursor)
    rows, block = await snapshot(
        pool,
        "SELECT block_number, log_index, tx_hash, from_address, to_address, value FROM wallet_transfers_v1 "
        "WHERE (from_address = $1 OR to_address = $1) AND (block_number, log_index) < ($2, $3) "
        "ORDER BY block_number DESC, log_index DESC LIMIT $4",
        account, block_before, index_before, limit + 1)
    return _page(rows, block, limit, lambda r: {
        "block": r["block_number"], "log_index": r["log_index"], "tx_hash": r["tx_hash"], "from": r["from_address"],
        "to": r["to_address"], "value": _uint(r["value"])})


async def claims(pool, account: str, *, limit: int, cursor: str | None) -> Page:
    block_before, index_before = _position(cursor)
    rows, block = await snapshot(
        pool,
        "SELECT claim_id, kind, amount, epoch, block_number, log_index, tx_hash FROM wallet_claims_v1 "
        "WHERE account = $1 AND (block_number, log_index) < ($2, $3) "
        "ORDER BY block_number DESC, log_index DESC LIMIT $4",
        account, block_before, index_before, limit + 1)
    return _page(rows, block, limit, lambda r: {
        "claim_id": r["claim_id"], "kind": r["kind"], "amount": _uint(r["amount"]), "epoch": r["epoch"],
        "block": r["block_number"], "log_index": r["log_index"], "tx_hash": r["tx_hash"]})


# The column a wallet's orders are matched on, by role (never user input in the SQL text).
_ORDER_PARTY = {"buyer": "buyer", "seller": "seller"}


async def orders(pool, account: str, *, role: str = "buyer", limit: int, cursor: str | None) -> Page:
    """Marketplace orders in which `account` is the buyer (or the seller), newest first."""
    party = _ORDER_PARTY[role]
    block_before, index_before = _position(cursor)
    rows, block = await snapshot(
        pool,
        "SELECT order_id, listing_id, buyer, seller, item_id, quantity, unit_price, fee, burned, block_number, "
        f"log_index, tx_hash FROM wallet_orders_v1 WHERE {party} = $1 AND (block_number, log_index) < ($2, $3) "
        "ORDER BY block_number DESC, log_index DESC LIMIT $4",
        account, block_before, index_before, limit + 1)
    return _page(rows, block, limit, lambda r: {
        "order_id": r["order_id"], "listing_id": r["listing_id"], "buyer": r["buyer"], "seller": r["seller"],
        "item_id": _uint(r["item_id"]), "quantity": _uint(r["quantity"]), "unit_price": _uint(r["unit_price"]),
        "fee": _uint(r["fee"]), "burned": _uint(r["burned"]), "block": r["block_number"], "log_index": r["log_index"],
        "tx_hash": r["tx_hash"]})


async def items(pool, account: str) -> tuple[list[dict], int | None]:
    rows, block = await snapshot(
        pool, "SELECT item_id, quantity FROM wallet_items_v1 WHERE account = $1 ORDER BY item_id", account)
    return [{"item_id": _uint(r["item_id"]), "quantity": _uint(r["quantity"])} for r in rows], block
