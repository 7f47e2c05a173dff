"""Sign-In with Ethereum: nonce, verify, refresh, logout, me."""

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from backend.app.auth.siwe_service import SignInError
from backend.app.auth.tokens import TokenError, TokenPair
from backend.app.deps import CurrentClaims, SiweDep, TokensDep, limit_auth

router = APIRouter(prefix="/auth", tags=["auth"])
limited = [Depends(limit_auth)]


class NoncePublic(BaseModel):
    nonce: str
    expires_at: datetime


class VerifyRequest(BaseModel):
    message: str = Field(min_length=1, max_length=4_096, description="The EIP-4361 message the wallet signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte signature, 0x-hex")


class RefreshRequest(BaseModel):
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
    address: str
    chain_id: int


@router.post("/nonce", response_model=NoncePublic, dependencies=limited)
async def create_nonce(siwe: SiweDep) -> NoncePublic:
    """A single-use nonce for the wallet's EIP-4361 message (valid a few minutes)."""
    nonce, expires_at = await siwe.new_nonce()
    return NoncePublic(nonce=nonce, expires_at=expires_at)


@router.post("/verify", response_model=TokensPublic, dependencies=limited)
async def verify(body: VerifyRequest, siwe: SiweDep, tokens: TokensDep) -> TokensPublic:
    """Checks the signed message (signature, domain, chain id, nonce, expiry); returns an access token
    and a rotating refresh token."""
    try:
        subject = await siwe.verify(body.message, body.signature)
    except SignInError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return TokensPublic.of(await tokens.issue(subject))


@router.post("/refresh", response_model=TokensPublic, dependencies=limited)
async def refresh(body: RefreshRequest, tokens: TokensDep) -> TokensPublic:
    """Exchanges a refresh token for a new pair; a reused (already rotated) token revokes the session."""
    try:
        return TokensPublic.of(await tokens.rotate(body.refresh_token))
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(claims: CurrentClaims, tokens: TokensDep) -> None:
    """Ends the session: its access token and every refresh token of its family stop working."""
    await tokens.revoke_family(claims["sid"])


@router.get("/me", response_model=MePublic)
async def me(claims: CurrentClaims) -> MePublic:
    """Who the access token belongs to."""
    return MePublic(did=claims["sub"], address=claims["address"], chain_id=claims["chain_id"])
