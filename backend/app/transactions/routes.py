"""Transactions through the queue (fitmint/txqueue/): an admin submits one (sent from the platform's operator
keys by the queue's worker) and reads its state, reason and attempts. Tenant-scoped: an admin sees the
requests of their own tenant only (another tenant's, and the platform's own services', answer 404)."""

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, Field

from backend.app.core.inputs import RequestModel
from backend.app.core.policy import Action
from backend.app.deps import BackendPool, CurrentPrincipal, check
from fitmint.txqueue.submit import IdempotencyConflict, TransactionRequest, submit_once

router = APIRouter(prefix="/transactions", tags=["transactions"])

STATES = ("queued", "sent", "mined", "failed", "replaced")
KEY_PATTERN = r"^[A-Za-z0-9_.:-]+$"
IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", min_length=8, max_length=128,
                                                 pattern=KEY_PATTERN)]


class TransactionIn(RequestModel):
    target: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="The contract or account called")
    calldata: str = Field(default="0x", pattern=r"^0x([0-9a-fA-F]{2})*$", max_length=2 + 2 * 131_072,
                          description="ABI-encoded call, 0x-prefixed hex")
    value: str = Field(default="0", pattern=r"^[0-9]{1,78}$", description="wei, as a decimal string")
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=128, pattern=KEY_PATTERN,
                                        description="Or the Idempotency-Key header (one of them, or both equal)")


class TransactionAccepted(BaseModel):
    id: int
    state: str
    idempotency_key: str


class AttemptPublic(BaseModel):
    tx_hash: str
    state: str = Field(description="signed (recorded, maybe not broadcast) | broadcast | mined | replaced")
    max_fee_per_gas: str
    max_priority_fee_per_gas: str
    recorded_at: str
    broadcast_at: str | None


class TransactionPublic(BaseModel):
    id: int
    idempotency_key: str
    requester: str
    target: str
    calldata: str
    value: str
    state: str = Field(description="queued | sent | mined | failed | replaced")
    reason: str | None = Field(description="Why it is in its state (a decoded revert, the fee cap, the block)")
    signer: str | None
    nonce: int | None
    gas_limit: int | None
    mined_hash: str | None
    block_number: int | None
    submitted_at: str
    updated_at: str
    attempts: list[AttemptPublic] | None = Field(default=None, description="Only in GET /transactions/{id}")


class TransactionsPage(BaseModel):
    data: list[TransactionPublic]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null on the last")


def _stored_key(tenant_id: str, key: str) -> str:
    """Idempotency keys are the tenant's own: the queue's (global) key is namespaced by the tenant."""
    return f"api:{tenant_id}:{key}"


def _public(row, attempts=None) -> TransactionPublic:
    return TransactionPublic(
        id=row["id"], idempotency_key=row["idempotency_key"].split(":", 2)[2], requester=row["requester"],
        target=row["target"], calldata="0x" + bytes(row["calldata"]).hex(), value=str(int(row["value"])),
        state=row["state"], reason=row["reason"], signer=row["signer"], nonce=row["nonce"],
        gas_limit=row["gas_limit"], mined_hash=row["mined_hash"], block_number=row["block_number"],
        submitted_at=row["submitted_at"].isoformat(), updated_at=row["updated_at"].isoformat(),
        attempts=None if attempts is None else [AttemptPublic(
            tx_hash=a["tx_hash"], state=a["state"], max_fee_per_gas=str(int(a["max_fee_per_gas"])),
            max_priority_fee_per_gas=str(int(a["max_priority_fee_per_gas"])),
            recorded_at=a["recorded_at"].isoformat(),
            broadcast_at=a["broadcast_at"].isoformat() if a["broadcast_at"] else None) for a in attempts])


@router.post("", response_model=TransactionAccepted, status_code=status.HTTP_202_ACCEPTED,
             responses={409: {"description": "The idempotency key was used for another transaction"},
                        403: {"description": "Only the tenant's admins submit transactions"}})
async def submit_transaction(body: TransactionIn, principal: CurrentPrincipal, pool: BackendPool, response: Response,
                             idempotency_key: IdempotencyHeader = None):
    """Queues a transaction, sent from the platform's operator keys by the queue's worker: 202 with its id.
    The same idempotency key again answers the same id (header `Idempotent-Replayed: true`); with another
    target, calldata, value or requester, 409. Nothing is sent twice for one key."""
    await check(principal, Action.TRANSACTION_SUBMIT, tenant_id=principal.tenant_id)
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise HTTPException(422, "the Idempotency-Key header and the body's idempotency_key differ")
    key = idempotency_key or body.idempotency_key
    if key is None:
        raise HTTPException(422, "an idempotency key is required: the Idempotency-Key header or idempotency_key")
    request = TransactionRequest(_stored_key(principal.tenant_id, key), principal.name, body.target.lower(),
                                 bytes.fromhex(body.calldata[2:]), int(body.value), tenant_id=principal.tenant_id)
    async with pool.acquire() as connection:
        try:
            request_id, created = await submit_once(connection, request)
        except IdempotencyConflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, "this idempotency key was used for another transaction "
                                                          "(another target, calldata, value or requester)") from exc
        state = await connection.fetchval("SELECT state FROM txqueue_request WHERE id = $1", request_id)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/transactions/{request_id}"
    return TransactionAccepted(id=request_id, state=state, idempotency_key=key)


@router.get("/{request_id}", response_model=TransactionPublic)
async def get_transaction(request_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: CurrentPrincipal,
                          pool: BackendPool):
    """A request's state and reason, signer and nonce, every attempt (hash, fees, state) and the mined block."""
    await check(principal, Action.TRANSACTION_READ, tenant_id=principal.tenant_id)
    async with pool.acquire() as connection:
        row = await connection.fetchrow("SELECT * FROM txqueue_request WHERE id = $1 AND tenant_id = $2",
                                        request_id, principal.tenant_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
        attempts = await connection.fetch("SELECT * FROM txqueue_attempt WHERE request_id = $1 "
                                          "ORDER BY recorded_at, max_fee_per_gas", request_id)
    return _public(row, attempts)


@router.get("", response_model=TransactionsPage)
async def list_transactions(principal: CurrentPrincipal, pool: BackendPool,
                            state: Annotated[str | None, Query(pattern="^(" + "|".join(STATES) + ")$")] = None,
                            limit: Annotated[int, Query(ge=1, le=200)] = 50,
                            cursor: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,18}$",
                                                                description="next_cursor of the previous page")]
                            = None):
    """The tenant's requests, newest first (keyset pages by id), of one state if `state` is given."""
    await check(principal, Action.TRANSACTION_READ, tenant_id=principal.tenant_id)
    before = int(cursor) if cursor else 2**63 - 1
    rows = await pool.fetch(
        """SELECT * FROM txqueue_request WHERE tenant_id = $1 AND ($2::text IS NULL OR state = $2) AND id < $3
           ORDER BY id DESC LIMIT $4""", principal.tenant_id, state, before, limit + 1)
    next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return TransactionsPage(data=[_public(row) for row in rows[:limit]], next_cursor=next_cursor)
