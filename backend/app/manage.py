"""Operator commands for the API's database (the first admin of a tenant cannot be made over HTTP):

  python -m backend.app.manage migrate
  python -m backend.app.manage tenant <slug> [--name NAME] [--invite-only]
  python -m backend.app.manage role <tenant-slug> <address> <user|coach|admin>
  python -m backend.app.manage reward-mode <tenant-slug> <voucher|epoch>
  python -m backend.app.manage retry-epoch <epoch>
  python -m backend.app.manage rotate-jwt-key
"""

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime

from redis.asyncio import Redis

from backend.app.auth.keyring import KeyRing
from backend.app.core.config import get_settings
from backend.app.core.db import create_pool, migrate
from backend.app.rewards.chain import RewardsChain
from backend.app.rewards.epochs import NotRetryable, retry_epoch
from backend.app.rewards.modes import RewardMode, UnknownTenant, set_reward_mode
from backend.app.users.service import NotFound, Users, ensure_tenant, sign_in


async def _tenant(slug: str, name: str | None, invite_only: bool) -> str:
    settings = get_settings()
    pool = await create_pool(settings, settings.backend_database)
    try:
        return await ensure_tenant(pool, slug, name, open_signup=not invite_only)
    finally:
        await pool.close()


async def _role(slug: str, address: str, role: str) -> str:
    settings = get_settings()
    pool = await create_pool(settings, settings.backend_database)
    redis = Redis(host=settings.redis_host, port=settings.redis_port)
    try:
        try:
            member = await sign_in(pool, slug, address, admit=True)
        except NotFound:
            raise SystemExit(f"manage: unknown tenant {slug!r} (create it with: manage tenant {slug})") from None
        await Users(pool, redis, settings.user_cache_ttl_seconds).set_role(member.user_id, role)
        return member.user_id
    finally:
        await pool.close()
        await redis.aclose()


async def _reward_mode(slug: str, mode: RewardMode) -> RewardMode:
    settings = get_settings()
    pool = await create_pool(settings, settings.backend_database)
    try:
        return await set_reward_mode(pool, slug, mode)
    except UnknownTenant as exc:
        raise SystemExit(f"manage: {exc} (create it with: manage tenant {slug})") from None
    finally:
        await pool.close()


async def _retry_epoch(epoch: int) -> int:
    settings = get_settings()
    chain = RewardsChain(settings)
    pool = await create_pool(settings, settings.backend_database)
    try:
        return await retry_epoch(pool, settings.chain_id, chain.contract, epoch)
    except NotRetryable as exc:
        raise SystemExit(f"manage: {exc}") from None
    finally:
        await pool.close()
        await chain.close()


def _rotate_jwt_key() -> str:
    settings = get_settings()
    ring = KeyRing.from_settings(settings)
    key, deleted = ring.rotate()
    retiring = [k for k in ring.verifying() if k.signs_from < key.signs_from]
    lines = [f"published signing key {key.kid} ({key.name}) in {ring.directory}: it signs from "
             f"{_when(key.signs_from)}, once every JWKS cache and process has it"]
    lines += [f"key {k.kid} ({k.name}) keeps verifying until {_when(key.signs_from + ring.token_ttl)}; run "
              "rotate-jwt-key again after that to delete it" for k in retiring]
    lines += [f"deleted retired key {name}" for name in deleted]
    return "\n".join(lines)


def _when(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.app.manage", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the backend database to the latest schema")
    tenant = commands.add_parser("tenant", help="create a tenant (idempotent)")
    tenant.add_argument("slug")
    tenant.add_argument("--name")
    tenant.add_argument("--invite-only", action="store_true")
    role = commands.add_parser("role", help="make the wallet's member (created if needed) user, coach or admin")
    role.add_argument("tenant")
    role.add_argument("address")
    role.add_argument("role", choices=["user", "coach", "admin"])
    mode = commands.add_parser("reward-mode", help="how the tenant pays rewards for workouts accepted from now on: "
                                                   "a voucher per workout, or Merkle epochs")
    mode.add_argument("tenant")
    mode.add_argument("mode", choices=[m.value for m in RewardMode])
    retry = commands.add_parser("retry-epoch", help="submit a failed epoch's root again (once its cause is fixed)")
    retry.add_argument("epoch", type=int)
    commands.add_parser("rotate-jwt-key", help="publish a new access-token signing key (it signs after "
                                               "jwt_key_publish_seconds) and delete retired ones")
    args = parser.parse_args(argv)
    if args.command == "rotate-jwt-key":  # the key ring's directory only: no database
        print(_rotate_jwt_key())
        return 0
    migrate(get_settings())
    if args.command == "tenant":
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,39}", args.slug):
            parser.error("a tenant slug is 2-40 lowercase letters, digits and dashes")
        print(f"tenant {args.slug}: {asyncio.run(_tenant(args.slug, args.name, args.invite_only))}")
    elif args.command == "role":
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", args.address):
            parser.error(f"not an Ethereum address: {args.address}")
        user_id = asyncio.run(_role(args.tenant, args.address, args.role))
        print(f"{args.address} is {args.role} of {args.tenant} (user {user_id}); it applies at the next sign-in")
    elif args.command == "reward-mode":
        previous = asyncio.run(_reward_mode(args.tenant, RewardMode(args.mode)))
        print(f"tenant {args.tenant}: reward mode {args.mode} (was {previous.value}) for workouts accepted from now "
              "on; earlier workouts keep theirs")
    elif args.command == "retry-epoch":
        request_id = asyncio.run(_retry_epoch(args.epoch))
        print(f"epoch {args.epoch}: root submitted again (transaction queue request {request_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
