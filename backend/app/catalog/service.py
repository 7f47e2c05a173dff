"""The catalog: images and product versions pinned on IPFS, products and their versions in PostgreSQL,
public reads verified against their CIDs (metadata cached in Redis), on-chain listing via `Listings`."""

import re
import uuid
from dataclasses import dataclass

import asyncpg
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.app.catalog import cids
from backend.app.catalog.document import canonical_bytes, image_cids, metadata_document
from backend.app.catalog.ipfs import Kubo
from backend.app.catalog.listing import Listings
from backend.app.catalog.models import ProductIn, fit_text
from backend.app.core.config import Settings
from backend.app.core.pages import decode_cursor, page

IMAGE_MAGIC = {
    "image/png": (lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    "image/jpeg": (lambda b: b.startswith(b"\xff\xd8\xff")),
    "image/gif": (lambda b: b[:6] in (b"GIF87a", b"GIF89a")),
    "image/webp": (lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
}
MAX_DOCUMENT_BYTES = 256 * 1024  # a product document is at most ~30 KB (5,000-character description, 32 traits)
_PRODUCT = ("SELECT p.*, t.slug AS tenant, v.document FROM products p JOIN tenants t ON t.id = p.tenant_id "
            "JOIN product_versions v ON v.product_id = p.id AND v.version = p.version")


class NotFound(Exception):
    """404."""


class Invalid(Exception):
    """422 with the reason."""


class Unsupported(Exception):
    """415: not an image type the catalog takes."""


@dataclass(frozen=True)
class Read:
    data: bytes
    content_type: str
    cache: str  # hit | miss | refetched (the cached copy failed verification and was replaced)


def item_id_of(product_id: uuid.UUID) -> int:
    """The ERC-1155 id of a product: its uuid as a 128-bit integer (unique across databases sharing a chain)."""
    return product_id.int


def public(row) -> dict:
    document = orjson.loads(row["document"])
    listing = None
    if row["listing_tx"] is not None or row["listing_id"] is not None or row["chain_request_id"] is not None:
        listing = {"listing_id": None if row["listing_id"] is None else str(int(row["listing_id"])),
                   "tx_hash": row["listing_tx"], "listed_at": row["listed_at"], "chain_cid": row["chain_cid"],
                   "transaction_id": row["chain_request_id"]}
    return {"id": str(row["id"]), "tenant": row["tenant"], "item_id": str(int(row["item_id"])),
            "version": row["version"], "cid": row["cid"], "metadata_uri": f"ipfs://{row['cid']}",
            "name": row["name"], "description": row["description"], "images": image_cids(document),
            "attributes": document["attributes"], "price_fit": fit_text(int(row["price_fit"])),
            "price_wei": str(int(row["price_fit"])), "supply": row["supply"], "status": row["status"],
            "listing": listing, "created_at": row["created_at"], "updated_at": row["updated_at"]}


def search_query(q: str) -> str | None:
    """Every word of `q` as a prefix, all required: "run shoe" -> 'run:* & shoe:*' (None: no words)."""
    words = re.findall(r"\w+", q.lower())[:16]
    return " & ".join(f"{word}:*" for word in words) or None


async def product_for_item(connection, item_id: int) -> dict | None:
    """The catalog product sold as on-chain item `item_id` (for order receipts): product_id, name, the
    current cid and version, tenant_id, price_wei, listing_id; None for items not in this catalog."""
    if not 0 <= item_id < 2**256:
        return None
    row = await connection.fetchrow("SELECT id, tenant_id, name, cid, version, price_fit, listing_id FROM products "
                                    "WHERE item_id = $1", item_id)
    if row is None:
        return None
    return {"product_id": str(row["id"]), "tenant_id": str(row["tenant_id"]), "name": row["name"],
            "cid": row["cid"], "version": row["version"], "price_wei": str(int(row["price_fit"])),
            "listing_id": None if row["listing_id"] is None else int(row["listing_id"])}


async def item_ids_of_tenant(pool, tenant: str) -> list[int]:
    """The on-chain item ids of the products in tenant `tenant`'s catalog (by its slug)."""
    rows = await pool.fetch("SELECT p.item_id FROM products p JOIN tenants t ON t.id = p.tenant_id "
                            "WHERE t.slug = $1", tenant)
    return [int(row["item_id"]) for row in rows]


async def versions_by_cid(pool, cids: list[str]) -> dict[str, dict]:
    """The catalog versions with these CIDs: cid -> {document, product_id, tenant (slug)}."""
    rows = await pool.fetch(
        "SELECT v.cid, v.document::text AS document, p.id::text AS product_id, t.slug AS tenant "
        "FROM product_versions v JOIN products p ON p.id = v.product_id JOIN tenants t ON t.id = p.tenant_id "
        "WHERE v.cid = ANY($1::text[])", cids)
    return {row["cid"]: {"document": orjson.loads(row["document"]), "product_id": row["product_id"],
                         "tenant": row["tenant"]} for row in rows}


class Catalog:
    def __init__(self, pool: asyncpg.Pool, redis: Redis, kubo: Kubo, listings: Listings, settings: Settings):
        self.pool = pool
        self.redis = redis
        self.kubo = kubo
        self.listings = listings
        self.settings = settings

    # --- images -------------------------------------------------------------------------------------
    async def upload_image(self, *, data: bytes, content_type: str, expected_cid: str | None,
                           uploaded_by: str) -> dict:
        content_type = content_type.split(";")[0].strip().lower()
        if content_type not in IMAGE_MAGIC:
            raise Unsupported(f"Content-Type {content_type or '(none)'} is not accepted: send one of "
                              f"{', '.join(IMAGE_MAGIC)}")
        if not data:
            raise Invalid("the request body is empty: send the image bytes")
        if not IMAGE_MAGIC[content_type](data):
            raise Invalid(f"the content is not a {content_type} image (its first bytes do not match the format)")
        cid = cids.compute(data)
        if expected_cid is not None and expected_cid != cid:
            raise Invalid(f"the content does not match expected_cid {expected_cid}: its CID is {cid}")
        await self.kubo.add(data)
        await self.pool.execute("INSERT INTO images (cid, content_type, size, uploaded_by) VALUES ($1, $2, $3, $4) "
                                "ON CONFLICT (cid) DO NOTHING", cid, content_type, len(data), uploaded_by)
        return {"cid": cid, "size": len(data), "content_type": content_type}

    async def image(self, cid: str) -> Read:
        cids.digest(cid)
        content_type = await self.pool.fetchval("SELECT content_type FROM images WHERE cid = $1", cid)
        if content_type is None:
            raise NotFound(f"no catalog image has CID {cid}")
        return Read(await self.kubo.cat(cid, self.settings.max_image_bytes), content_type, "miss")

    # --- products -----------------------------------------------------------------------------------
    async def _check_images(self, images: list[str]) -> None:
        known = {r["cid"] for r in await self.pool.fetch("SELECT cid FROM images WHERE cid = ANY($1::text[])", images)}
        missing = [cid for cid in images if cid not in known]
        if missing:
            raise Invalid(f"unknown CID(s) in images: {', '.join(missing)}: upload each image with "
                          "POST /catalog/images first")

    async def _pin(self, document: dict) -> str:
        return await self.kubo.add(canonical_bytes(document))

    async def create(self, *, tenant_id: str, created_by: str, body: ProductIn) -> dict:
        await self._check_images(body.images)
        product_id = uuid.uuid4()
        item_id = item_id_of(product_id)
        document = metadata_document(product_id=str(product_id), item_id=item_id, version=1, body=body)
        cid = await self._pin(document)
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO products (id, tenant_id, item_id, version, cid, name, description, price_fit, supply, "
                "created_by) VALUES ($1, $2::uuid, $3, 1, $4, $5, $6, $7, $8, $9)",
                product_id, tenant_id, item_id, cid, body.name, body.description, body.price_fit, body.supply,
                created_by)
            await connection.execute(
                "INSERT INTO product_versions (product_id, version, cid, document, created_by) "
                "VALUES ($1, 1, $2, $3::jsonb, $4)", product_id, cid, orjson.dumps(document).decode(), created_by)
        return await self.get(str(product_id))

    async def update(self, *, product: dict, created_by: str, body: ProductIn) -> tuple[dict, bool]:
        """A new version (new CID) unless the body equals the current version; (product, changed)."""
        await self._check_images(body.images)
        product_id, item_id = product["id"], int(product["item_id"])
        for _ in range(3):  # another update may commit between reading the version and storing ours
            current = await self.pool.fetchrow("SELECT v.version, v.document FROM product_versions v JOIN products p "
                                               "ON p.id = v.product_id AND p.version = v.version WHERE p.id = $1::uuid",
                                               product_id)
            same = metadata_document(product_id=product_id, item_id=item_id, version=current["version"], body=body)
            if same == orjson.loads(current["document"]):
                return await self.get(product_id), False
            version = current["version"] + 1
            document = metadata_document(product_id=product_id, item_id=item_id, version=version, body=body)
            cid = await self._pin(document)
            async with self.pool.acquire() as connection, connection.transaction():
                stored = await connection.fetchval("SELECT version FROM products WHERE id = $1::uuid FOR UPDATE",
                                                   product_id)
                if stored != current["version"]:
                    continue
                await connection.execute(
                    "INSERT INTO product_versions (product_id, version, cid, document, created_by) "
                    "VALUES ($1::uuid, $2, $3, $4::jsonb, $5)", product_id, version, cid,
                    orjson.dumps(document).decode(), created_by)
                await connection.execute(
                    "UPDATE products SET version = $2, cid = $3, name = $4, description = $5, price_fit = $6, "
                    "supply = $7, updated_at = now() WHERE id = $1::uuid", product_id, version, cid, body.name,
                    body.description, body.price_fit, body.supply)
            return await self.get(product_id), True
        raise Invalid("the product is being updated concurrently; try again")

    async def get(self, product_id: str) -> dict:
        row = await self.pool.fetchrow(f"{_PRODUCT} WHERE p.id = $1::uuid", product_id)
        if row is None:
            raise NotFound("no such product")
        return public(row)

    async def by_item(self, item_id: int) -> dict:
        if not 0 <= item_id < 2**256:
            raise NotFound("no such item")
        row = await self.pool.fetchrow(f"{_PRODUCT} WHERE p.item_id = $1", item_id)
        if row is None:
            raise NotFound(f"no catalog product is item {item_id}")
        return public(row)

    async def search(self, *, q: str | None, tenant: str | None, listed: bool | None, limit: int,
                     cursor: str | None) -> tuple[list[dict], str | None]:
        query = search_query(q) if q is not None else None
        if q is not None and query is None:
            return [], None  # no words to search for
        before, before_id = decode_cursor(cursor)  # the route's TIME_CURSOR pattern makes it well-formed
        rows = await self.pool.fetch(
            f"{_PRODUCT} WHERE (p.created_at, p.id) < ($1, $2::uuid) "
            "AND ($3::text IS NULL OR p.search @@ to_tsquery('simple', $3)) "
            "AND ($4::text IS NULL OR t.slug = $4) "
            "AND ($5::boolean IS NULL OR (p.status = 'listed') = $5) "
            "ORDER BY p.created_at DESC, p.id DESC LIMIT $6", before, before_id, query, tenant, listed, limit + 1)
        return page(rows, limit, "created_at", "id", public)

    async def versions(self, product_id: str) -> list[dict]:
        rows = await self.pool.fetch("SELECT version, cid, document, created_at FROM product_versions "
                                     "WHERE product_id = $1::uuid ORDER BY version DESC", product_id)
        if not rows:
            raise NotFound("no such product")
        return [{"version": r["version"], "cid": r["cid"], "metadata_uri": f"ipfs://{r['cid']}",
                 "document": orjson.loads(r["document"]), "created_at": r["created_at"]} for r in rows]

    async def row(self, product_id: str) -> dict:
        """The product's tenant and ids, for authorization (NotFound when there is none)."""
        row = await self.pool.fetchrow("SELECT id::text, tenant_id::text, item_id, status FROM products "
                                       "WHERE id = $1::uuid", product_id)
        if row is None:
            raise NotFound("not found in your tenant")
        return dict(row)

    # --- metadata -----------------------------------------------------------------------------------
    async def metadata(self, cid: str) -> Read:
        """A catalog version's document, verified against its CID: from Redis when the cached copy verifies,
        else from Kubo (verified, then cached)."""
        cids.digest(cid)
        if await self.pool.fetchval("SELECT 1 FROM product_versions WHERE cid = $1 LIMIT 1", cid) is None:
            raise NotFound(f"no catalog version has CID {cid}")
        key = f"catalog:metadata:{cid}"
        state = "miss"
        try:
            cached = await self.redis.get(key)
        except RedisError:
            cached = None
        if cached is not None:
            if cids.matches(cid, cached):
                return Read(cached, "application/json", "hit")
            state = "refetched"
            try:
                await self.redis.delete(key)
            except RedisError:
                pass
        data = await self.kubo.cat(cid, MAX_DOCUMENT_BYTES)
        try:
            await self.redis.set(key, data, ex=self.settings.metadata_cache_ttl_seconds)
        except RedisError:
            pass
        return Read(data, "application/json", state)
