"""Wallet reads for dApp frontends: public chain state, as indexed, with the block it is consistent at."""

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from backend.app.deps import PublicReads, indexer_pool
from backend.app.wallets import service

router = APIRouter(prefix="/wallets", tags=["wallets"], dependencies=PublicReads)

Address = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$", description="An Ethereum address")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(pattern=r"^\d{1,19}-\d{1,9}$", description="next_cursor of the previous page")]
Role = Annotated[Literal["buyer", "seller"], Query(description="Which side of the orders `address` is on")]


class BalancePublic(BaseModel):
    address: str
    balance: str
    block: int | None


class TransferPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    block: int
    log_index: int
    tx_hash: str
    from_: str = Field(alias="from", description="Lowercase; the zero address for a mint")
    to: str = Field(description="Lowercase; the zero address for a burn")
    value: str = Field(description="FIT wei")


class ClaimPublic(BaseModel):
    claim_id: str = Field(description="The voucher's claim id, or the Merkle leaf's id")
    kind: str = Field(description="voucher | epoch")
    amount: str = Field(description="FIT wei")
    epoch: int | None = Field(description="The reward epoch it was charged to")
    block: int
    log_index: int
    tx_hash: str


class OrderPublic(BaseModel):
    order_id: int
    listing_id: int
    buyer: str
    seller: str
    item_id: str
    quantity: str
    unit_price: str = Field(description="FIT wei per item")
    fee: str = Field(description="FIT wei to the treasury, for the whole order")
    burned: str = Field(description="FIT wei burned, for the whole order")
    block: int
    log_index: int
    tx_hash: str


class HeldItemPublic(BaseModel):
    item_id: str
    quantity: str


class PagePublic(BaseModel):
    address: str
    block: int | None = Field(description="The indexed block the whole answer is consistent at")
    next_cursor: str | None


class TransfersPage(PagePublic):
    data: list[TransferPublic]


class ClaimsPage(PagePublic):
    data: list[ClaimPublic]


class OrdersPage(PagePublic):
    data: list[OrderPublic]


class ItemsPublic(BaseModel):
    address: str
    data: list[HeldItemPublic]
    block: int | None


@router.get("/{address}/balance", response_model=BalancePublic)
async def get_balance(address: Address, request: Request) -> Response:
    """FIT balance of `address`."""
    balance, block = await service.balance(indexer_pool(request), address.lower())
    # The hottest read: serialised here instead of validated again against BalancePublic (which still
    # documents it) - the values are built right above.
    return Response(orjson.dumps({"address": address, "balance": str(balance), "block": block}),
                    media_type="application/json")


@router.get("/{address}/transfers", response_model=TransfersPage)
async def get_transfers(address: Address, request: Request, limit: Limit = 50, cursor: Cursor = None) -> TransfersPage:
    """FIT transfers from or to `address`, newest first."""
    page = await service.transfers(indexer_pool(request), address.lower(), limit=limit, cursor=cursor)
    return TransfersPage(address=address, data=page.items, block=page.block, next_cursor=page.next_cursor)


@router.get("/{address}/claims", response_model=ClaimsPage)
async def get_claims(address: Address, request: Request, limit: Limit = 50, cursor: Cursor = None) -> ClaimsPage:
    """Rewards paid to `address` (vouchers and Merkle epochs), newest first."""
    page = await service.claims(indexer_pool(request), address.lower(), limit=limit, cursor=cursor)
    return ClaimsPage(address=address, data=page.items, block=page.block, next_cursor=page.next_cursor)


@router.get("/{address}/orders", response_model=OrdersPage)
async def get_orders(address: Address, request: Request, role: Role = "buyer", limit: Limit = 50,
                     cursor: Cursor = None) -> OrdersPage:
    """Marketplace orders (purchases) in which `address` is the buyer, or with `role=seller` the seller,
    newest first.

    Each order has `order_id`, `listing_id`, `buyer`, `seller`, `item_id`, `quantity`, `unit_price`
    (FIT wei per item), `fee` (to the treasury) and `burned` (FIT wei for the whole order), and the
    `block`, `log_index` and `tx_hash` of its `OrderCreated` event. Amounts and item ids are decimal
    strings; addresses are lowercase. Pass `next_cursor` back as `cursor` for the next (older) page;
    `block` is the block the whole answer is consistent at."""
    page = await service.orders(indexer_pool(request), address.lower(), role=role, limit=limit, cursor=cursor)
    return OrdersPage(address=address, data=page.items, block=page.block, next_cursor=page.next_cursor)


@router.get("/{address}/items", response_model=ItemsPublic)
async def get_items(address: Address, request: Request) -> ItemsPublic:
    """FitItems held by `address`."""
    held, block = await service.items(indexer_pool(request), address.lower())
    return ItemsPublic(address=address, data=held, block=block)
