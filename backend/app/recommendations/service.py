"""What the recommendations are ranked among and filtered by, read from the sources of truth: the tenant's
catalog products with an open marketplace listing (the API's catalog and the indexer's views, cached per
tenant for `recommend_catalog_ttl_seconds`), the items the member's wallets hold now (the indexer), and the
member's goals."""

import time
from dataclasses import dataclass

import asyncpg

from fitmint.units import fit_text


@dataclass(frozen=True)
class OnSale:
    """A tenant's product with an open listing: the cheapest one is offered."""
    product_id: str
    item_id: str
    name: str
    listing_id: str
    price_fit: str


class TenantCatalogs:
    """Per tenant: item id -> OnSale, re-read when older than `ttl` seconds (a new or sold-out listing shows
    within that time; an owned item is filtered per request, never cached)."""

    def __init__(self, ttl: float, clock=time.monotonic):
        self.ttl, self.clock = ttl, clock
        self._cached: dict[str, tuple[float, dict[str, OnSale]]] = {}

    async def on_sale(self, backend: asyncpg.Pool, indexer: asyncpg.Pool, tenant_id: str) -> dict[str, OnSale]:
        cached = self._cached.get(tenant_id)
        if cached is not None and self.clock() - cached[0] < self.ttl:
            return cached[1]
        products = await backend.fetch(
            "SELECT id::text AS id, item_id, name FROM products WHERE tenant_id = $1 AND status = 'listed'", tenant_id)
        by_item = {row["item_id"]: row for row in products}
        listings = await indexer.fetch(
            "SELECT DISTINCT ON (item_id) item_id, listing_id, unit_price FROM marketplace_listings_v1 "
            "WHERE status = 'open' AND item_id = ANY($1::numeric[]) ORDER BY item_id, unit_price, listing_id",
            list(by_item)) if by_item else []
        catalog = {str(row["item_id"]): OnSale(product_id=by_item[row["item_id"]]["id"], item_id=str(row["item_id"]),
                                               name=by_item[row["item_id"]]["name"], listing_id=str(row["listing_id"]),
                                               price_fit=fit_text(int(row["unit_price"])))
                   for row in listings}
        self._cached[tenant_id] = (self.clock(), catalog)
        return catalog


async def owned_items(backend: asyncpg.Pool, indexer: asyncpg.Pool, user_id: str) -> set[str]:
    """The items any of the member's linked wallets holds (quantity > 0)."""
    addresses = [row["address"] for row in await backend.fetch(
        "SELECT address FROM wallet_links WHERE user_id = $1", user_id)]
    if not addresses:
        return set()
    rows = await indexer.fetch(
        "SELECT DISTINCT item_id FROM wallet_items_v1 WHERE account = ANY($1::text[]) AND quantity > 0", addresses)
    return {str(row["item_id"]) for row in rows}


async def goals(backend: asyncpg.Pool, user_id: str) -> dict:
    row = await backend.fetchrow("SELECT weekly_workouts, focus FROM member_goals WHERE user_id = $1", user_id)
    return {"weekly_workouts": row["weekly_workouts"], "focus": row["focus"]} if row else \
        {"weekly_workouts": None, "focus": None}


async def set_goals(backend: asyncpg.Pool, user_id: str, weekly_workouts: int | None, focus: str | None) -> None:
    await backend.execute(
        "INSERT INTO member_goals (user_id, weekly_workouts, focus) VALUES ($1, $2, $3) ON CONFLICT (user_id) "
        "DO UPDATE SET weekly_workouts = EXCLUDED.weekly_workouts, focus = EXCLUDED.focus, updated_at = now()",
        user_id, weekly_workouts, focus)
