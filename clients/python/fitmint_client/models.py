"""Typed answers of the API. Amounts (FIT wei), quantities and item ids are ints here and decimal strings
on the wire (pydantic converts them). Unknown extra fields are ignored; tests/clients/test_python_client.py
fails when a model's fields or their required-ness drift from the API's OpenAPI schema."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# --- auth ---------------------------------------------------------------------------------------------------
class Tokens(Model):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(Model):
    did: str
    address: str | None
    chain_id: int | None
    tenant_id: str
    user_id: str | None
    role: str


class SignedIn(Model):
    """What sign_in returns: the session's tokens and who they belong to."""

    access_token: str
    refresh_token: str
    expires_in: int
    user_id: str | None
    tenant_id: str
    address: str | None
    role: str


# --- the chain document -------------------------------------------------------------------------------------
class SiweInfo(Model):
    domain: str
    uri: str
    statement: str


class TokenInfo(Model):
    address: str
    name: str
    symbol: str
    decimals: int


class ContractInfo(Model):
    address: str
    deploy_block: int
    abi_url: str


class TypedDataSpec(Model):
    domain: dict[str, Any]
    primaryType: str
    types: dict[str, list[dict[str, str]]]


class Eip712Info(Model):
    reward_voucher: TypedDataSpec
    permit: TypedDataSpec


class ChainInfo(Model):
    api_version: str
    chain_id: int
    rpc_url: str
    deploy_block: int
    siwe: SiweInfo
    token: TokenInfo
    contracts: dict[str, ContractInfo]
    eip712: Eip712Info


# --- fitness and rewards ------------------------------------------------------------------------------------
class GpsSummary(Model):
    points: int
    distance_m: float
    max_speed_mps: float | None = None


class Rejection(Model):
    code: str
    reason: str


class Workout(Model):
    id: str
    user_id: str
    activity: str
    started_at: datetime
    ended_at: datetime
    distance_m: float | None
    steps: int | None
    calories: float | None
    avg_heart_rate: int | None
    max_heart_rate: int | None
    gps: GpsSummary | None
    status: str
    rejections: list[Rejection]
    submitted_by: str
    created_at: datetime
    review_status: str | None = None  # pending (flagged by the anti-cheat model), cleared or confirmed by a coach


class Voucher(Model):
    claim_id: str
    workout_id: str
    user_id: str
    account: str
    amount: int
    day: int
    deadline: int
    chain_id: int
    contract: str
    attestor: str
    signature: str
    status: str
    claimed_block: int | None = None
    claimed_tx: str | None = None
    block: int | None = None
    relay: "VoucherRelay | None" = None


class VoucherRelay(Model):
    """The platform's relay of a voucher's claim (gasless): its state, and the transaction once mined."""

    id: int
    state: str
    reason: str | None
    tx_hash: str | None
    block_number: int | None


Voucher.model_rebuild()  # its `relay` names VoucherRelay, defined after it


class Relay(Model):
    """A claim or purchase the platform sends for the member: waiting, batched, sent, mined or failed."""

    id: int
    kind: Literal["claim", "purchase"]
    state: Literal["waiting", "batched", "sent", "mined", "failed"]
    reason: str | None
    claim_id: str | None
    buyer: str | None
    intent_nonce: int | None
    transaction_request: int | None
    tx_hash: str | None
    block_number: int | None
    failed_batches: int
    created_at: datetime
    updated_at: datetime


class Epoch(Model):
    """A closed reward epoch: its root, what it pays, and what was claimed from it on the indexed chain."""

    epoch: int
    starts_at: datetime
    ends_at: datetime
    state: Literal["submitted", "posted", "failed", "carried"]
    reason: str | None
    root: str | None
    total: int
    accrued: int
    available: int
    leaves: int
    accruals: int
    tx_request_id: int | None
    tx_hash: str | None
    block_number: int | None
    closed_at: datetime
    settled_at: datetime | None
    claimed_total: int
    claimed_leaves: int


class EpochsPage(Model):
    data: list[Epoch]
    next_cursor: int | None
    block: int | None


class EpochProof(Model):
    """An account's leaf of a posted epoch: what `claim_epoch` sends to ActivityRewards.claimEpoch."""

    epoch: int
    index: int
    account: str
    amount: int
    accrued: int
    proof: list[str]
    root: str
    contract: str
    chain_id: int
    claimed: bool
    claimed_block: int | None
    claimed_tx: str | None
    block: int | None


class Transaction(Model):
    """A mined transaction the client sent for the member."""

    tx_hash: str
    block_number: int


# --- wallet reads (the indexed chain, with the block each answer is consistent at) ---------------------------
class Balance(Model):
    address: str
    balance: int
    block: int | None


class Transfer(Model):
    block: int
    log_index: int
    tx_hash: str
    from_: str = Field(alias="from")
    to: str
    value: int


class Claim(Model):
    claim_id: str | None
    kind: str
    amount: int
    epoch: int | None
    block: int
    log_index: int
    tx_hash: str


class Order(Model):
    order_id: int
    listing_id: int
    buyer: str
    seller: str
    item_id: int
    quantity: int
    unit_price: int
    fee: int
    burned: int
    block: int
    log_index: int
    tx_hash: str


class HeldItem(Model):
    item_id: int
    quantity: int


class TransfersPage(Model):
    address: str
    data: list[Transfer]
    block: int | None
    next_cursor: str | None


class ClaimsPage(Model):
    address: str
    data: list[Claim]
    block: int | None
    next_cursor: str | None


class OrdersPage(Model):
    address: str
    data: list[Order]
    block: int | None
    next_cursor: str | None


class Items(Model):
    address: str
    data: list[HeldItem]
    block: int | None


# --- marketplace --------------------------------------------------------------------------------------------
class ListingItem(Model):
    """The catalog item a listing sells (the version its on-chain metadata URI names)."""

    product_id: str
    tenant: str
    name: str
    description: str
    image: str | None
    image_url: str | None
    attributes: list[dict[str, Any]]
    metadata_url: str


class Listing(Model):
    listing_id: int
    item_id: int
    seller: str
    unit_price: int
    remaining: int
    kind: Literal["primary", "resale"]
    status: Literal["open", "sold_out", "cancelled"]
    cid: str
    created_block: int
    updated_block: int
    item: ListingItem | None


class ListingDetail(Listing):
    block: int | None


class ItemImage(Model):
    content_type: str
    data: bytes


class ListingsPage(Model):
    data: list[Listing]
    block: int | None
    next_cursor: str | None


class PermitMessage(Model):
    owner: str
    spender: str
    value: int
    nonce: int
    deadline: int


class PermitTypedData(Model):
    types: dict[str, list[dict[str, str]]]
    primaryType: str
    domain: dict[str, Any]
    message: PermitMessage


class IntentTypedData(Model):
    """The PurchaseIntent to sign for a gasless purchase (uint256 values as decimal strings)."""

    types: dict[str, list[dict[str, str]]]
    primaryType: str
    domain: dict[str, Any]
    message: dict[str, str]


class QuoteCall(Model):
    to: str
    function: str
    abi: dict[str, Any]
    args: list[str]
    append: list[str]


class Quote(Model):
    listing_id: int
    buyer: str
    item_id: int
    seller: str
    kind: Literal["primary", "resale"]
    quantity: int
    unit_price: int
    total: int
    fee: int
    burned: int
    seller_receives: int
    buyer_balance: int
    sufficient_balance: bool
    deadline: int
    block: int
    permit: PermitTypedData
    call: QuoteCall
    intent: IntentTypedData


class Purchase(Model):
    """A purchase the client sent and saw mined: the order it created."""

    order_id: int
    tx_hash: str
    block_number: int
    quote: Quote


# --- notifications and identity -----------------------------------------------------------------------------
class Notification(Model):
    id: str
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    corrects: str | None
    created_at: str
    read: bool


class NotificationsPage(Model):
    data: list[Notification]
    next_cursor: str | None
    unread: int


class IdentityStatus(Model):
    """The member's DIDComm connections and the credentials issued to them (each as the API gives it)."""

    connections: list[dict[str, Any]]
    credentials: list[dict[str, Any]]
