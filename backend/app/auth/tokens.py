"""Access tokens (short-lived JWTs, EdDSA-signed by the key ring: keyring.py) and refresh tokens (opaque,
rotated, revocable by family).

An access token is an RFC 9068 JWT access token: header `typ: at+jwt` and a `kid` naming its key; claims
`iss` (this issuer), `aud` (`Settings.audience`), `client_id` (a service client, or PUBLIC_CLIENT_ID for
members), `sub`, `iat`, `exp`, `jti`. Only such tokens, signed by one of the ring's verifying keys with
EdDSA, are accepted, so a token signed with `none`, with HS256 keyed by a public key, with a retired key,
or another JWT of the same keys meant for something else is refused. One revoked
access token (RFC 7009) is denied by its `jti` in Redis until it would have expired anyway.

Refresh tokens live in Redis as sha256(token) -> {family, subject}. Using one rotates it: it is marked
used and a new one of the same family is issued. Presenting a used token again means it was stolen
(or replayed): the whole family is revoked, so both the thief's and the user's sessions end.
"""

import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import jwt
import orjson
from redis.asyncio import Redis

from backend.app.auth.keyring import KeyRing
from backend.app.core.config import Settings

ALGORITHM = "EdDSA"
ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 2.1
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "jti", "sub", "client_id", "sid", "tid", "role"]
PUBLIC_CLIENT_ID = "fitmint-siwe"  # the OAuth client of members' sessions (SIWE sign-in): public, no secret


class TokenError(Exception):
    """A token was refused; the message says why (it goes back to the client)."""


@dataclass(frozen=True)
class Subject:
    """A signed-in member: the wallet that signed in, and who it is in which tenant."""
    address: str  # checksummed
    chain_id: int
    tenant_id: str = ""
    user_id: str = ""
    role: str = "user"

    @property
    def did(self) -> str:
        return f"did:pkh:eip155:{self.chain_id}:{self.address}"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def service_session(client_id: str) -> str:
    return f"service-{client_id}"


def _key(token: str) -> str:
    return "auth:refresh:" + hashlib.sha256(token.encode()).hexdigest()


def _revoked(session: str) -> str:
    """Marks a revoked session: a member's refresh-token family, or a service client (`service_session`)."""
    return f"auth:revoked:{session}"


class TokenService:
    def __init__(self, *, redis: Redis, settings: Settings):
        self.redis = redis
        self.settings = settings
        self.ring = KeyRing.from_settings(settings)
        self.ring.ensure()

    def access_token(self, subject: Subject, family: str) -> str:
        return self._encode({"sub": subject.did, "client_id": PUBLIC_CLIENT_ID, "address": subject.address,
                             "chain_id": subject.chain_id, "sid": family, "tid": subject.tenant_id,
                             "uid": subject.user_id, "role": subject.role})

    def service_token(self, client_id: str, tenant_id: str, role: str, scope: str) -> str:
        """A service client's access token with the granted `scope` (space-separated actions); its session
        id is the client, so revoking the client ends it. (`cid` marks a service's token: deps.get_principal.)"""
        return self._encode({"sub": f"service:{client_id}", "client_id": client_id, "cid": client_id,
                             "sid": service_session(client_id), "tid": tenant_id, "role": role, "scope": scope})

    def _encode(self, claims: dict) -> str:
        now = int(time.time())
        claims |= {"iss": self.settings.issuer, "aud": self.settings.audience, "iat": now,
                   "exp": now + self.settings.access_token_ttl_seconds, "jti": uuid.uuid4().hex}
        key = self.ring.signing()
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYPE})

    def decode_access(self, token: str) -> dict:
        """The claims of a valid access token (an at+jwt signed by a verifying key of the ring, not expired,
        this issuer and audience); TokenError otherwise. Revocation is checked by `is_revoked`."""
        try:
            header = jwt.get_unverified_header(token)
            if str(header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYPE, "application/" + ACCESS_TOKEN_TYPE):
                raise TokenError(f"invalid access token: its header must say typ {ACCESS_TOKEN_TYPE} (RFC 9068)")
            kid = header.get("kid")
            key = self.ring.verifier(kid) if isinstance(kid, str) else None
            if key is None:
                raise TokenError("invalid access token: unknown or retired signing key")
            return jwt.decode(token, key.public, algorithms=[ALGORITHM], issuer=self.settings.issuer,
                              audience=self.settings.audience, options={"require": REQUIRED_CLAIMS})
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("access token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid access token: {exc}") from exc

    async def issue(self, subject: Subject, family: str | None = None) -> TokenPair:
        family = family or uuid.uuid4().hex
        refresh = secrets.token_urlsafe(32)
        ttl = self.settings.refresh_token_ttl_seconds
        record = orjson.dumps({"family": family, "address": subject.address, "chain_id": subject.chain_id,
                               "tenant_id": subject.tenant_id, "user_id": subject.user_id, "used": False})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(_key(refresh), record, ex=ttl)
            pipe.sadd(f"auth:family:{family}", _key(refresh))
            pipe.expire(f"auth:family:{family}", ttl)
            await pipe.execute()
        return TokenPair(self.access_token(subject, family), refresh, self.settings.access_token_ttl_seconds)

    async def rotate(self, refresh: str, reload: Callable[[Subject], Awaitable[Subject]]) -> TokenPair:
        """`reload` re-reads the member (its role may have changed; TokenError if it is gone)."""
        key = _key(refresh)
        # Mark used atomically: of two concurrent uses, exactly one sees "used": false.
        raw = await self.redis.eval(
            "local v = redis.call('GET', KEYS[1]) if not v then return nil end "
            "local d = cjson.decode(v) local was = d.used d.used = true "
            "redis.call('SET', KEYS[1], cjson.encode(d), 'KEEPTTL') "
            "if was then return 'USED:' .. v end return v", 1, key)
        if raw is None:
            raise TokenError("unknown or expired refresh token")
        raw = raw.decode() if isinstance(raw, bytes) else raw
        if raw.startswith("USED:"):
            record = orjson.loads(raw[5:])
            await self.revoke_family(record["family"])
            raise TokenError("refresh token reuse detected: this session has been revoked, sign in again")
        record = orjson.loads(raw)
        if await self.redis.exists(_revoked(record["family"])):
            raise TokenError("session revoked, sign in again")
        subject = await reload(Subject(record["address"], record["chain_id"], record["tenant_id"], record["user_id"]))
        return await self.issue(subject, family=record["family"])

    async def revoke_family(self, family: str) -> None:
        keys = await self.redis.smembers(f"auth:family:{family}")
        async with self.redis.pipeline(transaction=True) as pipe:
            if keys:
                pipe.delete(*keys)
            pipe.delete(f"auth:family:{family}")
            pipe.set(_revoked(family), 1, ex=self.settings.refresh_token_ttl_seconds)
            await pipe.execute()

    async def is_revoked(self, claims: dict) -> bool:
        """Whether the token's session (family, or service client) or the token itself was revoked."""
        return bool(await self.redis.exists(_revoked(claims["sid"]), _revoked_jti(claims["jti"])))

    async def revoke_access(self, claims: dict) -> None:
        """Denies this one access token (its `jti`) until it expires."""
        ttl = int(claims["exp"] - time.time()) + 1
        if ttl > 0:
            await self.redis.set(_revoked_jti(claims["jti"]), 1, ex=ttl)

    async def refresh_record(self, refresh: str) -> tuple[dict, int] | None:
        """The live refresh token's record and seconds left (without using it), or None."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(_key(refresh))
            pipe.ttl(_key(refresh))
            raw, ttl = await pipe.execute()
        if raw is None:
            return None
        record = orjson.loads(raw)
        if record["used"] or await self.redis.exists(_revoked(record["family"])):
            return None
        return record, int(ttl)


def _revoked_jti(jti: str) -> str:
    return f"auth:revoked-jti:{jti}"
