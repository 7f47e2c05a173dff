"""Reward epochs and their Merkle proofs over HTTP. Public, like the wallet reads: a posted root, its leaves
(account, amount) and their claims are public on chain; a proof lets anyone submit the claim, and
`claimEpoch` pays the named account only."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field

from backend.app.deps import BackendPool, PublicReads
from backend.app.rewards import epoch_reads
from fitmint.chain.errors import ChainUnavailable

router = APIRouter(prefix="/rewards/epochs", tags=["rewards"], dependencies=PublicReads)

EpochNumber = Annotated[int, Path(ge=0, le=2**62, description="The epoch number (ActivityRewards.currentEpoch())")]
Address = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$", description="An Ethereum address")]
Before = Annotated[int | None, Query(ge=0, le=2**62, description="next_cursor of the previous page")]


class EpochPublic(BaseModel):
    epoch: int
    starts_at: datetime = Field(description="Start of the epoch in block time (the contract's schedule)")
    ends_at: datetime
    state: str = Field(description="submitted (root stored, postEpochRoot queued) | posted (mined) | failed "
                                   "(reason) | carried (its budget was spent: its accruals moved to the next epoch)")
    reason: str | None = Field(description="Why it is failed or carried, or how its accruals were scaled")
    root: str | None
    total: str = Field(description="FIT wei the root pays")
    accrued: str = Field(description="FIT wei its accruals asked for (more than total when scaled to the budget)")
    available: str = Field(description="FIT wei the contract would still accept for the epoch when it was closed")
    leaves: int = Field(description="One leaf per account")
    accruals: int = Field(description="Accepted workouts paid by the root")
    tx_request_id: int | None = Field(description="The transaction queue's request of postEpochRoot")
    tx_hash: str | None = Field(description="The mined postEpochRoot transaction")
    block_number: int | None
    closed_at: datetime
    settled_at: datetime | None
    claimed_total: str = Field(description="FIT wei claimed from it on the indexed chain")
    claimed_leaves: int


class EpochsPage(BaseModel):
    data: list[EpochPublic]
    next_cursor: int | None = Field(description="`before` for the next (older) page")
    block: int | None = Field(description="The indexed block the claimed totals are consistent at")


class EpochProof(BaseModel):
    epoch: int
    index: int = Field(description="The leaf's index: claimEpoch(epoch, index, account, amount, proof)")
    account: str
    amount: str = Field(description="FIT wei")
    accrued: str = Field(description="FIT wei accrued (more than amount when the epoch was scaled to its budget)")
    proof: list[str]
    root: str
    contract: str = Field(description="ActivityRewards")
    chain_id: int
    claimed: bool = Field(description="Its EpochRewardClaimed is indexed (whoever sent the claim)")
    claimed_block: int | None
    claimed_tx: str | None
    block: int | None = Field(description="The indexed block `claimed` is consistent at")


def _contract(request: Request) -> str:
    try:
        return request.app.state.rewards_chain.contract
    except ChainUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc


@router.get("", response_model=EpochsPage, responses={503: {"description": "No contracts deployment"}})
async def list_epochs(request: Request, pool: BackendPool, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                      before: Before = None) -> EpochsPage:
    """The closed reward epochs of the deployment, newest first: state, root, total, posting transaction,
    leaves, and what was claimed from each on the indexed chain. Epochs without accruals are never closed."""
    epochs, next_cursor, block = await epoch_reads.list_epochs(
        pool, request.app.state.indexer_pool, chain_id=request.app.state.settings.chain_id,
        contract=_contract(request), limit=limit, before=before)
    return EpochsPage(data=[EpochPublic(**e) for e in epochs], next_cursor=next_cursor, block=block)


@router.get("/{epoch}/proofs/{address}", response_model=EpochProof,
            responses={404: {"description": "The epoch is not closed, its root is not posted, or the address has no "
                                            "leaf in it (the reason says which)"}})
async def epoch_proof(epoch: EpochNumber, address: Address, request: Request, pool: BackendPool) -> EpochProof:
    """The address's leaf of the epoch and its Merkle proof, once the root is posted on chain; submit
    `ActivityRewards.claimEpoch(epoch, index, account, amount, proof)` from any wallet."""
    chain_id, contract = request.app.state.settings.chain_id, _contract(request)
    closed = await epoch_reads.epoch_state(pool, chain_id=chain_id, contract=contract, epoch=epoch)
    if closed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"epoch {epoch} is not closed (it has not ended, or nothing "
                                                       "accrued to it)")
    if closed["state"] != "posted":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"epoch {epoch}'s root is not posted on chain: it is "
                                                       f"{closed['state']}" + (f" ({closed['reason']})"
                                                                               if closed["reason"] else ""))
    found = await epoch_reads.leaf(pool, request.app.state.indexer_pool, chain_id=chain_id, contract=contract,
                                   epoch=epoch, account=address)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{address} has no leaf in epoch {epoch}: nothing accrued "
                                                       "to it from its members' workouts")
    return EpochProof(**found)
