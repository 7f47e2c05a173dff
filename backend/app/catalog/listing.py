"""Brings a product's on-chain state in line with its current version through the transaction queue
(fitmint/txqueue): `Marketplace.createListing` the first time, then `FitItems.setCid`, `Marketplace.updatePrice`
and `updateSupply` for whatever changed since the last mined step. The API signs nothing: the queue's worker
holds the operator keys, gives the nonce, simulates (a revert comes back decoded and nothing is sent), sends,
replaces a stuck transaction and records the outcome.

Crash-safe and idempotent:
- one flow per product at a time (a PostgreSQL advisory lock on the product);
- each step is a queue request submitted in the database transaction that records it on the product
  (`products.chain_request_id`: the queue's tables are in the API's database), under an idempotency key naming
  the product, its step counter (`chain_steps`, counted up when a step settles), the action and the values it
  sets. A crash between the submit and the outcome leaves the request on the product: asking again waits for
  that request's outcome instead of submitting another, and the same step submitted again is the same request;
- a step in flight is settled before anything else is submitted: its outcome applied to `products` when
  mined, its reason raised (StepRefused) when it failed or lost its nonce.
A caller waits `wait_seconds` for each step; past that, StepPending names the request still in flight (the
API answers 202 with it) and asking again goes on from it.

A product left 'listing' by the API's own journal (before migration 0013 moved the catalog onto the queue)
is settled from its createListing transaction's receipt: listed if mined, back to draft if it reverted or the
node never had it (nobody holds its bytes to send it again), waited for while the node has it pending.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from backend.app.catalog.chain import CatalogChain, StepRefused
from backend.app.catalog.document import product_tags
from fitmint import events as ev
from fitmint.chain.errors import ChainReverted, ChainUnavailable
from fitmint.chain.gateway import succeeded
from fitmint.outbox.append import Outgoing, append
from fitmint.txqueue.submit import TransactionRequest, status, submit

MAX_STEPS = 8  # a create plus three updates, twice (an update landing mid-flow)
REQUESTER = "catalog"  # who asks the queue: the service (not the admin: any admin's retry is the same request)
SETTLED = ("mined", "failed", "replaced")


class StepPending(Exception):
    """A step's request is still in flight after the caller's wait: asking again goes on from it."""

    def __init__(self, request_id: int, state: str, reason: str | None):
        self.request_id, self.state, self.reason = request_id, state, reason
        super().__init__(f"transaction {request_id} is {state}" + (f" ({reason})" if reason else ""))


@dataclass(frozen=True)
class Step:
    action: str
    args: list  # the call's arguments
    sets: tuple  # the values it sets: part of its idempotency key

    def idempotency_key(self, product) -> str:
        return ":".join(map(str, ("catalog", product["id"], product["chain_steps"], self.action, *self.sets)))


class Listings:
    def __init__(self, pool: asyncpg.Pool, chain: CatalogChain, wait_seconds: float = 30.0,
                 poll_seconds: float = 0.1):
        self.pool = pool
        self.chain = chain
        self.wait_seconds, self.poll_seconds = wait_seconds, poll_seconds

    async def ensure(self, product_id: str) -> None:
        """Lists the product (if it is not yet) and syncs CID, price and supply to its current version."""
        async with self.pool.acquire() as connection:
            key = f"catalog:product:{product_id}"
            await connection.execute("SELECT pg_advisory_lock(hashtext($1))", key)
            try:
                for _ in range(MAX_STEPS):
                    product = await connection.fetchrow("SELECT * FROM products WHERE id = $1::uuid", product_id)
                    if product["chain_request_id"] is not None:  # in flight (a crash or an impatient caller)
                        await self._settle(connection, product["id"], product["chain_request_id"])
                        continue
                    if product["status"] == "listing":  # journaled by the API itself before the queue
                        await self._settle_journaled(connection, product)
                        continue
                    step = self._next_step(product)
                    if step is None:
                        return
                    request_id = await self._submit(connection, product, step)
                    await self._settle(connection, product["id"], request_id)
                raise ChainUnavailable("the product kept changing while it was being synced; ask again")
            finally:
                await connection.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    def _next_step(self, product) -> Step | None:
        """The next transaction, or None when the chain has the current version."""
        item_id, price = int(product["item_id"]), int(product["price_fit"])
        supply, cid = product["supply"], product["cid"]
        if product["listing_id"] is None:
            treasury = self.chain.treasury
            return Step("createListing", [item_id, price, supply, cid, treasury], (price, supply, cid, treasury))
        listing_id = int(product["listing_id"])
        if cid != product["chain_cid"]:
            return Step("setCid", [item_id, cid], (cid,))
        if product["chain_price"] is None or price != int(product["chain_price"]):
            return Step("updatePrice", [listing_id, price], (price,))
        if supply != product["chain_supply"]:
            return Step("updateSupply", [listing_id, supply], (supply,))
        return None

    async def _submit(self, connection, product, step: Step) -> int:
        """The step's queue request, recorded on the product in the same transaction."""
        target, calldata = self.chain.call(step.action, step.args)
        request = TransactionRequest(step.idempotency_key(product), REQUESTER, target, calldata,
                                     tenant_id=str(product["tenant_id"]))
        async with connection.transaction():
            request_id = await submit(connection, request)
            await connection.execute(
                "UPDATE products SET chain_request_id = $2, "
                "status = CASE WHEN listing_id IS NULL THEN 'listing' ELSE status END WHERE id = $1",
                product["id"], request_id)
        return request_id

    async def _outcome(self, connection, request_id: int) -> dict:
        """The request once settled; StepPending when it is not within the caller's wait."""
        deadline = time.monotonic() + self.wait_seconds
        while (request := await status(connection, request_id))["state"] not in SETTLED:
            if time.monotonic() >= deadline:
                raise StepPending(request_id, request["state"], request["reason"])
            await asyncio.sleep(self.poll_seconds)
        return request

    async def _settle(self, connection, product_id, request_id: int) -> None:
        """Applies a step's outcome to the product: what it set when mined; else the step is closed (the
        next one has a new key) and its reason raised."""
        request = await self._outcome(connection, request_id)
        action = self.chain.action_of(bytes(request["calldata"]))
        if request["state"] != "mined":
            await self._close(connection, product_id, request_id)
            raise StepRefused(action, request_id, request["state"], request["reason"])
        receipt = await self.chain.gateway.receipt(request["mined_hash"])
        if receipt is None:  # the chain went back since: the queue reopens and sends the request again
            raise ChainUnavailable(f"transaction {request_id} ({request['mined_hash']}) is no longer on the chain; "
                                   "the queue sends it again: ask again later")
        if action == "createListing":
            await self._listed(connection, product_id, receipt, request_id)
            return
        column = {"setCid": "chain_cid", "updatePrice": "chain_price", "updateSupply": "chain_supply"}[action]
        value = self.chain.arguments(action, bytes(request["calldata"]))[1]
        await connection.execute(f"UPDATE products SET {column} = $3, chain_steps = chain_steps + 1, "
                                 "chain_request_id = NULL WHERE id = $1 AND chain_request_id = $2",
                                 product_id, request_id, value)

    async def _listed(self, connection, product_id, receipt: dict, request_id: int | None) -> None:
        """A mined createListing: the listing id and what it set, from its ListingCreated log."""
        created = self.chain.listing_created(receipt)
        await connection.execute(
            "UPDATE products SET status = 'listed', listing_id = $2, listing_tx = $3, listed_at = now(), "
            "chain_cid = $4, chain_price = $5, chain_supply = $6, chain_steps = chain_steps + 1, "
            "chain_request_id = NULL WHERE id = $1 AND chain_request_id IS NOT DISTINCT FROM $7",
            product_id, created["listingId"], receipt["transactionHash"], created["cid"], created["unitPrice"],
            created["quantity"], request_id)
        product = await connection.fetchrow(
            "SELECT p.tenant_id, p.item_id, p.name, v.document->'attributes' AS attributes FROM products p "
            "LEFT JOIN product_versions v ON v.product_id = p.id AND v.cid = p.chain_cid WHERE p.id = $1", product_id)
        listed = ev.ProductListed(product_id=str(product_id), tenant_id=str(product["tenant_id"]),
                                  listing_id=int(created["listingId"]), item_id=str(product["item_id"]),
                                  name=product["name"], unit_price=str(created["unitPrice"]),
                                  tags=product_tags(orjson.loads(product["attributes"] or "[]")))
        await append(connection, [Outgoing(ev.product_listed_id(str(product_id), listed.listing_id),
                                           ev.PRODUCT_LISTED, listed, datetime.now(UTC))])

    async def _close(self, connection, product_id, request_id: int | None) -> None:
        """A step that did not happen: counted (a retry is a new request), and a product it was to list is a
        draft again."""
        await connection.execute(
            "UPDATE products SET chain_steps = chain_steps + 1, chain_request_id = NULL, listing_tx = "
            "CASE WHEN listing_id IS NULL THEN NULL ELSE listing_tx END, "
            "status = CASE WHEN listing_id IS NULL THEN 'draft' ELSE status END "
            "WHERE id = $1 AND chain_request_id IS NOT DISTINCT FROM $2", product_id, request_id)

    async def _settle_journaled(self, connection, product) -> None:
        """A createListing the API signed and journaled itself before the queue (its hash in listing_tx)."""
        tx_hash = product["listing_tx"]
        receipt = await self.chain.gateway.receipt(tx_hash) if tx_hash is not None else None
        if receipt is None:
            if tx_hash is not None and await self.chain.gateway.known(tx_hash):
                raise ChainUnavailable(f"the listing transaction {tx_hash} (sent before the transaction queue) is "
                                       "still pending; asking again checks it instead of sending another")
            await self._close(connection, product["id"], None)  # never reached the node, or dropped
            return
        if not succeeded(receipt):
            await self._close(connection, product["id"], None)
            raise ChainReverted("Marketplace.createListing", reason=f"transaction {tx_hash} reverted in block "
                                                                    f"{int(receipt['blockNumber'], 16)}")
        await self._listed(connection, product["id"], receipt, None)
