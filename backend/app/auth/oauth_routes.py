"""The OAuth 2.0 endpoints for services (token, introspection, revocation), the signing keys (JWKS), the
authorization server's metadata (RFC 8414) and what a wallet's SIWE message must say."""

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from backend.app.auth import oauth
from backend.app.core.cors import READABLE_BY_ANY_ORIGIN
from backend.app.deps import BackendPool, OAuthLimit, PublicReads, SettingsDep, TokensDep

router = APIRouter(tags=["auth"])


def _form_body(properties: dict, required: list[str]) -> dict:
    return {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}}


CLIENT_FIELDS = {"client_id": {"type": "string", "maxLength": 64, "description": "client_secret_post, else Basic"},
                 "client_secret": {"type": "string", "maxLength": 128}}
TOKEN_FIELDS = {"token": {"type": "string", "maxLength": 4096},
                "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]}}


class OAuthError(BaseModel):
    error: str
    error_description: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class Introspected(BaseModel):
    active: bool
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | None = None
    jti: str | None = None
    tid: str | None = None
    role: str | None = None


def _errors(*codes: int) -> dict:
    return {code: {"model": OAuthError} for code in codes}


async def _serve(request: Request, endpoint: str | None, pool, tokens, limit, *, with_token: bool) -> Response:
    form = await oauth.read_form(request)
    if form is None:
        await limit(None)
        return oauth.invalid_request("the body must be application/x-www-form-urlencoded (UTF-8 percent-encoded "
                                     "ASCII), each parameter at most once")
    try:
        client = await oauth.load_client(pool, request, form)
    except oauth.BadCredentials as exc:
        await limit(None)
        return oauth.invalid_client(str(exc))
    await limit(None if client is None or client.public else client.client_id)
    presented = await oauth.load_token(tokens, form) if with_token else None
    server = oauth.OAuthServer(tokens, client, presented)
    oauth_request = oauth.FormRequest(request, tokens.settings.issuer + request.url.path, form)
    if endpoint is None:
        return server.create_token_response(oauth_request)
    response = server.create_endpoint_response(endpoint, oauth_request)
    await oauth.apply_revocation(tokens, server.to_revoke)
    return response


@router.post("/auth/token", response_model=TokenResponse,
             responses=_errors(400, 401), openapi_extra=_form_body(
                 {"grant_type": {"type": "string", "enum": ["client_credentials"]},
                  "scope": {"type": "string", "maxLength": 1024,
                            "description": "space-separated actions; default: all the role's"},
                  **CLIENT_FIELDS}, ["grant_type"]))
async def token(request: Request, pool: BackendPool, tokens: TokensDep, limit: OAuthLimit) -> Response:
    """OAuth 2.0 token endpoint (RFC 6749), client credentials grant for service clients (created at
    `POST /tenant/service-clients`). Client authentication: HTTP Basic (client_secret_basic) or the form
    (client_secret_post). `scope`: space-separated actions the client's role may do (see the metadata's
    scopes_supported); default all of them. The access token carries the granted scope."""
    return await _serve(request, None, pool, tokens, limit, with_token=False)


@router.post("/auth/introspect", response_model=Introspected, responses=_errors(400, 401),
             openapi_extra=_form_body({**TOKEN_FIELDS, **CLIENT_FIELDS}, ["token"]))
async def introspect(request: Request, pool: BackendPool, tokens: TokensDep, limit: OAuthLimit) -> Response:
    """Token introspection (RFC 7662) for service clients: whether a token is active, and whose. Expired,
    revoked, unknown tokens and tokens of another tenant are `{"active": false}`."""
    return await _serve(request, "introspection", pool, tokens, limit, with_token=True)


@router.post("/auth/revoke", responses={200: {"content": {"application/json": {}}},
                                                                **_errors(400, 401)},
             openapi_extra=_form_body({**TOKEN_FIELDS, **CLIENT_FIELDS}, ["token"]))
async def revoke(request: Request, pool: BackendPool, tokens: TokensDep, limit: OAuthLimit) -> Response:
    """Token revocation (RFC 7009): a service client revokes its access tokens; a member's tokens are revoked
    with `client_id=fitmint-siwe` (the public client of SIWE sessions, no secret). A revoked access token
    stops working at once; a revoked refresh token ends its whole session. 200 also for unknown tokens."""
    return await _serve(request, "revocation", pool, tokens, limit, with_token=True)


@router.get("/.well-known/jwks.json", dependencies=PublicReads, tags=["auth"])
async def jwks(tokens: TokensDep, response: Response) -> dict:
    """The public keys that verify access tokens (RFC 7517): the signing key, the next one (published before
    it signs) and the previous one until its tokens have expired. Cache at most max-age."""
    response.headers.update(READABLE_BY_ANY_ORIGIN)
    response.headers["Cache-Control"] = f"public, max-age={tokens.settings.jwks_max_age_seconds}"
    return tokens.ring.jwks()


@router.get("/.well-known/oauth-authorization-server", dependencies=PublicReads)
async def metadata(settings: SettingsDep, response: Response) -> dict:
    """OAuth 2.0 Authorization Server Metadata (RFC 8414)."""
    response.headers.update(READABLE_BY_ANY_ORIGIN)
    issuer = settings.issuer
    return {"issuer": issuer, "token_endpoint": f"{issuer}/auth/token", "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "introspection_endpoint": f"{issuer}/auth/introspect", "revocation_endpoint": f"{issuer}/auth/revoke",
            "grant_types_supported": ["client_credentials"], "response_types_supported": [],
            "token_endpoint_auth_methods_supported": oauth.SECRET_AUTH,
            "introspection_endpoint_auth_methods_supported": oauth.SECRET_AUTH,
            "revocation_endpoint_auth_methods_supported": [*oauth.SECRET_AUTH, "none"],
            "scopes_supported": oauth.scopes(), "service_documentation": f"{issuer}/docs"}


class SiwePublic(BaseModel):
    domain: str
    uri: str
    chain_id: int
    version: str
    statement: str | None


@router.get("/auth/siwe", response_model=SiwePublic, dependencies=PublicReads)
async def siwe_parameters(settings: SettingsDep) -> SiwePublic:
    """What a Sign-In with Ethereum (EIP-4361) message must say to be accepted here: build the message from
    these, a nonce from POST /auth/nonce and the wallet's address, then POST /auth/verify."""
    return SiwePublic(domain=settings.siwe_domain, uri=settings.siwe_uri, chain_id=settings.chain_id, version="1",
                      statement=settings.siwe_statement)
