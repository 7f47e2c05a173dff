"""Brings a product's on-chain state in line with its current version, through the operator account:
`Marketplace.createListing` the first time, then `FitItems.setCid`, `Marketplace.updatePrice` and
`updateSupply` for whatever changed since the last mined transaction.

Crash-safe and idempotent:
- one flow per product at a time (a PostgreSQL advisory lock on the product);
- the operator's nonce is taken, the transaction signed, its hash journaled (`catalog_chain_txs`) and
  only then sent, all under one advisory lock, so concurrent senders never share a nonce;
- a journaled transaction is settled before anything else is sent: its receipt applied if mined,
  awaited if pending, forgotten (and the step redone) if the node never saw it. A crash after sending
  therefore never lists twice.
"""

import asyncpg
import orjson

from backend.app.catalog.chain import CatalogChain
from fitmint.chain.errors import ChainReverted, ChainUnavailable
from fitmint.chain.gateway import succeeded

NONCE_LOCK = "catalog:operator-nonce"
MAX_STEPS = 8  # a create plus three updates, twice (an update landing mid-flow)


class Listings:
    def __init__(self, pool: asyncpg.Pool, chain: CatalogChain):
        self.pool = pool
        self.chain = chain

    async def ensure(self, product_id: str) -> None:
        """Lists the product (if it is not yet) and syncs CID, price and supply to its current version."""
        async with self.pool.acquire() as connection:
            key = f"catalog:product:{product_id}"
            await connection.execute("SELECT pg_advisory_lock(hashtext($1))", key)
            try:
                for _ in range(MAX_STEPS):
                    await self._settle_journal(connection, product_id)
                    product = await connection.fetchrow("SELECT * FROM products WHERE id = $1::uuid", product_id)
                    step = self._next_step(product)
                    if step is None:
                        return
                    tx_hash = await self._send(connection, product, *step)
                    await self._settle(connection, product_id, tx_hash)
                raise ChainUnavailable("the product kept changing while it was being synced; ask again")
            finally:
                await connection.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    def _next_step(self, product) -> tuple[str, str, list, dict] | None:
        """(action, contract, call arguments, journal args) of the next transaction, or None when in sync."""
        item_id, price = int(product["item_id"]), int(product["price_fit"])
        supply, cid = product["supply"], product["cid"]
        if product["listing_id"] is None:
            return ("createListing", "Marketplace", [item_id, price, supply, cid, self.chain.treasury],
                    {"cid": cid, "price": str(price), "supply": supply})
        listing_id = int(product["listing_id"])
        if cid != product["chain_cid"]:
            return "setCid", "FitItems", [item_id, cid], {"cid": cid}
        if product["chain_price"] is None or price != int(product["chain_price"]):
            return "updatePrice", "Marketplace", [listing_id, price], {"price": str(price)}
        if supply != product["chain_supply"]:
            return "updateSupply", "Marketplace", [listing_id, supply], {"supply": supply}
        return None

    async def _send(self, connection, product, action: str, contract: str, call: list, args: dict) -> str:
        await connection.execute("SELECT pg_advisory_lock(hashtext($1))", NONCE_LOCK)
        try:
            nonce = await self.chain.pending_nonce()
            signed = await self.chain.sign(contract, action, call, nonce)
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO catalog_chain_txs (tx_hash, product_id, action, args, nonce) "
                    "VALUES ($1, $2, $3, $4::jsonb, $5)", signed.tx_hash, product["id"], action,
                    orjson.dumps(args).decode(), nonce)
                if action == "createListing":
                    await connection.execute("UPDATE products SET status = 'listing', listing_tx = $2 "
                                             "WHERE id = $1", product["id"], signed.tx_hash)
            try:
                await self.chain.gateway.send(signed)
            except ChainReverted as exc:  # refused outright (e.g. nonce or balance): nothing is pending
                await self._forget(connection, signed.tx_hash, action, product["id"], "dropped", exc.reason)
                raise
            return signed.tx_hash
        finally:
            await connection.execute("SELECT pg_advisory_unlock(hashtext($1))", NONCE_LOCK)

    async def _settle_journal(self, connection, product_id: str) -> None:
        for row in await connection.fetch("SELECT tx_hash FROM catalog_chain_txs WHERE product_id = $1::uuid "
                                          "AND status = 'sent' ORDER BY nonce", product_id):
            await self._settle(connection, product_id, row["tx_hash"])

    async def _settle(self, connection, product_id: str, tx_hash: str) -> None:
        """Applies a journaled transaction's outcome (waiting for it while the node has it pending)."""
        row = await connection.fetchrow("SELECT * FROM catalog_chain_txs WHERE tx_hash = $1", tx_hash)
        receipt = await self.chain.gateway.receipt(tx_hash)
        if receipt is None:
            if not await self.chain.gateway.known(tx_hash):  # never reached the node (crash, or a reset chain)
                await self._forget(connection, tx_hash, row["action"], row["product_id"], "dropped",
                                   "not known to the node")
                return
            receipt = await self.chain.wait(tx_hash)
        if not succeeded(receipt):
            await self._forget(connection, tx_hash, row["action"], row["product_id"], "reverted",
                               f"reverted in block {int(receipt['blockNumber'], 16)}")
            raise ChainReverted(row["action"], reason=f"transaction {tx_hash} reverted in block "
                                                      f"{int(receipt['blockNumber'], 16)}")
        args = orjson.loads(row["args"])
        async with connection.transaction():
            await connection.execute("UPDATE catalog_chain_txs SET status = 'mined', settled_at = now() "
                                     "WHERE tx_hash = $1", tx_hash)
            if row["action"] == "createListing":
                await connection.execute(
                    "UPDATE products SET status = 'listed', listing_id = $2, listing_tx = $3, listed_at = now(), "
                    "chain_cid = $4, chain_price = $5, chain_supply = $6 WHERE id = $1",
                    row["product_id"], self.chain.listing_id(receipt), tx_hash, args["cid"], int(args["price"]),
                    args["supply"])
            elif row["action"] == "setCid":
                await connection.execute("UPDATE products SET chain_cid = $2 WHERE id = $1", row["product_id"],
                                         args["cid"])
            elif row["action"] == "updatePrice":
                await connection.execute("UPDATE products SET chain_price = $2 WHERE id = $1", row["product_id"],
                                         int(args["price"]))
            else:
                await connection.execute("UPDATE products SET chain_supply = $2 WHERE id = $1", row["product_id"],
                                         args["supply"])

    async def _forget(self, connection, tx_hash: str, action: str, product_id, status: str, error: str) -> None:
        async with connection.transaction():
            await connection.execute("UPDATE catalog_chain_txs SET status = $2, error = $3, settled_at = now() "
                                     "WHERE tx_hash = $1", tx_hash, status, error)
            if action == "createListing":
                await connection.execute("UPDATE products SET status = 'draft', listing_tx = NULL "
                                         "WHERE id = $1 AND listing_id IS NULL", product_id)
