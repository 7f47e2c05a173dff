"""Wallet reads for dApp frontends: public chain state, as indexed, with the block it is consistent at."""

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel

from backend.app.wallets import service

router = APIRouter(prefix="/wallets", tags=["wallets"])

Address = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$", description="An Ethereum address")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(pattern=r"^\d{1,19}-\d{1,9}$", description="next_cursor of the previous page")]
Role = Annotated[Literal["buyer", "seller"], Query(description="Which side of the orders `address` is on")]


class BalancePublic(BaseModel):
    address: str
    balance: str
    block: int | None


class PagePublic(BaseModel):
    address: str
    data: list[dict]
    block: int | None
    next_cursor: str | None


class ItemsPublic(BaseModel):
    address: str
    data: list[dict]
    block: int | None


def _pool(request: Request):
    pool = getattr(request.app.state, "indexer_pool", None)
    if pool is None:
        raise HTTPException(503, "the indexer database is not reachable")
    return pool


@router.get("/{address}/balance", response_model=BalancePublic)
async def get_balance(address: Address, request: Request) -> Response:
    """FIT balance of `address`."""
    balance, block = await service.balance(_pool(request), address.lower())
    # The hottest read: serialised here instead of validated again against BalancePublic (which still
    # documents it) - the values are built right above.
    return Response(orjson.dumps({"address": address, "balance": str(balance), "block": block}),
                    media_type="application/json")


@router.get("/{address}/transfers", response_model=PagePublic)
async def get_transfers(address: Address, request: Request, limit: Limit = 50, cursor: Cursor = None) -> PagePublic:
    """FIT transfers from or to `address`, newest first."""
    page = await service.transfers(_pool(request), address.lower(), limit=limit, cursor=cursor)
    return PagePublic(address=address, data=page.items, block=page.block, next_cursor=page.next_cursor)


@router.get("/{address}/claims", response_model=PagePublic)
async def get_claims(address: Address, request: Request, limit: Limit = 50, cursor: Cursor = None) -> PagePublic:
    """Rewards paid to `address` (vouchers and Merkle epochs), newest first."""
    page = await service.claims(_pool(request), address.lower(), limit=limit, cursor=cursor)
    return PagePublic(address=address, data=page.items, block=page.block, next_cursor=page.next_cursor)


@router.get("/{address}/orders", response_model=PagePublic)
async def get_orders(address: Address, request: Request, role: Role = "buyer", limit: Limit = 50,
                     cursor: Cursor = None) -> PagePublic:
    """Marketplace orders (purchases) in which `address` is the buyer, or with `role=seller` the seller,
    newest first.

    Each order has `order_id`, `listing_id`, `buyer`, `seller`, `item_id`, `quantity`, `unit_price`
    (FIT wei per item), `fee` (to the treasury) and `burned` (FIT wei for the whole order), and the
    `block`, `log_index` and `tx_hash` of its `OrderCreated` event. Amounts and item ids are decimal
    strings; addresses are lowercase. Pass `next_cursor` back as `cursor` for the next (older) page;
    `block` is the block the whole answer is consistent at."""
    page = await service.orders(_pool(request), address.lower(), role=role, limit=limit, cursor=cursor)
    return PagePublic(address=address, data=page.items, block=page.block, next_cursor=page.next_cursor)


@router.get("/{address}/items", response_model=ItemsPublic)
async def get_items(address: Address, request: Request) -> ItemsPublic:
    """FitItems held by `address`."""
    held, block = await service.items(_pool(request), address.lower())
    return ItemsPublic(address=address, data=held, block=block)
