"""Sign-In with Ethereum: nonce, verify, refresh, logout, me."""

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from backend.app.auth import oauth
from backend.app.auth.siwe_service import SignInError
from backend.app.auth.tokens import Subject, TokenError, TokenPair
from backend.app.core.inputs import RequestModel
from backend.app.deps import BackendPool, CurrentClaims, SettingsDep, SiweDep, TokensDep, limit_auth
from backend.app.users import service as users
from backend.app.users.service import ServiceClients

router = APIRouter(prefix="/auth", tags=["auth"])
limited = [Depends(limit_auth)]


class NoncePublic(BaseModel):
    nonce: str
    expires_at: datetime


TenantSlug = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,39}$",
                   description="The tenant (fitness brand or club) to sign in to; default: the platform's own")


class VerifyRequest(RequestModel):
    message: str = Field(min_length=1, max_length=4_096, description="The EIP-4361 message the wallet signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte signature, 0x-hex")
    tenant: str | None = TenantSlug


class ServiceTokenRequest(RequestModel):
    client_id: str = Field(pattern=r"^svc_[0-9a-f]{16}$")
    client_secret: str = Field(min_length=16, max_length=128)


class ServiceTokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=16, max_length=128)


class TokensPublic(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int

    @classmethod
    def of(cls, pair: TokenPair) -> "TokensPublic":
        return cls(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


class MePublic(BaseModel):
    did: str
    address: str | None
    chain_id: int | None
    tenant_id: str
    user_id: str | None
    role: str


@router.post("/nonce", response_model=NoncePublic, dependencies=limited)
async def create_nonce(siwe: SiweDep) -> NoncePublic:
    """A single-use nonce for the wallet's EIP-4361 message (valid a few minutes)."""
    nonce, expires_at = await siwe.new_nonce()
    return NoncePublic(nonce=nonce, expires_at=expires_at)


@router.post("/verify", response_model=TokensPublic, dependencies=limited)
async def verify(body: VerifyRequest, siwe: SiweDep, tokens: TokensDep, pool: BackendPool,
                 settings: SettingsDep) -> TokensPublic:
    """Checks the signed message (signature, domain, chain id, nonce, expiry) and signs the wallet in to
    `tenant` (a first sign-in joins it as a user); returns an access token and a rotating refresh token."""
    try:
        wallet = await siwe.verify(body.message, body.signature)
    except SignInError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    try:
        member = await users.sign_in(pool, body.tenant or settings.default_tenant, wallet.address,
                                     signed=users.SignIn(body.signature, settings.now()))
    except users.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except users.Conflict as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    subject = Subject(wallet.address, wallet.chain_id, member.tenant_id, member.user_id, member.role)
    return TokensPublic.of(await tokens.issue(subject))


@router.post("/refresh", response_model=TokensPublic, dependencies=limited)
async def refresh(body: RefreshRequest, tokens: TokensDep, pool: BackendPool) -> TokensPublic:
    """Exchanges a refresh token for a new pair (with the member's current role); a reused (already
    rotated) token revokes the session."""

    async def reload(subject: Subject) -> Subject:
        member = await users.member(pool, subject.user_id)
        if member is None:
            raise TokenError("this account no longer exists")
        return Subject(subject.address, subject.chain_id, member.tenant_id, member.user_id, member.role)

    try:
        return TokensPublic.of(await tokens.rotate(body.refresh_token, reload))
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc


@router.post("/service-token", response_model=ServiceTokenPublic, dependencies=limited, deprecated=True)
async def service_token(body: ServiceTokenRequest, tokens: TokensDep, pool: BackendPool,
                        settings: SettingsDep) -> ServiceTokenPublic:
    """Deprecated: use the OAuth 2.0 token endpoint, `POST /auth/token` (grant_type=client_credentials).
    The same token (all of the client's role's scopes) from a JSON body."""
    client = await ServiceClients(pool).authenticate(body.client_id, body.client_secret)
    if client is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown client, wrong secret or revoked client")
    scope = " ".join(oauth.scopes(client["role"]))
    token = tokens.service_token(client["client_id"], str(client["tenant_id"]), client["role"], scope)
    return ServiceTokenPublic(access_token=token, expires_in=settings.access_token_ttl_seconds, scope=scope)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(claims: CurrentClaims, tokens: TokensDep) -> None:
    """Ends the session: its access token and every refresh token of its family stop working."""
    await tokens.revoke_family(claims["sid"])


@router.get("/me", response_model=MePublic)
async def me(claims: CurrentClaims) -> MePublic:
    """Who the access token belongs to: the wallet, the tenant and the role."""
    return MePublic(did=claims["sub"], address=claims.get("address"), chain_id=claims.get("chain_id"),
                    tenant_id=claims["tid"], user_id=claims.get("uid"), role=claims["role"])
