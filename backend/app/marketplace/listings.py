"""Marketplace listings as indexed (the indexer's read views, never its tables), filtered, sorted and paged
by keyset, each with its item described by the catalog version its on-chain metadata URI names."""

from dataclasses import dataclass
from typing import Literal

from backend.app.catalog import service as catalog
from backend.app.wallets.service import snapshot

# The indexer's read views these reads use, with the columns they rely on (checked against the indexer's
# schema by tests/indexer/test_wallet_api.py).
VIEWS = {
    "marketplace_listings_v1": ("listing_id", "item_id", "seller", "unit_price", "remaining", "is_primary", "cid",
                                "status", "created_block", "updated_block"),
    "item_uris_v1": ("item_id", "uri"),
}
Sort = Literal["newest", "price_asc", "price_desc"]
_ORDER = {"newest": "l.listing_id DESC", "price_asc": "l.unit_price ASC, l.listing_id ASC",
          "price_desc": "l.unit_price DESC, l.listing_id DESC"}


class BadCursor(ValueError):
    """A cursor that is not one this sort order hands out."""


@dataclass(frozen=True)
class ListingFilter:
    item_id: int | None = None
    seller: str | None = None  # lowercase
    item_ids: list[int] | None = None  # a tenant's catalog items (None: any item)
    kind: Literal["primary", "resale"] | None = None
    status: Literal["open", "sold_out", "cancelled", "all"] = "open"
    min_price: int | None = None
    max_price: int | None = None


@dataclass(frozen=True)
class ListingPage:
    items: list[dict]
    block: int | None
    next_cursor: str | None


def _conditions(where: ListingFilter, args: list) -> list[str]:
    def bind(value) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = []
    if where.item_id is not None:
        conditions.append(f"l.item_id = {bind(where.item_id)}")
    if where.item_ids is not None:
        conditions.append(f"l.item_id = ANY({bind(where.item_ids)}::numeric[])")
    if where.seller is not None:
        conditions.append(f"l.seller = {bind(where.seller)}")
    if where.kind is not None:
        conditions.append(f"l.is_primary = {bind(where.kind == 'primary')}")
    if where.status != "all":
        conditions.append(f"l.status = {bind(where.status)}")
    if where.min_price is not None:
        conditions.append(f"l.unit_price >= {bind(where.min_price)}")
    if where.max_price is not None:
        conditions.append(f"l.unit_price <= {bind(where.max_price)}")
    return conditions


def _after(sort: Sort, cursor: str | None, args: list) -> list[str]:
    """Where the page starts: past the previous page's last listing in this sort order."""
    if cursor is None:
        return []
    price, _, listing = cursor.rpartition("-")
    if (sort == "newest") != (price == ""):
        raise BadCursor(f"cursor {cursor!r} is not from a page sorted by {sort}: pass next_cursor back unchanged, "
                        "with the same sort")
    args.append(int(listing))
    if sort == "newest":
        return [f"l.listing_id < ${len(args)}"]
    args.append(int(price))
    comparison = ">" if sort == "price_asc" else "<"
    return [f"(l.unit_price, l.listing_id) {comparison} (${len(args)}, ${len(args) - 1})"]


def _cursor(sort: Sort, row) -> str:
    return str(row["listing_id"]) if sort == "newest" else f"{int(row['unit_price'])}-{row['listing_id']}"


_SELECT = ("SELECT l.listing_id, l.item_id, l.seller, l.unit_price, l.remaining, l.is_primary, l.cid, l.status, "
           "l.created_block, l.updated_block, u.uri FROM marketplace_listings_v1 l "
           "LEFT JOIN item_uris_v1 u ON u.item_id = l.item_id")


async def search(pool, where: ListingFilter, *, sort: Sort, limit: int, cursor: str | None) -> ListingPage:
    args: list = []
    conditions = _conditions(where, args) + _after(sort, cursor, args)
    args.append(limit + 1)
    query = (f"{_SELECT} {'WHERE ' + ' AND '.join(conditions) if conditions else ''} "
             f"ORDER BY {_ORDER[sort]} LIMIT ${len(args)}")
    rows, block = await snapshot(pool, query, *args)
    next_cursor = _cursor(sort, rows[limit - 1]) if len(rows) > limit else None
    return ListingPage([_listing(row) for row in rows[:limit]], block, next_cursor)


async def one(pool, listing_id: int) -> tuple[dict | None, int | None]:
    rows, block = await snapshot(pool, f"{_SELECT} WHERE l.listing_id = $1", listing_id)
    return (_listing(rows[0]) if rows else None), block


def _listing(row) -> dict:
    uri = row["uri"] or ""
    return {"listing_id": row["listing_id"], "item_id": str(int(row["item_id"])), "seller": row["seller"],
            "unit_price": str(int(row["unit_price"])), "remaining": str(int(row["remaining"])),
            "kind": "primary" if row["is_primary"] else "resale", "status": row["status"],
            # The item's metadata as it stands: its URI's CID when set (a catalog update moves it), else the
            # CID the listing was created with (empty for resale listings).
            "cid": uri.removeprefix("ipfs://") if uri.startswith("ipfs://") else row["cid"],
            "created_block": row["created_block"], "updated_block": row["updated_block"], "item": None}


# --- the catalog's side (the API's own database, through the catalog's queries) ------------------------------
async def describe_items(backend_pool, listings: list[dict]) -> None:
    """Sets each listing's `item` from the catalog version its CID names (None: not a catalog item here)."""
    cids = sorted({listing["cid"] for listing in listings if listing["cid"]})
    if backend_pool is None or not cids:
        return
    versions = await catalog.versions_by_cid(backend_pool, cids)
    for listing in listings:
        version = versions.get(listing["cid"])
        listing["item"] = None if version is None else _item(listing["cid"], version)


def _item(cid: str, version: dict) -> dict:
    document = version["document"]
    image = document.get("image", "").removeprefix("ipfs://") or None
    return {"product_id": version["product_id"], "tenant": version["tenant"], "name": document.get("name", ""),
            "description": document.get("description", ""), "image": image,
            "image_url": f"/catalog/images/{image}" if image else None,
            "attributes": document.get("attributes", []), "metadata_url": f"/catalog/metadata/{cid}"}
