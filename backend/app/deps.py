"""Dependencies shared by the routers: `Annotated` aliases, as FastAPI's full-stack template does."""

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from backend.app.auth.siwe_service import SiweService
from backend.app.auth.tokens import TokenError, TokenService
from backend.app.core.config import Settings
from backend.app.core.ratelimit import Rule, client_ip


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_tokens(request: Request) -> TokenService:
    return request.app.state.tokens


def get_siwe(request: Request) -> SiweService:
    return request.app.state.siwe


async def limit_auth(request: Request) -> None:
    """Per-IP limit on the sign-in endpoints (nonce, verify, refresh)."""
    settings: Settings = request.app.state.settings
    rule = Rule("auth", settings.rate_limit_auth, settings.rate_limit_auth_window_seconds)
    await request.app.state.limiter.hit(rule, client_ip(request))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
SiweDep = Annotated[SiweService, Depends(get_siwe)]


async def get_claims(tokens: TokensDep, authorization: Annotated[str | None, Header()] = None) -> dict:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = tokens.decode_access(authorization[7:].strip())
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    if await tokens.is_revoked(claims["sid"]):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "session revoked", headers={"WWW-Authenticate": "Bearer"})
    return claims


CurrentClaims = Annotated[dict, Depends(get_claims)]
