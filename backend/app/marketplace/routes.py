"""Marketplace reads for dApps (listings as indexed, with their catalog items) and purchase quotes (what a
wallet signs and sends to buy with an EIP-2612 permit). Public: no sign-in needed."""

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field, field_validator

from backend.app.catalog import service as catalog
from backend.app.chain.routes import chain_documents
from backend.app.core.inputs import RequestModel
from backend.app.deps import PublicReads, indexer_pool, limit_quotes
from backend.app.marketplace import listings
from backend.app.marketplace.listings import BadCursor, ListingFilter, ListingPage, Sort
from backend.app.marketplace.quote import QuoteRefused, QuoteRequest, UnknownListing, quote
from fitmint.chain.errors import ChainReverted, ChainUnavailable

router = APIRouter(tags=["marketplace"], dependencies=PublicReads)

ADDRESS = r"^0x[0-9a-fA-F]{40}$"
Address = Annotated[str, Path(pattern=ADDRESS, description="An Ethereum address")]
ListingId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The listing's id (Marketplace)")]
Wei = Annotated[str | None, Query(pattern=r"^\d{1,78}$", description="FIT wei, decimal")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(pattern=r"^(\d{1,78}-)?\d{1,18}$",
                                     description="next_cursor of the previous page (same sort)")]
Status = Annotated[Literal["open", "sold_out", "cancelled", "all"], Query(description="Default: open")]


class ItemPublic(BaseModel):
    product_id: str
    tenant: str
    name: str
    description: str
    image: str | None = Field(description="The first image's CID")
    image_url: str | None = Field(description="The image, verified against its CID (GET /catalog/images/<cid>)")
    attributes: list[dict]
    metadata_url: str = Field(description="The ERC-1155 metadata document, verified against its CID")


class ListingPublic(BaseModel):
    listing_id: int
    item_id: str
    seller: str = Field(description="Lowercase; for primary listings, the proceeds recipient (the treasury)")
    unit_price: str = Field(description="FIT wei per item")
    remaining: str
    kind: Literal["primary", "resale"]
    status: Literal["open", "sold_out", "cancelled"]
    cid: str = Field(description="The CID of the item's metadata as it stands on-chain ('' if none)")
    created_block: int
    updated_block: int
    item: ItemPublic | None = Field(description="The catalog product of this CID (null: not a catalog item here)")


class ListingDetail(ListingPublic):
    block: int | None = Field(description="The indexed block the answer is consistent at")


class ListingsPage(BaseModel):
    data: list[ListingPublic]
    block: int | None = Field(description="The indexed block the whole page is consistent at")
    next_cursor: str | None


class QuoteIn(RequestModel):
    buyer: str = Field(pattern=ADDRESS, description="The wallet that signs the permit and sends the purchase")
    quantity: int = Field(ge=1, le=2**64 - 1)
    deadline: int | None = Field(default=None, ge=0, lt=2**63,
                                 description="Unix time the permit expires (default: now + the quote TTL, 30 minutes)")

    @field_validator("deadline")
    @classmethod
    def _future(cls, deadline: int | None) -> int | None:
        if deadline is not None and not time.time() < deadline < 2**63:
            raise ValueError("deadline must be a unix time in the future")
        return deadline


class PermitMessage(BaseModel):
    owner: str
    spender: str = Field(description="The Marketplace")
    value: str = Field(description="FIT wei: the quote's total")
    nonce: str = Field(description="The owner's current permit nonce on the token")
    deadline: str


class PermitTypedData(BaseModel):
    types: dict[str, list[dict[str, str]]]
    primaryType: str
    domain: dict
    message: PermitMessage


class IntentTypedData(BaseModel):
    types: dict[str, list[dict[str, str]]]
    primaryType: str
    domain: dict
    message: dict[str, str] = Field(description="buyer, listingId, quantity, maxUnitPrice (the quoted price), nonce "
                                                "(the buyer's current Marketplace nonce, key 0), deadline")


class PurchaseCall(BaseModel):
    to: str = Field(description="The Marketplace")
    function: str
    abi: dict = Field(description="The function's ABI entry")
    args: list[str] = Field(description="Its first arguments, decimal: listingId, quantity, maxUnitPrice (the quoted "
                                        "price), permitValue, deadline")
    append: list[str] = Field(description="What follows them: the permit signature's v, r and s")


class QuotePublic(BaseModel):
    listing_id: int
    buyer: str
    item_id: str
    seller: str
    kind: Literal["primary", "resale"]
    quantity: str
    unit_price: str
    total: str = Field(description="What the buyer pays, FIT wei")
    fee: str = Field(description="To the treasury, out of the total")
    burned: str = Field(description="Burned, out of the total")
    seller_receives: str
    buyer_balance: str
    sufficient_balance: bool
    deadline: int
    block: int = Field(description="The chain block the quote was read at")
    permit: PermitTypedData = Field(description="EIP-712 typed data for eth_signTypedData_v4")
    intent: IntentTypedData = Field(description="Gasless: the PurchaseIntent typed data to sign; POST it with its "
                                                "signature and the signed permit to /relay/purchases")
    call: PurchaseCall


async def _page(request: Request, where: ListingFilter, sort: Sort, limit: int, cursor: str | None) -> ListingsPage:
    try:
        page: ListingPage = await listings.search(indexer_pool(request), where, sort=sort, limit=limit, cursor=cursor)
    except BadCursor as exc:
        raise HTTPException(422, str(exc)) from exc
    await listings.describe_items(request.app.state.backend_pool, page.items)
    return ListingsPage(data=page.items, block=page.block, next_cursor=page.next_cursor)


@router.get("/marketplace/listings", response_model=ListingsPage)
async def list_listings(request: Request, item_id: Annotated[str | None, Query(pattern=r"^\d{1,78}$")] = None,
                        seller: Annotated[str | None, Query(pattern=ADDRESS)] = None,
                        tenant: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                        kind: Literal["primary", "resale"] | None = None, status: Status = "open",
                        min_price: Wei = None, max_price: Wei = None, sort: Sort = "newest", limit: Limit = 50,
                        cursor: Cursor = None) -> ListingsPage:
    """Listings as indexed: primary sales of catalog items and resales, open ones by default, newest first (or by
    price). Filter by item, seller, the tenant whose catalog the item is in, kind and price range. Each listing
    has its item's catalog description (name, image, metadata). Amounts are FIT wei as decimal strings; pass
    `next_cursor` back as `cursor` (with the same sort) for the next page."""
    item_ids = None
    if tenant is not None:
        if request.app.state.backend_pool is None:
            raise HTTPException(503, "the catalog database is not reachable: filtering by tenant needs it")
        item_ids = await catalog.item_ids_of_tenant(request.app.state.backend_pool, tenant)
    where = ListingFilter(item_id=None if item_id is None else int(item_id), seller=seller and seller.lower(),
                          item_ids=item_ids, kind=kind, status=status,
                          min_price=None if min_price is None else int(min_price),
                          max_price=None if max_price is None else int(max_price))
    return await _page(request, where, sort, limit, cursor)


@router.get("/marketplace/listings/{listing_id}", response_model=ListingDetail,
            responses={404: {"description": "No such listing (indexed)"}})
async def read_listing(listing_id: ListingId, request: Request) -> ListingDetail:
    """One listing as indexed, whatever its status, with its catalog item."""
    listing, block = await listings.one(indexer_pool(request), listing_id)
    if listing is None:
        raise HTTPException(404, f"no listing {listing_id} has been indexed (as of block {block})")
    await listings.describe_items(request.app.state.backend_pool, [listing])
    return ListingDetail(**listing, block=block)


@router.get("/wallets/{address}/listings", response_model=ListingsPage, tags=["wallets"])
async def wallet_listings(address: Address, request: Request, status: Status = "all", limit: Limit = 50,
                          cursor: Cursor = None) -> ListingsPage:
    """The listings `address` sells (resales it created; for the treasury, the catalog's primary listings),
    every status by default, newest first."""
    return await _page(request, ListingFilter(seller=address.lower(), status=status), "newest", limit, cursor)


@router.post("/marketplace/listings/{listing_id}/quote", response_model=QuotePublic,
             dependencies=[Depends(limit_quotes)],
             responses={429: {"description": "Too many quotes from this address (Retry-After)"},
                        404: {"description": "No such listing on the chain"},
                        409: {"description": "Closed, not enough left, or the marketplace is paused"},
                        503: {"description": "The chain is unreachable"}})
async def quote_purchase(listing_id: ListingId, body: QuoteIn, request: Request) -> QuotePublic:
    """What buying `quantity` items of the listing costs now (read from the chain at `block`): the total and its
    split, the EIP-2612 permit for the total to sign (the buyer's current permit nonce, `deadline`), and the
    `purchaseWithPermit` call to send with the permit's v, r, s appended. The quoted unit price is the call's
    `maxUnitPrice`: if the price rises before the purchase is mined, the contract refuses it
    (MarketPriceAboveLimit) rather than charge more. The server never holds the buyer's key."""
    settings = request.app.state.settings
    deadline = body.deadline or int(settings.now().timestamp()) + settings.quote_ttl_seconds
    try:
        documents = chain_documents(request)
        token_name = (await documents.document())["token"]["name"]
        answer = await quote(documents.gateway, QuoteRequest(listing_id, body.buyer, body.quantity, deadline),
                             token_name=token_name)
    except UnknownListing as exc:
        raise HTTPException(404, str(exc)) from exc
    except QuoteRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    except (ChainUnavailable, ChainReverted) as exc:
        raise HTTPException(503, f"the chain could not be read for a quote: {exc}") from exc
    return QuotePublic(**answer)
