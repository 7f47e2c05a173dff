"""What the catalog endpoints accept and return."""

import math
from datetime import datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from backend.app.catalog.cids import PATTERN as CID_PATTERN
from backend.app.core.inputs import RequestModel
from fitmint.units import FIT

MAX_PRICE_WEI = 2**96 - 1  # the marketplace stores unit prices as uint96
MAX_SUPPLY = 10**9

Cid = Annotated[str, StringConstraints(pattern=CID_PATTERN)]


def _fit_to_wei(value) -> int:
    """A FIT amount (decimal string or JSON number, at most 18 decimals, > 0) in wei."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("price_fit must be a decimal string or a number of FIT")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("price_fit must be finite")
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError(f"price_fit {value!r} is not a decimal number") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("price_fit must be greater than 0")
    with localcontext(prec=200):  # exact arithmetic for every amount that can pass the checks below
        if amount > Decimal(MAX_PRICE_WEI).scaleb(-18):
            raise ValueError(f"price_fit is above the marketplace's maximum of {fit_text(MAX_PRICE_WEI)} FIT")
        sign, digits, exponent = amount.as_tuple()
        trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
        if exponent + trailing_zeros < -18:
            raise ValueError("price_fit has more than 18 decimals (FIT has 18)")
        return int(amount * FIT)  # exact: at most 29 significant digits here


def fit_text(wei: int) -> str:
    """Wei as a plain FIT decimal string without trailing zeros ("12.5", "3")."""
    whole, fraction = divmod(int(wei), FIT)
    return f"{whole}.{fraction:018d}".rstrip("0").rstrip(".") if fraction else str(whole)


PriceWei = Annotated[int, BeforeValidator(_fit_to_wei),
                     WithJsonSchema({"anyOf": [
                         {"type": "string", "pattern": r"^\d{1,30}(\.\d{1,18})?$", "maxLength": 49},
                         {"type": "number", "exclusiveMinimum": 0}]})]


class Attribute(RequestModel):
    """An OpenSea-style trait."""
    model_config = ConfigDict(extra="forbid")

    trait_type: str = Field(min_length=1, max_length=64)
    value: (Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]
           | Annotated[StrictInt, Field(ge=-(2**53), le=2**53)] | StrictFloat)

    @field_validator("value", mode="before")
    @classmethod
    def _exact(cls, value):  # before: a larger integer would otherwise pass as an inexact float
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            raise ValueError("integer values must be within +-2^53 (exact in every JSON reader)")
        return value


class ProductIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=5_000)
    images: list[Cid] = Field(min_length=1, max_length=8,
                              description="CIDs returned by POST /catalog/images; the first is the main image")
    attributes: list[Attribute] = Field(default_factory=list, max_length=32)
    price_fit: PriceWei = Field(description="FIT per item: a decimal string (\"12.5\") or a number, "
                                            "> 0, at most 18 decimals; stored in wei")
    supply: int = Field(ge=1, le=MAX_SUPPLY, description="How many items the listing sells")

    @field_validator("name", "description")
    @classmethod
    def _text(cls, value: str, info) -> str:
        if info.field_name == "name" and not value.strip():
            raise ValueError("name must not be blank")
        return value

    @field_validator("images")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("images must not repeat a CID")
        return value


class ImagePublic(BaseModel):
    cid: str
    size: int
    content_type: str


class ListingPublic(BaseModel):
    listing_id: str | None = Field(description="Marketplace listing id (decimal), once mined")
    tx_hash: str | None
    listed_at: datetime | None
    chain_cid: str | None = Field(default=None, description="The CID FitItems holds for the item, as last set")
    transaction_id: int | None = Field(default=None, description=(
        "The transaction queue's request still in flight for this product (GET /transactions/{id}), if any"))


class ProductPublic(BaseModel):
    id: str
    tenant: str
    item_id: str = Field(description="The ERC-1155 id on FitItems (the product uuid as an integer), decimal")
    version: int
    cid: str
    metadata_uri: str = Field(description="ipfs://<cid>: the item's ERC-1155 uri once listed")
    name: str
    description: str
    images: list[str]
    attributes: list[dict]
    price_fit: str = Field(description="FIT per item, decimal")
    price_wei: str
    supply: int
    status: str = Field(description="draft | listing (createListing submitted, not yet mined) | listed")
    listing: ListingPublic | None
    created_at: datetime
    updated_at: datetime


class ProductsPage(BaseModel):
    data: list[ProductPublic]
    next_cursor: str | None


class VersionPublic(BaseModel):
    version: int
    cid: str
    metadata_uri: str
    document: dict
    created_at: datetime


class VersionsPage(BaseModel):
    product_id: str
    data: list[VersionPublic]
