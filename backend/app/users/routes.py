"""Members of a tenant: profiles, preferences, linked wallets, roles; the tenant's service clients."""

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field

from agent.controller.routes import get_identity
from agent.controller.service import revoke_wallet_bindings
from backend.app.auth.tokens import service_session
from backend.app.core.inputs import RequestModel
from backend.app.core.pages import TIME_CURSOR
from backend.app.core.policy import Action
from backend.app.deps import (
    BackendPool,
    CurrentMember,
    CurrentPrincipal,
    SiweDep,
    TokensDep,
    UsersDep,
    check,
    link_signed_wallet,
    load_user,
)
from backend.app.users.models import (
    MemberPublic,
    MembersPage,
    Preferences,
    ProfileUpdate,
    RoleUpdate,
    UserPublic,
    WalletProof,
)
from backend.app.users.service import Conflict, NotFound, ServiceClients

router = APIRouter(tags=["users"])

Address = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]
MembersCursor = Annotated[str | None, Query(pattern=TIME_CURSOR)]


@router.get("/users/me", response_model=UserPublic)
async def read_me(principal: CurrentMember, users: UsersDep) -> UserPublic:
    """Your profile, preferences and linked wallets."""
    return UserPublic(**await load_user(users, principal, Action.PROFILE_READ, uuid.UUID(principal.user_id)))


@router.patch("/users/me", response_model=UserPublic)
async def update_me(body: ProfileUpdate, principal: CurrentMember, users: UsersDep) -> UserPublic:
    """Changes the given profile fields (omitted fields stay as they are)."""
    await check(principal, Action.PROFILE_UPDATE, tenant_id=principal.tenant_id, user_id=principal.user_id)
    await users.update_profile(principal.user_id, body.model_dump(exclude_unset=True))
    return UserPublic(**await users.get(principal.user_id))


@router.put("/users/me/preferences", response_model=UserPublic)
async def set_preferences(body: Preferences, principal: CurrentMember, users: UsersDep) -> UserPublic:
    """Replaces your preferences: units, time zone, notification channels, reminder times, privacy."""
    await check(principal, Action.PROFILE_UPDATE, tenant_id=principal.tenant_id, user_id=principal.user_id)
    if "email" in body.notification_channels and body.email is None:
        raise HTTPException(422, "the email channel needs an email address")
    if "sms" in body.notification_channels and body.phone is None:
        raise HTTPException(422, "the sms channel needs a phone number")
    await users.set_preferences(principal.user_id, body.model_dump(mode="json"))
    return UserPublic(**await users.get(principal.user_id))


@router.post("/users/me/wallets", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
async def link_wallet(body: WalletProof, principal: CurrentMember, users: UsersDep, siwe: SiweDep) -> UserPublic:
    """Links another wallet: send an EIP-4361 message signed by that wallet (nonce from /auth/nonce)."""
    await check(principal, Action.WALLET_LINK, tenant_id=principal.tenant_id, user_id=principal.user_id)
    await link_signed_wallet(principal, users, siwe, body.message, body.signature)
    return UserPublic(**await users.get(principal.user_id))


@router.delete("/users/me/wallets/{address}", response_model=UserPublic)
async def unlink_wallet(address: Address, principal: CurrentMember, users: UsersDep, request: Request,
                        pool: BackendPool, background: BackgroundTasks) -> UserPublic:
    """Unlinks one of your wallets (not the last one). The WalletBinding credentials that bound it are
    revoked in the same transaction (their status bits are set; you get a notification); their status
    lists are re-signed after the answer."""
    await check(principal, Action.WALLET_LINK, tenant_id=principal.tenant_id, user_id=principal.user_id)
    try:
        lists = await users.unlink_wallet(
            principal.user_id, address,
            in_same_transaction=lambda db: revoke_wallet_bindings(db, principal.tenant_id, principal.user_id, address))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if lists:
        background.add_task(get_identity(request, pool).publish_in_background, lists)
    return UserPublic(**await users.get(principal.user_id))


@router.get("/users", response_model=MembersPage)
async def list_members(principal: CurrentPrincipal, users: UsersDep,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: MembersCursor = None) -> MembersPage:
    """Members of your tenant, oldest first (coaches and admins)."""
    await check(principal, Action.MEMBERS_LIST, tenant_id=principal.tenant_id)
    page, next_cursor = await users.members(principal.tenant_id, limit=limit, cursor=cursor)
    return MembersPage(data=[MemberPublic(**m) for m in page], next_cursor=next_cursor)


@router.get("/users/{user_id}", response_model=UserPublic)
async def read_user(user_id: uuid.UUID, principal: CurrentPrincipal, users: UsersDep) -> UserPublic:
    """A member's profile (yours, or any member's for coaches and admins of the tenant)."""
    return UserPublic(**await load_user(users, principal, Action.PROFILE_READ, user_id))


@router.put("/users/{user_id}/role", response_model=UserPublic)
async def set_role(user_id: uuid.UUID, body: RoleUpdate, principal: CurrentPrincipal, users: UsersDep) -> UserPublic:
    """Sets a member's role (admins). Takes effect at the member's next token refresh."""
    user = await load_user(users, principal, Action.MEMBER_ROLE_SET, user_id)
    if user["id"] == principal.user_id and body.role != "admin":
        raise HTTPException(status.HTTP_409_CONFLICT, "admins cannot demote themselves; ask another admin")
    await users.set_role(user["id"], body.role)
    return UserPublic(**await users.get(user["id"]))


class ServiceClientCreate(RequestModel):
    name: str = Field(min_length=1, max_length=80)
    role: str = Field(pattern=r"^(attestor|agent)$")


class ServiceClientPublic(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown once: store it in the service's secret store")
    role: str
    tenant_id: str


@router.post("/tenant/service-clients", response_model=ServiceClientPublic, status_code=201, tags=["tenant"])
async def create_service_client(body: ServiceClientCreate, principal: CurrentPrincipal,
                                pool: BackendPool) -> ServiceClientPublic:
    """Creates credentials for a service of your tenant (admins); exchange them for access tokens at the
    OAuth 2.0 token endpoint, POST /auth/token (client credentials grant)."""
    await check(principal, Action.SERVICE_CLIENT_CREATE, tenant_id=principal.tenant_id)
    client_id, secret = await ServiceClients(pool).create(principal.tenant_id, body.role, body.name)
    return ServiceClientPublic(client_id=client_id, client_secret=secret, role=body.role, tenant_id=principal.tenant_id)


@router.delete("/tenant/service-clients/{client_id}", status_code=204, tags=["tenant"])
async def revoke_service_client(client_id: Annotated[str, Path(pattern=r"^svc_[0-9a-f]{16}$")],
                                principal: CurrentPrincipal, pool: BackendPool, tokens: TokensDep) -> None:
    """Revokes a service client and every token it holds (admins)."""
    await check(principal, Action.SERVICE_CLIENT_CREATE, tenant_id=principal.tenant_id)
    if not await ServiceClients(pool).revoke(principal.tenant_id, client_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
    await tokens.revoke_family(service_session(client_id))
