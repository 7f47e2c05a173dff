"""The tenant_policies table: per tenant, per role, the actions its admins took away."""

import json

import asyncpg


async def read(pool: asyncpg.Pool, tenant_id: str) -> dict:
    """{"denied": {role: [action, ...]}, "updated_at": datetime | None} (no row: nothing denied)."""
    row = await pool.fetchrow("SELECT denied, updated_at FROM tenant_policies WHERE tenant_id = $1::uuid", tenant_id)
    if row is None:
        return {"denied": {}, "updated_at": None}
    return {"denied": json.loads(row["denied"]), "updated_at": row["updated_at"]}


async def write(pool: asyncpg.Pool, tenant_id: str, denied: dict[str, list[str]], by: str | None) -> None:
    await pool.execute(
        "INSERT INTO tenant_policies (tenant_id, denied, updated_by) VALUES ($1::uuid, $2::jsonb, $3::uuid) "
        "ON CONFLICT (tenant_id) DO UPDATE SET denied = EXCLUDED.denied, updated_at = now(), "
        "updated_by = EXCLUDED.updated_by", tenant_id, json.dumps(denied), by)


async def fingerprint(pool: asyncpg.Pool | asyncpg.Connection) -> str:
    """A digest of every tenant's policy: it changes when any committed row does (checked on every sync)."""
    return await pool.fetchval(
        "SELECT md5(coalesce(string_agg(tenant_id::text || denied::text, ',' ORDER BY tenant_id), '')) "
        "FROM tenant_policies")


async def everything(pool: asyncpg.Pool) -> tuple[str, dict[str, dict]]:
    """The fingerprint and {tenant_id: {"denied": ...}} of every row, read in one snapshot."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read", readonly=True):
        digest = await fingerprint(connection)
        rows = await connection.fetch("SELECT tenant_id::text AS tenant_id, denied FROM tenant_policies")
    return digest, {row["tenant_id"]: {"denied": json.loads(row["denied"])} for row in rows}
