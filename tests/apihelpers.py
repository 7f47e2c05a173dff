"""Helpers for tests that drive the API over HTTP: a fresh backend database in the stack's PostgreSQL,
the API's settings for it, and wallets (eth-account) that sign in with EIP-4361 messages."""

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
from eth_account import Account
from eth_account.messages import encode_defunct
from siwe import SiweMessage

import testclock
from backend.app.core.config import Settings
from backend.app.core.db import dsn
from bench.databases import create_databases, drop_databases


def admin_dsn(stack: dict) -> dict:
    """How tests connect to the stack's PostgreSQL as its owner (add `database=`)."""
    secret = Path(stack["FITMINT_STATE_DIR"]) / "secrets" / "postgres-password"
    return dict(host="127.0.0.1", port=int(stack["POSTGRES_PORT"]), user=stack["POSTGRES_USER"],
                password=secret.read_text().strip())


def create_database(stack: dict) -> str:
    name = f"api_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(create_databases([name], **admin_dsn(stack)))
    return name


def drop_database(stack: dict, name: str) -> None:
    asyncio.run(drop_databases([name], **admin_dsn(stack)))


def api_settings(stack: dict, state_dir: Path, backend_database: str, **overrides) -> Settings:
    """The API's and the worker's settings on the stack's servers, with the test's database, and consumer
    groups of its own (a group shared with another test's worker would share out its partitions)."""
    run = uuid.uuid4().hex[:8]
    values = dict(fitmint_state_dir=state_dir, redis_port=int(stack["REDIS_PORT"]),
                  notifications_consumer_group=f"test-notifications-{run}",
                  deliveries_consumer_group=f"test-deliveries-{run}", email_consumer_group=f"test-email-{run}",
                  postgres_port=int(stack["POSTGRES_PORT"]),
                  postgres_password_file=Path(stack["FITMINT_STATE_DIR"]) / "secrets" / "postgres-password",
                  backend_database=backend_database,
                  kafka_port=int(stack["KAFKA_PORT"]), relay_enabled=False, rate_limit_auth=100_000,
                  rate_limit_account=100_000, clock_offset_seconds=testclock.pin(),
                  worker_metrics_port=0)  # the stack's worker has the default port
    return Settings(**{**values, **overrides})


def db(settings: Settings, query: str, *args):
    async def run():
        connection = await asyncpg.connect(dsn(settings, settings.backend_database))
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()

    return asyncio.run(run())


def new_wallet():
    return Account.create()


def siwe_message(client, settings: Settings, wallet, **fields) -> str:
    nonce = fields.pop("nonce", None) or client.post("/auth/nonce").json()["nonce"]
    values = dict(domain=settings.siwe_domain, address=wallet.address, statement="Sign in to fitmint",
                  uri=settings.siwe_uri, version="1", chain_id=settings.chain_id, nonce=nonce,
                  issued_at=datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"))
    return SiweMessage(**{**values, **fields}).prepare_message()


def sign(message: str, wallet) -> str:
    return "0x" + wallet.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


def sign_in(client, settings: Settings, wallet, tenant: str | None = None) -> dict:
    """Signs `wallet` in (to `tenant`); returns the Authorization header. Fails the test on refusal."""
    message = siwe_message(client, settings, wallet)
    body = {"message": message, "signature": sign(message, wallet)} | ({"tenant": tenant} if tenant else {})
    response = client.post("/auth/verify", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def me(client, headers) -> dict:
    response = client.get("/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def a_run(hours_ago: float = 3, minutes: int = 30, km: float = 5.0, *, end: datetime | None = None,
          **fields) -> dict:
    """A plausible run that ended `hours_ago` hours ago on the test's clock, or at `end` (10 km/h, ~1.1 m
    per step)."""
    end = end or testclock.now() - timedelta(hours=hours_ago)
    start = end - timedelta(minutes=minutes)
    body = {"activity": "run", "started_at": start.isoformat(), "ended_at": end.isoformat(),
            "distance_m": km * 1000, "steps": int(km * 1000 / 1.1), "calories": 60.0 * km,
            "avg_heart_rate": 150, "max_heart_rate": 178}
    return body | fields
