"""OAuth 2.0 for service clients, by Authlib's server classes: the client credentials grant (RFC 6749 4.4),
token introspection (RFC 7662) and revocation (RFC 7009); client authentication `client_secret_basic` or
`client_secret_post`, error answers and `Cache-Control: no-store` as Authlib writes them.

Authlib's server is synchronous (it calls `query_client`, `query_token` and `revoke_token` and expects
answers), the API's PostgreSQL and Redis are not. So each request is served in three steps on the event
loop, without threads: the async prelude loads what Authlib will ask for (the client the request names,
the token it presents), Authlib does the protocol work on those preloaded objects, and a revocation it
decided on is written to Redis before the answer goes out.

Members' sessions (SIWE sign-in) belong to one public client, `PUBLIC_CLIENT_ID` (auth method `none`): with
it anyone holding a member's token may revoke that token, as RFC 7009 allows public clients.
"""

import base64
import binascii
import re
import time
from dataclasses import dataclass, field
from urllib.parse import unquote

from authlib.common.urls import url_decode
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from fastapi import Request, Response
from fastapi.responses import JSONResponse

from backend.app.auth.tokens import PUBLIC_CLIENT_ID, TokenError, TokenService
from backend.app.core.policy import Role, actions_of
from backend.app.users.service import ServiceClients, is_service_client_id

SECRET_AUTH = ["client_secret_basic", "client_secret_post"]
SERVICE_ROLES = (Role.ATTESTOR, Role.AGENT)  # the roles a service client may have (users/routes.py)
# RFC 6749 3.3: scope-tokens of %x21 / %x23-5B / %x5D-7E, separated by single spaces.
SCOPE_SYNTAX = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")


def scopes(role: Role | str | None = None) -> list[str]:
    """The OAuth scopes a service client of `role` may be granted: its role's actions (core/policy.py);
    no role: those of every service role (the metadata's scopes_supported)."""
    roles = SERVICE_ROLES if role is None else (Role(role),)
    return sorted({action for each in roles for action in actions_of(each)})


class ServiceClient(ClientMixin):
    """A row of service_clients (confidential: client_credentials only), or the public SIWE client."""

    def __init__(self, client_id: str, tenant_id: str | None, role: str | None, secret_ok: set[str]):
        self.client_id, self.tenant_id, self.role = client_id, tenant_id, role
        self._secret_ok = secret_ok  # the presented secrets that matched (checked in the async prelude)

    @property
    def public(self) -> bool:
        return self.client_id == PUBLIC_CLIENT_ID

    def allowed_scopes(self) -> list[str]:
        return [] if self.public else scopes(self.role)

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        """The granted scope: the requested one (CredentialsGrant checked it), each action once and sorted, or
        all the role's when none was asked for."""
        return list_to_scope(sorted(set(scope_to_list(scope) or [])) or self.allowed_scopes())

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return not self.public and client_secret in self._secret_ok

    def check_endpoint_auth_method(self, method, endpoint):
        if self.public:
            return method == "none" and endpoint == "revocation"
        return method in SECRET_AUTH

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return not self.public and grant_type == "client_credentials"


@dataclass
class PresentedToken:
    """A live token of this server (expired or unknown ones are never loaded): what introspection reports
    and revocation needs."""
    kind: str  # access_token | refresh_token
    client_id: str  # the service client, or PUBLIC_CLIENT_ID for members' sessions
    tenant_id: str
    expires_at: int
    claims: dict = field(default_factory=dict)  # access tokens
    family: str | None = None  # refresh tokens

    def is_expired(self):
        return self.expires_at <= time.time()

    def is_revoked(self):
        return False  # a revoked token is not loaded

    def check_client(self, client):
        return client.get_client_id() == self.client_id


class FormRequest(OAuth2Request):
    def __init__(self, request: Request, uri: str, form: dict):
        super().__init__(request.method, uri, headers=request.headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form

    @property
    def args(self):
        return {}

    @property
    def form(self):
        return self._form


class CredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_AUTH

    def validate_requested_scope(self):
        """Refuses (invalid_scope) a scope that is not RFC 6749 3.3's syntax, or one the client's role may not
        have, rather than granting less."""
        scope = self.request.payload.scope
        if scope and not SCOPE_SYNTAX.fullmatch(scope):
            raise InvalidScopeError("scope must be scope-tokens (printable ASCII except space, double quote and "
                                    "backslash) separated by single spaces (RFC 6749 3.3)")
        requested = scope_to_list(scope) or []
        allowed = set(self.request.client.allowed_scopes())
        if not set(requested) <= allowed:
            raise InvalidScopeError(f"scopes not allowed for this client: "
                                    f"{' '.join(sorted(set(requested) - allowed))}")


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = SECRET_AUTH

    def query_token(self, token_string, token_type_hint):
        return self.server.presented

    def check_permission(self, token, client, request):
        return token.tenant_id == client.tenant_id  # another tenant's token is reported inactive

    def introspect_token(self, token):
        body = {"active": True, "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
                "client_id": token.client_id, "exp": token.expires_at, "iss": self.server.issuer,
                "tid": token.tenant_id}
        if token.kind == "access_token":
            claims = token.claims
            body |= {"sub": claims["sub"], "aud": claims["aud"], "iat": claims["iat"], "jti": claims["jti"],
                     "role": claims["role"]}
            if "scope" in claims:
                body["scope"] = claims["scope"]
        return body


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [*SECRET_AUTH, "none"]

    def query_token(self, token_string, token_type_hint):
        return self.server.presented

    def revoke_token(self, token, request):
        self.server.to_revoke = token  # written to Redis by the route, before it answers


class OAuthServer(AuthorizationServer):
    """One per request: it carries that request's preloaded client and token."""

    def __init__(self, tokens: TokenService, client: ServiceClient | None, presented: PresentedToken | None):
        super().__init__()
        self.tokens, self.client, self.presented = tokens, client, presented
        self.issuer = tokens.settings.issuer
        self.to_revoke: PresentedToken | None = None
        self.register_grant(CredentialsGrant)
        self.register_endpoint(Introspection)
        self.register_endpoint(Revocation)
        self.register_token_generator("client_credentials", self._generate)

    def query_client(self, client_id):
        return self.client if self.client is not None and self.client.client_id == client_id else None

    def _generate(self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=False):
        granted = client.get_allowed_scope(scope)
        token = self.tokens.service_token(client.client_id, client.tenant_id, client.role, granted)
        ttl = self.tokens.settings.access_token_ttl_seconds
        return {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": granted}

    def create_oauth2_request(self, request):
        return request  # already a FormRequest, made by the route from the form it read

    def save_token(self, token, request):
        pass  # self-contained JWTs: nothing to store

    def send_signal(self, name, *args, **kwargs):
        pass

    def handle_response(self, status, body, headers):
        return JSONResponse(body, status_code=status, headers=dict(headers))


# -- the async prelude -----------------------------------------------------------------------------------

async def read_form(request: Request) -> dict | None:
    """The x-www-form-urlencoded body as a dict (a repeated parameter: None, RFC 6749 3.2 forbids it), or
    None when it is not one."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    try:
        pairs = url_decode((await request.body()).decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    return form if len(form) == len(pairs) else None


class BadCredentials(ValueError):
    """An Authorization: Basic header that is not base64 of UTF-8 `id:secret` (answered invalid_client)."""


def basic_credentials(headers) -> tuple[str | None, str | None]:
    """The client id and secret of an HTTP Basic Authorization header (RFC 6749 2.3.1: each form-urlencoded
    first), (None, None) without one; BadCredentials for one that does not decode. Checked here because
    Authlib's own decoder lets undecodable bytes escape as exceptions (a 500)."""
    parts = headers.get("authorization", "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(parts[1].encode("ascii"), validate=True).decode("utf-8")
        client_id, colon, secret = decoded.partition(":")
        if colon:
            return unquote(client_id, errors="strict"), unquote(secret, errors="strict")
    except (UnicodeError, binascii.Error) as exc:
        raise BadCredentials("the Basic credentials must be base64 of UTF-8 client_id:client_secret") from exc
    raise BadCredentials("the Basic credentials must be client_id:client_secret, base64-encoded")


def invalid_client(reason: str) -> Response:
    error = InvalidClientError(description=reason, status_code=401)
    return JSONResponse(dict(error.get_body()), status_code=error.status_code, headers=dict(error.get_headers()))


async def load_client(pool, request: Request, form: dict) -> ServiceClient | None:
    """The client the request names (HTTP Basic, else the form) if its secret is right (checked against the
    database here); None otherwise, which Authlib answers with invalid_client. BadCredentials: see
    `basic_credentials`."""
    basic_id, basic_secret = basic_credentials(request.headers)
    client_id = basic_id or form.get("client_id")
    secret = basic_secret if basic_id else form.get("client_secret")
    if client_id == PUBLIC_CLIENT_ID:
        return ServiceClient(PUBLIC_CLIENT_ID, None, None, set())
    if (not is_service_client_id(client_id) or not isinstance(secret, str) or not 0 < len(secret) <= 128
            or pool is None):
        return None
    row = await ServiceClients(pool).authenticate(client_id, secret)
    return None if row is None else ServiceClient(row["client_id"], str(row["tenant_id"]), row["role"], {secret})


async def load_token(tokens: TokenService, form: dict) -> PresentedToken | None:
    """The live token in the form's `token` (the hinted type first; RFC 7009 2.1: then the other)."""
    value = form.get("token")
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    order = ["refresh_token", "access_token"] if form.get("token_type_hint") == "refresh_token" \
        else ["access_token", "refresh_token"]
    for kind in order:
        found = await (_access(tokens, value) if kind == "access_token" else _refresh(tokens, value))
        if found is not None:
            return found
    return None


async def _access(tokens: TokenService, value: str) -> PresentedToken | None:
    try:
        claims = tokens.decode_access(value)
    except TokenError:
        return None
    if await tokens.is_revoked(claims):
        return None
    return PresentedToken("access_token", claims["client_id"], claims["tid"], claims["exp"],
                          claims=claims)


async def _refresh(tokens: TokenService, value: str) -> PresentedToken | None:
    if len(value) > 128:
        return None
    found = await tokens.refresh_record(value)
    if found is None:
        return None
    record, ttl = found
    return PresentedToken("refresh_token", PUBLIC_CLIENT_ID, record["tenant_id"], int(time.time()) + ttl,
                          family=record["family"])


async def apply_revocation(tokens: TokenService, token: PresentedToken | None) -> None:
    if token is None:
        return
    if token.kind == "access_token":
        await tokens.revoke_access(token.claims)
    else:
        await tokens.revoke_family(token.family)


def invalid_request(reason: str) -> Response:
    return JSONResponse({"error": "invalid_request", "error_description": reason}, status_code=400,
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
