"""Tenants, members and their wallets in PostgreSQL; a member's profile cached in Redis (dropped on
every change, so a read never sees a stale profile for longer than the write takes)."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
from redis.asyncio import Redis

from backend.app.core.pages import decode_cursor, page
from backend.app.core.policy import Role
from fitmint import events as ev
from fitmint.outbox.append import Outgoing, append


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


@dataclass(frozen=True)
class Member:
    user_id: str
    tenant_id: str
    role: str


async def ensure_tenant(pool: asyncpg.Pool, slug: str, name: str | None = None, *, open_signup: bool = True) -> str:
    """The tenant's id, creating it if it does not exist (idempotent)."""
    async with pool.acquire() as connection:
        await connection.execute(
            "INSERT INTO tenants (slug, name, open_signup) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING",
            slug, name or slug, open_signup)
        return str(await connection.fetchval("SELECT id FROM tenants WHERE slug = $1", slug))


@dataclass(frozen=True)
class SignIn:
    """A wallet's sign-in (its signed SIWE message's signature: one per sign-in) at `at`: recorded as a
    MemberSignedIn event with the membership it gives."""
    signature: str
    at: datetime


async def sign_in(pool: asyncpg.Pool, tenant_slug: str, address: str, *, admit: bool = False,
                  signed: SignIn | None = None) -> Member:
    """The member this wallet signs in as. A first sign-in joins the tenant as a user if the tenant is
    open to sign-ups, or if `admit` (an operator adding a member to an invite-only tenant). A wallet's
    own sign-in (`signed`) publishes MemberSignedIn in the same transaction."""
    address = address.lower()
    async with pool.acquire() as connection, connection.transaction():
        tenant = await connection.fetchrow("SELECT id, open_signup FROM tenants WHERE slug = $1", tenant_slug)
        if tenant is None:
            raise NotFound(f"unknown tenant {tenant_slug!r}")
        # Serialise sign-ins of one address in one tenant: a first one creates exactly one user.
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{tenant['id']}:{address}")
        row = await connection.fetchrow(
            "SELECT u.id, u.role FROM wallet_links w JOIN users u ON u.id = w.user_id "
            "WHERE w.tenant_id = $1 AND w.address = $2", tenant["id"], address)
        if row is not None:
            member = Member(str(row["id"]), str(tenant["id"]), row["role"])
        elif not (tenant["open_signup"] or admit):
            raise Conflict(f"tenant {tenant_slug!r} admits members by invitation only")
        else:
            user_id = await connection.fetchval("INSERT INTO users (tenant_id) VALUES ($1) RETURNING id",
                                                tenant["id"])
            await connection.execute("INSERT INTO wallet_links (tenant_id, address, user_id) VALUES ($1, $2, $3)",
                                     tenant["id"], address, user_id)
            member = Member(str(user_id), str(tenant["id"]), Role.USER.value)
        if signed is not None:
            payload = ev.MemberSignedIn(user_id=member.user_id, tenant_id=member.tenant_id, address=address,
                                        joined=row is None)
            await append(connection, [Outgoing(ev.member_signed_in_id(member.user_id, signed.signature.lower()),
                                               ev.MEMBER_SIGNED_IN, payload, signed.at)])
        return member


async def member(pool: asyncpg.Pool, user_id: str) -> Member | None:
    row = await pool.fetchrow("SELECT id, tenant_id, role FROM users WHERE id = $1::uuid", user_id)
    return Member(str(row["id"]), str(row["tenant_id"]), row["role"]) if row else None


class Users:
    def __init__(self, pool: asyncpg.Pool, redis: Redis, cache_ttl: int):
        self.pool = pool
        self.redis = redis
        self.cache_ttl = cache_ttl

    @staticmethod
    def _cache_key(user_id: str) -> str:
        return f"user:{user_id}"

    async def invalidate(self, user_id: str) -> None:
        await self.redis.delete(self._cache_key(user_id))

    async def get(self, user_id: str) -> dict:
        """The member's profile, preferences and wallets (cached). NotFound if there is no such user."""
        cached = await self.redis.get(self._cache_key(user_id))
        if cached is not None:
            return _revive(orjson.loads(cached))
        row = await self.pool.fetchrow(
            "SELECT u.*, coalesce(array_agg(w.address ORDER BY w.linked_at) FILTER (WHERE w.address IS NOT NULL), "
            "'{}') AS wallets FROM users u LEFT JOIN wallet_links w ON w.user_id = u.id WHERE u.id = $1::uuid "
            "GROUP BY u.id", user_id)
        if row is None:
            raise NotFound("user not found")
        user = {"id": str(row["id"]), "tenant_id": str(row["tenant_id"]), "role": row["role"],
                "display_name": row["display_name"], "bio": row["bio"],
                "height_cm": _float(row["height_cm"]), "weight_kg": _float(row["weight_kg"]),
                "birth_year": row["birth_year"], "preferences": orjson.loads(row["preferences"]),
                "wallets": list(row["wallets"]), "created_at": row["created_at"].isoformat(),
                "updated_at": row["updated_at"].isoformat()}
        await self.redis.set(self._cache_key(user_id), orjson.dumps(user), ex=self.cache_ttl)
        return _revive(user)

    async def update_profile(self, user_id: str, fields: dict) -> None:
        if fields:
            assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
            await self.pool.execute(f"UPDATE users SET {assignments}, updated_at = now() WHERE id = $1::uuid",
                                    user_id, *fields.values())
        await self.invalidate(user_id)

    async def set_preferences(self, user_id: str, preferences: dict) -> None:
        await self.pool.execute("UPDATE users SET preferences = $2::jsonb, updated_at = now() WHERE id = $1::uuid",
                                user_id, orjson.dumps(preferences).decode())
        await self.invalidate(user_id)

    async def set_role(self, user_id: str, role: str) -> None:
        await self.pool.execute("UPDATE users SET role = $2, updated_at = now() WHERE id = $1::uuid", user_id, role)
        await self.invalidate(user_id)

    async def link_wallet(self, tenant_id: str, user_id: str, address: str) -> None:
        address = address.lower()
        async with self.pool.acquire() as connection, connection.transaction():
            owner = await connection.fetchval(
                "SELECT user_id FROM wallet_links WHERE tenant_id = $1::uuid AND address = $2", tenant_id, address)
            if owner is not None and str(owner) != user_id:
                raise Conflict("this wallet is already linked to another member of the tenant")
            await connection.execute(
                "INSERT INTO wallet_links (tenant_id, address, user_id) VALUES ($1::uuid, $2, $3::uuid) "
                "ON CONFLICT (tenant_id, address) DO NOTHING", tenant_id, address, user_id)
        await self.invalidate(user_id)

    async def unlink_wallet(self, user_id: str, address: str, in_same_transaction=None):
        """Unlinks the wallet; `in_same_transaction(connection)` runs in its transaction (what else the
        unlinking ends: the identity controller revokes the wallet's binding credentials). Returns what it
        returns."""
        address = address.lower()
        result = None
        async with self.pool.acquire() as connection, connection.transaction():
            wallets = await connection.fetch(
                "SELECT address FROM wallet_links WHERE user_id = $1::uuid FOR UPDATE", user_id)
            if address not in {w["address"] for w in wallets}:
                raise NotFound("this wallet is not linked to you")
            if len(wallets) == 1:
                raise Conflict("cannot unlink your only wallet: you could not sign in any more")
            await connection.execute("DELETE FROM wallet_links WHERE user_id = $1::uuid AND address = $2",
                                     user_id, address)
            if in_same_transaction is not None:
                result = await in_same_transaction(connection)
        await self.invalidate(user_id)
        return result

    async def members(self, tenant_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        """Members of the tenant, oldest first, keyset-paginated by (created_at, id)."""
        rows = await self.pool.fetch(
            "SELECT u.id, u.role, u.display_name, u.created_at, "
            "coalesce(array_agg(w.address) FILTER (WHERE w.address IS NOT NULL), '{}') AS wallets "
            "FROM users u LEFT JOIN wallet_links w ON w.user_id = u.id WHERE u.tenant_id = $1::uuid "
            "AND (u.created_at, u.id) > ($2, $3::uuid) "
            "GROUP BY u.id ORDER BY u.created_at, u.id LIMIT $4",
            tenant_id, *decode_cursor(cursor, newest_first=False), limit + 1)
        return page(rows, limit, "created_at", "id", lambda r: {
            "id": str(r["id"]), "role": r["role"], "display_name": r["display_name"], "wallets": list(r["wallets"])})


SERVICE_CLIENT_ID = re.compile(r"svc_[0-9a-f]{16}")


def is_service_client_id(value) -> bool:
    """Whether `value` has the form `ServiceClients.create` gives client ids (before any database look-up)."""
    return isinstance(value, str) and SERVICE_CLIENT_ID.fullmatch(value) is not None


class ServiceClients:
    """Client credentials for services (attestor integrations, the agent controller)."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def create(self, tenant_id: str, role: str, name: str) -> tuple[str, str]:
        client_id = "svc_" + secrets.token_hex(8)  # SERVICE_CLIENT_ID
        secret = secrets.token_urlsafe(32)
        await self.pool.execute(
            "INSERT INTO service_clients (client_id, tenant_id, role, name, secret_hash) "
            "VALUES ($1, $2::uuid, $3, $4, $5)",
            client_id, tenant_id, role, name, _hash(secret))
        return client_id, secret

    async def authenticate(self, client_id: str, secret: str) -> asyncpg.Record | None:
        row = await self.pool.fetchrow(
            "SELECT client_id, tenant_id, role, secret_hash, revoked_at FROM service_clients WHERE client_id = $1",
            client_id)
        if (row is None or row["revoked_at"] is not None
                or not secrets.compare_digest(row["secret_hash"], _hash(secret))):
            return None
        return row

    async def revoke(self, tenant_id: str, client_id: str) -> bool:
        status = await self.pool.execute(
            "UPDATE service_clients SET revoked_at = now() WHERE client_id = $1 AND tenant_id = $2::uuid "
            "AND revoked_at IS NULL", client_id, tenant_id)
        return status.endswith(" 1")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _float(value) -> float | None:
    return None if value is None else float(value)


def _revive(user: dict) -> dict:
    user = dict(user)
    user["created_at"] = datetime.fromisoformat(user["created_at"])
    user["updated_at"] = datetime.fromisoformat(user["updated_at"])
    return user
