"""Access tokens (short-lived JWTs) and refresh tokens (opaque, rotated, revocable by family).

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

from backend.app.core.config import Settings


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


class TokenService:
    def __init__(self, *, redis: Redis, settings: Settings):
        self.redis = redis
        self.settings = settings
        self._secret = settings.jwt_secret()

    def access_token(self, subject: Subject, family: str) -> str:
        return self._encode({"sub": subject.did, "address": subject.address, "chain_id": subject.chain_id,
                             "sid": family, "tid": subject.tenant_id, "uid": subject.user_id, "role": subject.role})

    def service_token(self, client_id: str, tenant_id: str, role: str) -> str:
        """A service client's access token; its session id is the client, so revoking the client ends it."""
        return self._encode({"sub": f"service:{client_id}", "cid": client_id, "sid": service_session(client_id),
                             "tid": tenant_id, "role": role})

    def _encode(self, claims: dict) -> str:
        now = int(time.time())
        claims |= {"iat": now, "exp": now + self.settings.access_token_ttl_seconds, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self._secret, algorithm=self.settings.jwt_algorithm)

    def decode_access(self, token: str) -> dict:
        try:
            return jwt.decode(token, self._secret, algorithms=[self.settings.jwt_algorithm],
                              options={"require": ["exp", "sub", "sid", "tid", "role"]})
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
        if await self.redis.exists(f"auth:revoked:{record['family']}"):
            raise TokenError("session revoked, sign in again")
        subject = await reload(Subject(record["address"], record["chain_id"], record["tenant_id"], record["user_id"]))
        return await self.issue(subject, family=record["family"])

    async def revoke_family(self, family: str) -> None:
        keys = await self.redis.smembers(f"auth:family:{family}")
        async with self.redis.pipeline(transaction=True) as pipe:
            if keys:
                pipe.delete(*keys)
            pipe.delete(f"auth:family:{family}")
            pipe.set(f"auth:revoked:{family}", 1, ex=self.settings.refresh_token_ttl_seconds)
            await pipe.execute()

    async def is_revoked(self, family: str) -> bool:
        return bool(await self.redis.exists(f"auth:revoked:{family}"))
