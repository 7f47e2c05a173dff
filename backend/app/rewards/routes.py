"""Reward vouchers for accepted workouts, and their status from the indexed chain."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from backend.app.core.inputs import RequestModel
from backend.app.core.policy import Action
from backend.app.deps import BackendPool, CurrentPrincipal, UsersDep, check, target_user
from backend.app.relayer.store import by_claims as relayed
from backend.app.rewards.service import NotRewardable, Vouchers, claim_states
from fitmint.chain.errors import ChainReverted, ChainUnavailable

router = APIRouter(prefix="/rewards", tags=["rewards"])


class VoucherRequest(RequestModel):
    account: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$",
                                description="Which of the member's linked wallets receives the FIT "
                                            "(default: the first linked)")


class VoucherPublic(BaseModel):
    claim_id: str
    workout_id: str
    user_id: str
    account: str
    amount: str = Field(description="FIT in base units (18 decimals)")
    day: int = Field(description="The UTC day (unix time // 86400) whose daily cap the voucher is charged to; "
                                 "redeemable on that day or the next")
    deadline: int = Field(description="Unix time after which the contract refuses the voucher")
    chain_id: int
    contract: str = Field(description="ActivityRewards: submit `claim((account, amount, claimId, day, deadline), "
                                      "signature)`")
    attestor: str
    signature: str
    status: str = Field(description="issued | claimed | expired, from the indexed chain")
    claimed_block: int | None = None
    claimed_tx: str | None = None
    block: int | None = Field(default=None, description="The indexed block the status is consistent at")
    relay: "VoucherRelay | None" = Field(default=None, description="The platform's relay of its claim (POST "
                                                                   "/rewards/vouchers/{claim_id}/relay), if asked")


class VoucherRelay(BaseModel):
    id: int
    state: str = Field(description="waiting | batched | sent | mined | failed")
    reason: str | None
    tx_hash: str | None
    block_number: int | None


VoucherPublic.model_rebuild()


class VouchersPage(BaseModel):
    data: list[VoucherPublic]
    next_cursor: str | None
    block: int | None


async def get_vouchers(request: Request, _: BackendPool) -> Vouchers:
    """The app's voucher service, built once at start-up (503 through BackendPool when it has no database).
    Async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request."""
    return request.app.state.vouchers


VouchersDep = Annotated[Vouchers, Depends(get_vouchers)]


async def _public(request: Request, vouchers: list[dict], *, fresh: bool = False) -> tuple[list[VoucherPublic],
                                                                                           int | None]:
    """`fresh`: vouchers created by this request, which no relay can have been asked for yet (it needs the
    voucher's claim id): their relay is not looked up."""
    states, block = await claim_states(request.app.state.indexer_pool, vouchers, request.app.state.settings.now())
    relays = {} if fresh else await relayed(request.app.state.backend_pool, [v["claim_id"] for v in vouchers])
    return [VoucherPublic(**v, **states[v["claim_id"]], block=block,
                          relay=_relay(relays.get(v["claim_id"]))) for v in vouchers], block


def _relay(relay: dict | None) -> VoucherRelay | None:
    if relay is None:
        return None
    return VoucherRelay(id=relay["id"], state=relay["state"], reason=relay["reason"], tx_hash=relay["tx_hash"],
                        block_number=relay["block_number"])


@router.post("/workouts/{workout_id}/voucher", response_model=VoucherPublic, status_code=status.HTTP_201_CREATED,
             responses={409: {"description": "Not rewardable: refused workout, nothing earned, a cap reached, or "
                                                "accepted while the tenant paid by epochs (its reward is in an "
                                                "epoch: GET /rewards/epochs/{n}/proofs/{address})"},
                        503: {"description": "The chain (or the deployment manifest) is not reachable"}})
async def issue_voucher(workout_id: uuid.UUID, request: Request, response: Response, principal: CurrentPrincipal,
                        users: UsersDep, vouchers: VouchersDep,
                        body: Annotated[VoucherRequest | None, Body()] = None) -> VoucherPublic:
    """Signs the EIP-712 voucher for an accepted workout; the wallet submits it to ActivityRewards.
    Asking again returns the same voucher (idempotent by claim id)."""
    asked = await vouchers.asked(str(workout_id))
    workout = asked.workout
    if workout is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
    await check(principal, Action.VOUCHER_ISSUE, tenant_id=workout["tenant_id"], user_id=workout["user_id"])
    member = await users.get(workout["user_id"])
    wallets = member["wallets"]
    account = (body.account if body and body.account else wallets[0] if wallets else None)
    if account is None or account.lower() not in wallets:
        raise HTTPException(422, "the account must be one of the member's linked wallets")
    try:
        issued = await vouchers.issue(asked, account)
    except NotRewardable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except (ChainUnavailable, ChainReverted) as exc:  # a read the deployment cannot answer: no voucher now
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    if not issued.created:
        response.status_code = status.HTTP_200_OK
    (public,), _ = await _public(request, [issued.voucher], fresh=issued.created)
    return public


@router.get("/vouchers", response_model=VouchersPage)
async def list_vouchers(request: Request, principal: CurrentPrincipal, users: UsersDep, vouchers: VouchersDep,
                        user_id: Annotated[uuid.UUID | None, Query()] = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50,
                        cursor: Annotated[str | None,
                                          Query(pattern=r"^\d{1,19}\.0x[0-9a-f]{64}$")] = None) -> VouchersPage:
    """A member's vouchers, newest first, each with its status on the indexed chain."""
    member = await target_user(principal, users, Action.VOUCHER_READ, user_id)
    page, next_cursor = await vouchers.list_for_user(member, limit=limit, cursor=cursor)
    data, block = await _public(request, page)
    return VouchersPage(data=data, next_cursor=next_cursor, block=block)


@router.get("/vouchers/{claim_id}", response_model=VoucherPublic)
async def read_voucher(claim_id: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")], request: Request,
                       principal: CurrentPrincipal, vouchers: VouchersDep) -> VoucherPublic:
    """One voucher and its status: issued, claimed (with block and transaction) or expired."""
    voucher = await vouchers.existing(claim_id.lower())
    if voucher is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
    await check(principal, Action.VOUCHER_READ, tenant_id=voucher["tenant_id"], user_id=voucher["user_id"])
    (public,), _ = await _public(request, [voucher])
    return public
