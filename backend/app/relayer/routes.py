"""Gasless claims and purchases over HTTP: a member has the platform send their voucher claim (gathered into
claimBatch transactions) or their signed purchase intent, and reads the relay's state; admins read the
tenant's sponsorship of the day."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import AfterValidator, BaseModel, Field

from backend.app.core.inputs import RequestModel
from backend.app.core.policy import Action
from backend.app.deps import BackendPool, CurrentMember, CurrentPrincipal, UsersDep, check
from backend.app.relayer import sponsorship, store
from backend.app.relayer.chain import RelayerChain
from backend.app.relayer.claims import NotRelayable, request_claim
from backend.app.relayer.purchases import PurchaseRefused, SignedPurchase, request_purchase
from backend.app.relayer.sponsorship import SponsorshipExhausted
from fitmint.chain.errors import ChainReverted, ChainUnavailable
from fitmint.chain.intents import PurchaseIntent

router = APIRouter(tags=["relayer"])

ClaimId = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
UINT = r"^[0-9]{1,78}$"
HEX32 = r"^0x[0-9a-fA-F]{64}$"


def _uint256(value: str) -> str:
    if int(value) >= 2**256:
        raise ValueError("must be below 2**256 (a uint256)")
    return value


Uint256 = Annotated[str, Field(pattern=UINT), AfterValidator(_uint256)]


class RelayPublic(BaseModel):
    id: int
    kind: str = Field(description="claim | purchase")
    state: str = Field(description="waiting (for a batch) | batched (in a queue request not sent yet) | sent | "
                                   "mined | failed")
    reason: str | None = Field(description="Why it failed (or why it waits again: a batch it was in failed)")
    claim_id: str | None
    buyer: str | None
    intent_nonce: str | None
    transaction_request: int | None = Field(description="The transaction queue's request it went out in")
    tx_hash: str | None = Field(description="Once mined")
    block_number: int | None
    failed_batches: int
    created_at: str
    updated_at: str


class IntentIn(RequestModel):
    buyer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    listing_id: Uint256
    quantity: Uint256
    max_unit_price: Uint256 = Field(description="FIT wei: the most the buyer pays per item")
    nonce: Uint256 = Field(description="The buyer's current Marketplace nonce of a key (key << 64 | n)")
    deadline: Uint256 = Field(description="Unix time")


class PermitIn(RequestModel):
    value: Uint256 = Field(description="FIT wei the Marketplace may pull (at least the total)")
    deadline: Uint256
    v: int = Field(ge=0, le=255)
    r: str = Field(pattern=HEX32)
    s: str = Field(pattern=HEX32)


class PurchaseRelayIn(RequestModel):
    intent: IntentIn
    signature: str = Field(pattern=r"^0x([0-9a-fA-F]{2}){65}$", description="EIP-712 signature of the intent")
    permit: PermitIn = Field(description="The buyer's EIP-2612 permit (owner: the buyer, spender: the Marketplace)")


class MemberUsage(BaseModel):
    user_id: str
    relays: int


class SponsorshipPublic(BaseModel):
    day: str = Field(description="The UTC day counted (the platform's clock)")
    resets_at: str
    member_daily_relays: int = Field(description="Limit per member and day")
    tenant_daily_relays: int = Field(description="Limit for the whole tenant and day")
    tenant_relays: int = Field(description="Sponsored today in the tenant")
    members: list[MemberUsage] = Field(description="Each member sponsored today, most first")


def _chain(request: Request) -> RelayerChain:
    return request.app.state.relayer_chain


def _public(relay: dict) -> RelayPublic:
    return RelayPublic(**{key: value for key, value in relay.items() if key not in ("tenant_id", "user_id")})


def _too_many(exc: SponsorshipExhausted, request: Request) -> HTTPException:
    wait = max(1, int((exc.resets_at - request.app.state.settings.now()).total_seconds()))
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         f"{exc.reason}: sponsorship resets at {exc.resets_at.isoformat()}",
                         headers={"Retry-After": str(wait), "X-Sponsorship-Resets-At": exc.resets_at.isoformat()})


def _unavailable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the chain could not be read: {exc}")


@router.post("/rewards/vouchers/{claim_id}/relay", response_model=RelayPublic, status_code=status.HTTP_202_ACCEPTED,
             responses={200: {"description": "Asked before: the same relay"},
                        403: {"description": "Not your voucher"},
                        409: {"description": "Already claimed on the chain, or expiring"},
                        429: {"description": "Daily sponsorship used up (Retry-After: until it resets)"},
                        503: {"description": "The chain is unreachable"}})
async def relay_voucher(claim_id: ClaimId, request: Request, response: Response, principal: CurrentPrincipal,
                        pool: BackendPool) -> RelayPublic:
    """Has the platform claim your voucher for you, gas paid: it waits a second or so to be gathered with
    others into one claimBatch transaction, sent through the transaction queue. Asking again returns the same
    relay (200). Counts against your and your club's sponsored transactions of the day."""
    vouchers = request.app.state.vouchers
    voucher = await vouchers.existing(claim_id.lower())
    if voucher is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
    await check(principal, Action.RELAY_REQUEST, tenant_id=voucher["tenant_id"], user_id=voucher["user_id"])
    try:
        requested = await request_claim(pool, _chain(request), request.app.state.settings, voucher)
    except NotRelayable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except SponsorshipExhausted as exc:
        raise _too_many(exc, request) from exc
    except (ChainUnavailable, ChainReverted) as exc:
        raise _unavailable(exc) from exc
    if not requested.created:
        response.status_code = status.HTTP_200_OK
    return _public(requested.relay)


@router.get("/rewards/vouchers/{claim_id}/relay", response_model=RelayPublic)
async def read_voucher_relay(claim_id: ClaimId, request: Request, principal: CurrentPrincipal,
                             pool: BackendPool) -> RelayPublic:
    """The relay of your voucher: waiting, batched, sent, mined (with the transaction) or failed (the reason)."""
    voucher = await request.app.state.vouchers.existing(claim_id.lower())
    if voucher is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
    await check(principal, Action.RELAY_READ, tenant_id=voucher["tenant_id"], user_id=voucher["user_id"])
    relays = await store.by_claims(pool, [voucher["claim_id"]])
    if voucher["claim_id"] not in relays:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this voucher was not relayed")
    return _public(relays[voucher["claim_id"]])


@router.post("/relay/purchases", response_model=RelayPublic, status_code=status.HTTP_202_ACCEPTED,
             responses={200: {"description": "This intent was relayed before: the same relay"},
                        403: {"description": "The buyer is not one of your wallets"},
                        404: {"description": "No such listing"},
                        409: {"description": "Nonce used (replay), listing closed or short, price above the "
                                             "intent's maximum, or the purchase would revert (decoded)"},
                        422: {"description": "Not signed by the buyer (tampered), or past its deadline"},
                        429: {"description": "Daily sponsorship used up (Retry-After: until it resets)"}})
async def relay_purchase(body: PurchaseRelayIn, request: Request, response: Response, principal: CurrentMember,
                         users: UsersDep, pool: BackendPool) -> RelayPublic:
    """Buys for a wallet with no ETH: the wallet signs the PurchaseIntent (EIP-712, domain FitmintMarketplace;
    the quote gives the typed data) and the EIP-2612 permit, the platform checks both and sends
    executePurchaseIntentWithPermit through the transaction queue, paying the gas. Idempotent per (buyer,
    intent nonce)."""
    await check(principal, Action.RELAY_REQUEST, tenant_id=principal.tenant_id, user_id=principal.user_id)
    member = await users.get(principal.user_id)
    i = body.intent
    signed = SignedPurchase(
        PurchaseIntent(i.buyer.lower(), int(i.listing_id), int(i.quantity), int(i.max_unit_price), int(i.nonce),
                       int(i.deadline)), bytes.fromhex(body.signature[2:]), body.permit.model_dump())
    try:
        relay, created = await request_purchase(pool, _chain(request), request.app.state.settings,
                                                tenant_id=principal.tenant_id, user_id=principal.user_id,
                                                wallets=member["wallets"], signed=signed)
    except PurchaseRefused as exc:
        raise HTTPException(exc.status, exc.reason) from exc
    except SponsorshipExhausted as exc:
        raise _too_many(exc, request) from exc
    except (ChainUnavailable, ChainReverted) as exc:
        raise _unavailable(exc) from exc
    if not created:
        response.status_code = status.HTTP_200_OK
    return _public(relay)


@router.get("/relay/sponsorship", response_model=SponsorshipPublic)
async def read_sponsorship(request: Request, principal: CurrentPrincipal, pool: BackendPool) -> SponsorshipPublic:
    """The tenant's sponsored relays today (UTC, the platform's clock), per member, and the daily limits."""
    await check(principal, Action.SPONSORSHIP_READ, tenant_id=principal.tenant_id)
    settings = request.app.state.settings
    day = settings.now().date()
    total, members = await sponsorship.usage(pool, day=day, tenant_id=principal.tenant_id)
    limits = sponsorship.Limits.of(settings)
    return SponsorshipPublic(day=day.isoformat(), resets_at=sponsorship.day_end(day).isoformat(),
                             member_daily_relays=limits.member_daily_relays,
                             tenant_daily_relays=limits.tenant_daily_relays, tenant_relays=total,
                             members=[MemberUsage(**member) for member in members])


@router.get("/relay/{relay_id}", response_model=RelayPublic)
async def read_relay(relay_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: CurrentPrincipal,
                     pool: BackendPool) -> RelayPublic:
    """A relay (a voucher claim or a purchase) and its state."""
    row = await store.by_id(pool, relay_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
    await check(principal, Action.RELAY_READ, tenant_id=row["tenant_id"], user_id=row["user_id"])
    return _public(store.public_state(row))
