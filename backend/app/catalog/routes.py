"""The product catalog: admins and coaches upload images, create and update products (each version a
JSON document pinned on IPFS) and list them on the marketplace; anyone reads the catalog, and the
metadata and images verified against their CIDs."""

import uuid
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response, status
from starlette.requests import ClientDisconnect

from backend.app.catalog import cids
from backend.app.catalog.chain import CatalogChain, http_status
from backend.app.catalog.ipfs import CidNotFound, ContentMismatch, IpfsUnavailable, Kubo
from backend.app.catalog.listing import Listings, StepPending
from backend.app.catalog.models import ImagePublic, ProductIn, ProductPublic, ProductsPage, VersionsPage
from backend.app.catalog.service import IMAGE_MAGIC, Catalog, Invalid, NotFound, Read, Unsupported
from backend.app.core.pages import TIME_CURSOR
from backend.app.core.policy import Action
from backend.app.deps import BackendPool, CurrentPrincipal, PublicReads, check
from fitmint.chain.errors import ChainReverted, ChainUnavailable


@asynccontextmanager
async def lifespan(app):
    """Runs inside the app's lifespan (FastAPI nests router lifespans): its settings, Redis and pool exist."""
    settings = app.state.settings
    kubo, chain = Kubo(settings.ipfs_url), CatalogChain(settings)
    pool = app.state.backend_pool
    listings = Listings(pool, chain, wait_seconds=settings.catalog_chain_wait_seconds)
    app.state.catalog = Catalog(pool, app.state.redis, kubo, listings, settings) if pool is not None else None
    try:
        yield
    finally:
        await kubo.close()
        await chain.close()


router = APIRouter(prefix="/catalog", tags=["catalog"], lifespan=lifespan)


def get_catalog(request: Request, _: BackendPool) -> Catalog:
    """The app's catalog service, built once at start-up (503 through BackendPool when it has no database)."""
    return request.app.state.catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ProductId = Annotated[uuid.UUID, Path(description="The product's id")]
CidPath = Annotated[str, Path(max_length=128, description="A CIDv1 (raw, sha2-256, base32: bafkrei...)")]
IMMUTABLE = "public, max-age=31536000, immutable"  # content-addressed: a CID's bytes never change


@contextmanager
def answers(*, chain_note: str = ""):
    """The catalog's failures as HTTP answers with their reason."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except (Invalid, cids.InvalidCid) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except Unsupported as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from exc
    except CidNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the IPFS node does not have this content: {exc}") from exc
    except IpfsUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    except ContentMismatch as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from exc
    except ChainUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, chain_note + str(exc)) from exc
    except ChainReverted as exc:
        raise HTTPException(http_status(exc), chain_note + str(exc)) from exc


def _verified(read: Read, cid: str) -> Response:
    return Response(read.data, media_type=read.content_type,
                    headers={"Cache-Control": IMMUTABLE, "ETag": f'"{cid}"', "X-Cache": read.cache})


@router.post("/images", response_model=ImagePublic, status_code=status.HTTP_201_CREATED,
             openapi_extra={"requestBody": {"required": True, "content": {
                 kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_MAGIC}}},
             responses={413: {"description": "Larger than MAX_IMAGE_BYTES (1 MiB: one IPFS chunk)"},
                        415: {"description": "Not PNG, JPEG, GIF or WebP"},
                        422: {"description": "Content not of its declared type, or not matching expected_cid"}})
async def upload_image(request: Request, principal: CurrentPrincipal, catalog: CatalogDep,
                       expected_cid: Annotated[str | None, Query(max_length=128, description=(
                           "The CID the client computed: refused (422) if the content has another"))] = None,
                       content_type: Annotated[str | None, Header()] = None) -> ImagePublic:
    """Adds an image (the raw body, with its Content-Type) to the IPFS node, pinned; returns its CID."""
    await check(principal, Action.CATALOG_WRITE, tenant_id=principal.tenant_id)
    limit = catalog.settings.max_image_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"image larger than {limit} bytes")
    data = bytearray()
    try:
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"image larger than {limit} bytes")
    except ClientDisconnect:  # the body limit middleware already answered 413 (or the client left)
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"image larger than {limit} bytes") from None
    with answers():
        if expected_cid is not None:
            cids.digest(expected_cid)
        return ImagePublic(**await catalog.upload_image(data=bytes(data), content_type=content_type or "",
                                                        expected_cid=expected_cid, uploaded_by=principal.name))


@router.post("/products", response_model=ProductPublic, status_code=status.HTTP_201_CREATED,
             responses={422: {"description": "Validation failed (every field named), or an image CID not "
                                             "uploaded here"}})
async def create_product(body: ProductIn, principal: CurrentPrincipal, catalog: CatalogDep) -> ProductPublic:
    """Creates a product in the caller's tenant: its metadata document is pinned on IPFS as version 1."""
    await check(principal, Action.CATALOG_WRITE, tenant_id=principal.tenant_id)
    with answers():
        return ProductPublic(**await catalog.create(tenant_id=principal.tenant_id, created_by=principal.name,
                                                    body=body))


async def _synced(catalog: Catalog, product_id: str, response: Response) -> bool:
    """Brings the chain in line with the product (Listings.ensure); False, with 202 and the transaction's
    Location, when a step is still in flight after the wait (asking again goes on from it)."""
    try:
        await catalog.listings.ensure(product_id)
    except StepPending as pending:
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = f"/transactions/{pending.request_id}"
        return False
    return True


PENDING = {202: {"model": ProductPublic, "description": (
    "A transaction is still in flight after the wait: listing.transaction_id names it (Location: "
    "/transactions/{id}); asking again goes on from it, never sends a second one")}}


@router.put("/products/{product_id}", response_model=ProductPublic,
            responses={**PENDING, 502: {"description": "Saved, but the chain refused the update (reason given)"},
                       503: {"description": "Saved, but the chain or the IPFS node is unreachable"}})
async def update_product(product_id: ProductId, body: ProductIn, principal: CurrentPrincipal,
                         catalog: CatalogDep, response: Response) -> ProductPublic:
    """A new version (a new document, a new CID; earlier versions are kept). A listed product is updated
    on-chain too, through the transaction queue: the item's CID, and the listing's price and supply if they
    changed. The same body again changes nothing."""
    with answers():
        product = await catalog.row(str(product_id))
        await check(principal, Action.CATALOG_WRITE, tenant_id=product["tenant_id"])
        updated, changed = await catalog.update(product=product, created_by=principal.name, body=body)
    if changed and updated["status"] != "draft":
        note = (f"version {updated['version']} is saved, but the chain still has the previous one "
                f"(POST /catalog/products/{product_id}/listing retries): ")
        with answers(chain_note=note):
            await _synced(catalog, str(product_id), response)
            updated = await catalog.get(str(product_id))
    return ProductPublic(**updated)


@router.post("/products/{product_id}/listing", response_model=ProductPublic, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "Already listed: the listing (synced to the current version)"},
                        **PENDING,
                        409: {"description": "The marketplace is paused"},
                        502: {"description": "The chain refused the transaction (decoded custom error)"},
                        503: {"description": "The chain is unreachable or has no deployment"}})
async def list_product(product_id: ProductId, principal: CurrentPrincipal, catalog: CatalogDep,
                       response: Response) -> ProductPublic:
    """Lists the product on the Marketplace (createListing with the current CID, price and supply; proceeds
    to the treasury) through the transaction queue, which sends it from the operator pool; waits for it to
    be mined (201), or answers 202 with the transaction still in flight. Asking again returns the listing
    instead of listing twice, and brings it up to the current version if it lags."""
    with answers():
        product = await catalog.row(str(product_id))
        await check(principal, Action.CATALOG_WRITE, tenant_id=product["tenant_id"])
        synced = await _synced(catalog, str(product_id), response)
        listed = await catalog.get(str(product_id))
    if synced and product["status"] == "listed":
        response.status_code = status.HTTP_200_OK
    return ProductPublic(**listed)


@router.get("/products", dependencies=PublicReads, response_model=ProductsPage)
async def list_products(catalog: CatalogDep,
                        q: Annotated[str | None, Query(min_length=1, max_length=200,
                                                       description="Words to find in name or description "
                                                                   "(each as a prefix, all required)")] = None,
                        tenant: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$",
                                                            description="A tenant's slug")] = None,
                        listed: Annotated[bool | None, Query(description="true: only listed products")] = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50,
                        cursor: Annotated[str | None, Query(pattern=TIME_CURSOR,
                                                            description="next_cursor of the previous page")] = None,
                        ) -> ProductsPage:
    """The public catalog, newest first."""
    with answers():
        data, next_cursor = await catalog.search(q=q, tenant=tenant, listed=listed, limit=limit, cursor=cursor)
    return ProductsPage(data=[ProductPublic(**p) for p in data], next_cursor=next_cursor)


@router.get("/products/{product_id}", dependencies=PublicReads, response_model=ProductPublic)
async def read_product(product_id: ProductId, catalog: CatalogDep) -> ProductPublic:
    """A product: its current version and its listing."""
    with answers():
        return ProductPublic(**await catalog.get(str(product_id)))


@router.get("/products/{product_id}/versions", dependencies=PublicReads, response_model=VersionsPage)
async def read_versions(product_id: ProductId, catalog: CatalogDep) -> VersionsPage:
    """Every version of a product, newest first, each with its CID and document."""
    with answers():
        return VersionsPage(product_id=str(product_id), data=await catalog.versions(str(product_id)))


@router.get("/items/{item_id}", dependencies=PublicReads, response_model=ProductPublic)
async def read_item(item_id: Annotated[str, Path(pattern=r"^\d{1,78}$", description="FitItems id, decimal")],
                    catalog: CatalogDep) -> ProductPublic:
    """The product sold as on-chain item `item_id`."""
    with answers():
        return ProductPublic(**await catalog.by_item(int(item_id)))


@router.get("/metadata/{cid}", dependencies=PublicReads, response_class=Response,
            responses={200: {"content": {"application/json": {}}, "description": "The pinned document"},
                       404: {"description": "Not the CID of a catalog version"},
                       422: {"description": "Not a CIDv1 raw sha2-256 CID"},
                       502: {"description": "The IPFS node returned content that does not match the CID"}})
async def read_metadata(cid: CidPath, catalog: CatalogDep) -> Response:
    """ERC-1155 metadata of a catalog version (what `ipfs://<cid>` resolves to), verified against the CID
    on every read; served from a Redis cache (X-Cache: hit | miss | refetched)."""
    with answers():
        return _verified(await catalog.metadata(cid), cid)


@router.get("/images/{cid}", dependencies=PublicReads, response_class=Response,
            responses={200: {"content": {kind: {} for kind in IMAGE_MAGIC}, "description": "The image"},
                       404: {"description": "Not the CID of an uploaded image"},
                       422: {"description": "Not a CIDv1 raw sha2-256 CID"}})
async def read_image(cid: CidPath, catalog: CatalogDep) -> Response:
    """An uploaded image with its content type, verified against its CID."""
    with answers():
        return _verified(await catalog.image(cid), cid)
