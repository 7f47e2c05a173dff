"""Identity endpoints: the member-facing ones (/identity/...) and ACA-Py's webhooks (/agent/webhooks/...).

Webhooks: ACA-Py posts each event to `<webhook url>/topic/<topic>/` with the `X-API-Key` given after the
`#` of its `--webhook-url` (our admin key): a wrong or missing key answers 401. The route answers at
once and applies the event after the response (handlers.apply_event, idempotent); if this process dies
first, the reconciler's poll brings the same state."""

import hmac
import json
import logging
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, HTTPException, Path, Request, Response, status
from pydantic import ConfigDict, Field

from agent.controller.acapy import AgentError, AgentUnavailable
from agent.controller.handlers import apply_event
from agent.controller.interop import EIP712_PROOF_TYPE, verify_eip712_credential, verify_with_didkit
from agent.controller.service import Identity, Refused, exchange_view
from backend.app.core.cors import READABLE_BY_ANY_ORIGIN
from backend.app.core.inputs import RequestModel
from backend.app.core.policy import Action
from backend.app.deps import (
    BackendPool,
    CurrentMember,
    CurrentPrincipal,
    PublicReads,
    SiweDep,
    UsersDep,
    check,
    link_signed_wallet,
)

router = APIRouter(tags=["identity"])
webhooks = APIRouter(tags=["agent webhooks"])
log = logging.getLogger("identity.routes")

ConnectionId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$")]


class BindingRequest(RequestModel):
    model_config = ConfigDict(extra="forbid")
    connection_id: ConnectionId
    holder_did: str = Field(pattern=r"^did:key:z[1-9A-HJ-NP-Za-km-z]{40,60}$",
                            description="the did:key of your wallet that the credential binds (your wallet "
                                        "signs presentations with it)")
    message: str = Field(max_length=4000, description="EIP-4361 message signed by the wallet (nonce from /auth/nonce)")
    signature: str = Field(max_length=200)


class AchievementRequest(RequestModel):
    model_config = ConfigDict(extra="forbid")
    connection_id: ConnectionId
    achievement: str = Field(max_length=40, description="distance-10k, distance-marathon or distance-100k")


class PresentationRequest(RequestModel):
    model_config = ConfigDict(extra="forbid")
    connection_id: ConnectionId
    purpose: str = Field(max_length=40, description="the gate to satisfy, e.g. verified-athlete")


class VerifyRequest(RequestModel):
    model_config = ConfigDict(extra="forbid")
    credential: dict = Field(description="a W3C verifiable credential (data model 1.1) with its proof")
    expected_chain_id: int | None = Field(default=None, ge=1, le=2**64 - 1,
                                          description="EIP-712 credentials: the did:pkh issuer's chain must be this "
                                                      "one (default: this platform's chain)")


class TrustedIssuer(RequestModel):
    model_config = ConfigDict(extra="forbid")
    did: str = Field(pattern=r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]{8,200}$")
    name: str = Field(min_length=1, max_length=120)


def get_identity(request: Request, pool: BackendPool) -> Identity:
    identity = getattr(request.app.state, "identity", None)
    if identity is None or identity.pool is not pool:
        identity = request.app.state.identity = Identity(pool, request.app.state.acapy, request.app.state.settings)
    return identity


async def _agent(call):
    """Agent errors as HTTP answers: unreachable 503, an error of the agent 502; refusals with their status."""
    try:
        return await call
    except Refused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except AgentUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the identity agent is unavailable: {exc}") from exc
    except AgentError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from exc


async def _own_connection(identity: Identity, principal, connection_id: str):
    connection = await identity.connection(connection_id)
    if connection is None:
        raise HTTPException(404, "no such connection")
    await check(principal, Action.IDENTITY_USE, tenant_id=str(connection["tenant_id"]),
                user_id=str(connection["user_id"]))
    return connection


@router.post("/identity/connections/invitations", status_code=status.HTTP_201_CREATED)
async def create_invitation(principal: CurrentMember, request: Request, pool: BackendPool) -> dict:
    """An out-of-band 1.1 invitation (DID Exchange 1.1, did:peer:4) for your wallet; the connection it
    makes is linked to you. Follow it at GET /identity/exchanges/{thread_id}."""
    await check(principal, Action.IDENTITY_USE, tenant_id=principal.tenant_id, user_id=principal.user_id)
    identity = get_identity(request, pool)
    return await _agent(identity.create_invitation(principal.tenant_id, principal.user_id))


@router.get("/identity/connections")
async def list_connections(principal: CurrentMember, request: Request, pool: BackendPool) -> dict:
    """Your DIDComm connections."""
    await check(principal, Action.IDENTITY_USE, tenant_id=principal.tenant_id, user_id=principal.user_id)
    return {"data": await get_identity(request, pool).connections(principal.user_id)}


@router.post("/identity/bindings", status_code=status.HTTP_202_ACCEPTED)
async def bind_wallet(body: BindingRequest, principal: CurrentMember, request: Request, pool: BackendPool,
                      siwe: SiweDep, users: UsersDep) -> dict:
    """Proves an Ethereum address (SIWE, one of your wallets or linked now) on an active connection of
    yours; the platform issues a WalletBinding credential: your holder DID <-> did:pkh:eip155:<chain>:<address>."""
    identity = get_identity(request, pool)
    connection = await _own_connection(identity, principal, body.connection_id)
    await check(principal, Action.WALLET_LINK, tenant_id=principal.tenant_id, user_id=principal.user_id)
    try:
        Identity.require_active(connection)
    except Refused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    wallet = await link_signed_wallet(principal, users, siwe, body.message, body.signature)
    return await _agent(identity.bind_wallet(connection, body.holder_did, wallet.address))


@router.post("/identity/credentials/achievements", status_code=status.HTTP_202_ACCEPTED)
async def issue_achievement(body: AchievementRequest, principal: CurrentMember, request: Request,
                            pool: BackendPool) -> dict:
    """A FitnessAchievement credential, if earned (from your accepted workouts): 409 with the reason if not."""
    identity = get_identity(request, pool)
    connection = await _own_connection(identity, principal, body.connection_id)
    return await _agent(identity.issue_achievement(connection, body.achievement))


@router.get("/identity/credentials")
async def list_credentials(principal: CurrentMember, request: Request, pool: BackendPool) -> dict:
    """Credentials issued to you, with their signed documents and revocation."""
    await check(principal, Action.IDENTITY_USE, tenant_id=principal.tenant_id, user_id=principal.user_id)
    return {"data": await get_identity(request, pool).credentials(principal.user_id)}


@router.post("/identity/credentials/{credential_id}/revoke")
async def revoke_credential(credential_id: Annotated[str, Path(max_length=100)], principal: CurrentPrincipal,
                            request: Request, pool: BackendPool) -> dict:
    """Admins: revokes a credential we issued; presentations of it are refused from now on."""
    identity = get_identity(request, pool)
    row = await identity.issued_credential(credential_id)
    if row is None:
        await check(principal, Action.IDENTITY_ADMIN, tenant_id=principal.tenant_id)
        raise HTTPException(404, "no such credential")
    await check(principal, Action.IDENTITY_ADMIN, tenant_id=str(row["tenant_id"]))
    return await identity.revoke(credential_id, principal.name)


@router.get("/identity/status/{list_id}", dependencies=PublicReads,
            responses={200: {"description": "the signed BitstringStatusListCredential"},
                       304: {"description": "not modified since the ETag sent in If-None-Match"}})
async def read_status_list(list_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, pool: BackendPool,
                           if_none_match: Annotated[str | None, Header(max_length=200)] = None) -> Response:
    """Public: a credential status list (W3C Bitstring Status List, purpose revocation) signed by our issuer
    DID. Each credential we issue names its list and index in `credentialStatus`; a set bit = revoked.
    Cacheable for IDENTITY_STATUS_MAX_AGE_SECONDS (also the list's `ttl`); revalidate with the ETag."""
    published = await get_identity(request, pool).status.published(list_id)
    if published is None:
        raise HTTPException(404, "no such status list")
    credential, revision, signed_at = published
    headers = {"ETag": f'"{revision}-{signed_at.timestamp():.0f}"',  # a re-signing (expiry) changes it too
               "Last-Modified": format_datetime(signed_at, usegmt=True),
               "Cache-Control": f"public, max-age={request.app.state.settings.identity_status_max_age_seconds}",
               **READABLE_BY_ANY_ORIGIN}
    if if_none_match is not None and headers["ETag"] in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(json.dumps(credential), media_type="application/json", headers=headers)


@router.post("/identity/trusted-issuers", status_code=status.HTTP_201_CREATED)
async def add_trusted_issuer(body: TrustedIssuer, principal: CurrentPrincipal, request: Request,
                             pool: BackendPool) -> dict:
    """Admins: credentials of this issuer DID are accepted in your tenant's presentations."""
    await check(principal, Action.IDENTITY_ADMIN, tenant_id=principal.tenant_id)
    return await get_identity(request, pool).trust(principal.tenant_id, body.did, body.name, principal.name)


@router.get("/identity/trusted-issuers")
async def list_trusted_issuers(principal: CurrentPrincipal, request: Request, pool: BackendPool) -> dict:
    """Admins: the issuers your tenant trusts (ours first, always)."""
    await check(principal, Action.IDENTITY_ADMIN, tenant_id=principal.tenant_id)
    return {"data": await get_identity(request, pool).trusted_issuers(principal.tenant_id)}


@router.post("/identity/presentations", status_code=status.HTTP_202_ACCEPTED)
async def request_presentation(body: PresentationRequest, principal: CurrentMember, request: Request,
                               pool: BackendPool) -> dict:
    """Asks your wallet (present-proof v2, DIF) for the credential a gate needs; the result (verified, or
    refused with the reasons) shows at GET /identity/exchanges/{thread_id}."""
    identity = get_identity(request, pool)
    connection = await _own_connection(identity, principal, body.connection_id)
    gate = await identity.gate(body.purpose)
    if gate is None:
        raise HTTPException(422, f"unknown purpose {body.purpose!r}")
    return await _agent(identity.request_presentation(connection, gate))


@router.post("/identity/gates/{gate}/authorize")
async def authorize_gate(gate: Annotated[str, Path(max_length=40)], principal: CurrentMember, request: Request,
                         pool: BackendPool) -> dict:
    """Allowed (200) with a verified presentation of the gate's credential type that is recent enough;
    403 with the reason otherwise."""
    await check(principal, Action.IDENTITY_USE, tenant_id=principal.tenant_id, user_id=principal.user_id)
    identity = get_identity(request, pool)
    row = await identity.gate(gate)
    if row is None:
        raise HTTPException(404, "no such gate")
    return await _agent(identity.authorize_gate(principal.user_id, row))


@router.post("/identity/credentials/verify")
async def verify_credential(body: VerifyRequest, principal: CurrentMember, request: Request, pool: BackendPool) -> dict:
    """Checks a credential outside the agent: an EIP-712-signed one (`EthereumEip712Signature2021`, issuer
    `did:pkh:eip155:<chain>:<address>`, what ACA-Py cannot verify) or any suite didkit knows (ours:
    Ed25519 over did:key), and, for credentials our issuer DID issued, their revocation in our status lists.
    200 with `ok` and the reasons either way; trust in the issuer is the caller's."""
    await check(principal, Action.IDENTITY_USE, tenant_id=principal.tenant_id, user_id=principal.user_id)
    proof = body.credential.get("proof")
    proof_type = proof.get("type") if isinstance(proof, dict) else None
    if proof_type == EIP712_PROOF_TYPE:
        verdict = await verify_eip712_credential(
            body.credential, expected_issuer_chain_id=body.expected_chain_id or request.app.state.settings.chain_id)
    else:
        verdict = await verify_with_didkit(body.credential)
    status_errors, status_warnings = await get_identity(request, pool).status_verdict(body.credential)
    errors, warnings = [*verdict.errors, *status_errors], [*verdict.warnings, *status_warnings]
    return {"ok": not errors, "errors": errors, "warnings": warnings, "proof_type": verdict.proof_type,
            "issuer": verdict.issuer}


@router.get("/identity/exchanges")
async def list_exchanges(principal: CurrentMember, request: Request, pool: BackendPool) -> dict:
    """Your exchanges, newest first: state pending/done/failed (with the reason), the agent's state."""
    await check(principal, Action.IDENTITY_USE, tenant_id=principal.tenant_id, user_id=principal.user_id)
    return {"data": await get_identity(request, pool).exchanges(principal.user_id)}


@router.get("/identity/exchanges/{thread_id}")
async def read_exchange(thread_id: Annotated[str, Path(max_length=100)], principal: CurrentPrincipal,
                        request: Request, pool: BackendPool) -> dict:
    """One exchange by its thread id (an invitation's message id for connections)."""
    row = await get_identity(request, pool).exchange(thread_id)
    if row is None:
        raise HTTPException(404, "no such exchange")
    await check(principal, Action.IDENTITY_USE, tenant_id=str(row["tenant_id"]), user_id=str(row["user_id"]))
    return exchange_view(row)


@webhooks.post("/agent/webhooks/topic/{topic}/", include_in_schema=True)
async def agent_webhook(topic: Annotated[str, Path(max_length=60, pattern=r"^[a-z0-9_]+$")], request: Request,
                        background: BackgroundTasks, pool: BackendPool,
                        x_api_key: Annotated[str | None, Header()] = None) -> dict:
    """ACA-Py's events (authenticated by the admin key it sends as X-API-Key): applied after the answer."""
    expected = request.app.state.settings.acapy_admin_key()
    if not expected or not x_api_key or not hmac.compare_digest(x_api_key.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong X-API-Key")
    try:
        record = await request.json()
    except ValueError as exc:
        raise HTTPException(422, "the body is not JSON") from exc
    if not isinstance(record, dict):
        raise HTTPException(422, "the body is not a JSON object")
    background.add_task(_apply, pool, request.app.state.acapy, topic, record)
    return {"accepted": topic}


async def _apply(pool, acapy, topic: str, record: dict) -> None:
    try:
        await apply_event(pool, acapy, topic, record)
    except Exception:  # logged; the reconciler's poll converges
        log.exception("webhook %s (%s) not applied", topic, record.get("state"))
