"""Dependencies shared by the routers: `Annotated` aliases, as FastAPI's full-stack template does."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, HTTPException, Request, status

from backend.app.auth.siwe_service import SignInError, SiweService
from backend.app.auth.tokens import TokenError, TokenService
from backend.app.core.config import Settings
from backend.app.core.policy import Action, Denied, Principal, Role, authorize
from backend.app.core.ratelimit import Rule, client_ip
from backend.app.fitness.fraud.scoring import ActiveModel
from backend.app.users.service import Conflict, NotFound, Users


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_tokens(request: Request) -> TokenService:
    return request.app.state.tokens


async def get_siwe(request: Request) -> SiweService:
    return request.app.state.siwe


async def get_backend_pool(request: Request) -> asyncpg.Pool:
    pool = getattr(request.app.state, "backend_pool", None)
    if pool is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the backend database is not reachable")
    return pool


def indexer_pool(request: Request) -> asyncpg.Pool:
    """The API's read-only pool on the indexer's database (its read views); 503 while it is unreachable."""
    pool = getattr(request.app.state, "indexer_pool", None)
    if pool is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the indexer database is not reachable")
    return pool


async def get_fraud_model(request: Request) -> ActiveModel:
    return request.app.state.fraud_model


async def get_users(request: Request, pool: Annotated[asyncpg.Pool, Depends(get_backend_pool)]) -> Users:
    return Users(pool, request.app.state.redis, request.app.state.settings.user_cache_ttl_seconds)


async def limit_auth(request: Request) -> None:
    """Per-IP limit on the sign-in endpoints (nonce, verify, refresh)."""
    settings: Settings = request.app.state.settings
    rule = Rule("auth", settings.rate_limit_auth, settings.rate_limit_auth_window_seconds)
    await request.app.state.limiter.hit(rule, client_ip(request))


async def limit_oauth(request: Request) -> Callable[[str | None], Awaitable[None]]:
    """The OAuth endpoints' limit, counted once the caller is known: a call of an authenticated service client
    against that client (an introspecting resource server is not throttled per IP, nor does it use up the
    members' sign-ins from a shared address); any other call (failed client authentication, the public
    SIWE client) against its IP, in the sign-in limit."""
    settings: Settings = request.app.state.settings
    rule = Rule("oauth", settings.rate_limit_oauth, settings.rate_limit_oauth_window_seconds)

    async def count(client_id: str | None) -> None:
        if client_id is None:
            await limit_auth(request)
        else:
            await request.app.state.limiter.hit(rule, client_id)
    return count


async def limit_quotes(request: Request) -> None:
    """Per-IP limit on purchase quotes (public, and each one reads the chain several times)."""
    settings: Settings = request.app.state.settings
    rule = Rule("quote", settings.rate_limit_quote, settings.rate_limit_quote_window_seconds)
    await request.app.state.limiter.hit(rule, client_ip(request))


async def limit_public_reads(request: Request) -> None:
    """Per-IP limit on what anyone may read without signing in (tests/backend/test_client_address.py checks
    that every route without a sign-in has a per-IP limit)."""
    settings: Settings = request.app.state.settings
    rule = Rule("public", settings.rate_limit_public, settings.rate_limit_public_window_seconds)
    request.app.state.limiter.hit_behind(rule, client_ip(request))


PublicReads = [Depends(limit_public_reads)]
OAuthLimit = Annotated[Callable[[str | None], Awaitable[None]], Depends(limit_oauth)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
SiweDep = Annotated[SiweService, Depends(get_siwe)]
BackendPool = Annotated[asyncpg.Pool, Depends(get_backend_pool)]
UsersDep = Annotated[Users, Depends(get_users)]
FraudModel = Annotated[ActiveModel, Depends(get_fraud_model)]


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"})


async def get_claims(request: Request, tokens: TokensDep,
                     authorization: Annotated[str | None, Header()] = None) -> dict:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise _unauthorized("missing bearer token")
    try:
        claims = tokens.decode_access(authorization[7:].strip())
    except TokenError as exc:
        raise _unauthorized(str(exc)) from exc
    if await tokens.is_revoked(claims):
        raise _unauthorized("session revoked")
    settings: Settings = request.app.state.settings
    # Per-account limit (a member or a service client), on top of any per-IP rule.
    rule = Rule("account", settings.rate_limit_account, settings.rate_limit_account_window_seconds)
    await request.app.state.limiter.hit(rule, claims.get("uid") or claims["sub"])
    return claims


CurrentClaims = Annotated[dict, Depends(get_claims)]


async def get_principal(request: Request, claims: CurrentClaims) -> Principal:
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise _unauthorized(f"unknown role {claims['role']!r} in token") from exc
    scope = claims.get("scope")
    return Principal(tenant_id=claims["tid"], role=role, user_id=claims.get("uid") or None,
                     client_id=claims.get("cid"), scopes=frozenset(scope.split()) if isinstance(scope, str) else None,
                     policy=request.app.state.opa)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def require_member(principal: CurrentPrincipal) -> Principal:
    """Endpoints about "me" need a signed-in member, not a service client."""
    if principal.user_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this endpoint is for signed-in members, not services")
    return principal


CurrentMember = Annotated[Principal, Depends(require_member)]


async def check(principal: Principal, action: Action, *, tenant_id: str, user_id: str | None = None) -> None:
    """`authorize` as an HTTP answer: 404 outside the tenant, 403 when the policy denies."""
    try:
        await authorize(principal, action, tenant_id=tenant_id, user_id=user_id)
    except Denied as exc:
        raise HTTPException(exc.status, str(exc)) from exc


async def load_user(users: Users, principal: Principal, action: Action, user_id: uuid.UUID) -> dict:
    """The user, if the principal may do `action` on it; 404 for ids outside the principal's tenant."""
    try:
        user = await users.get(str(user_id))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant") from exc
    await check(principal, action, tenant_id=user["tenant_id"], user_id=user["id"])
    return user


async def target_user(principal: Principal, users: Users, action: Action, user_id: uuid.UUID | None) -> str:
    """The id of the member an activity request is about (default: the caller), once `load_user` allows
    it; also 403 when a coach asks for a member who keeps activity private."""
    if user_id is None:
        if principal.user_id is None:
            raise HTTPException(422, "services must name the member: ?user_id=")
        user_id = uuid.UUID(principal.user_id)
    user = await load_user(users, principal, action, user_id)
    if (principal.role is Role.COACH and user["id"] != principal.user_id
            and user["preferences"].get("privacy") == "private"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this member keeps their activity private")
    return user["id"]


async def link_signed_wallet(principal: Principal, users: Users, siwe: SiweService, message: str, signature: str):
    """Links the wallet that signed `message` (EIP-4361, nonce from /auth/nonce) to the member: 422 for a
    proof that does not verify, 409 if another member of the tenant has that wallet. Returns the wallet."""
    try:
        wallet = await siwe.verify(message, signature)
    except SignInError as exc:
        raise HTTPException(exc.status if exc.status != 401 else 422, str(exc)) from exc
    try:
        await users.link_wallet(principal.tenant_id, principal.user_id, wallet.address)
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return wallet
