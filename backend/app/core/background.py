"""Background loops of the API and the worker: pauses that end early on stop, and work that only one
replica does at a time (the holder of a PostgreSQL advisory lock)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from fitmint.resilience import Retrier

log = logging.getLogger("background")


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Waits `seconds`, or less if `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def lead(pool: asyncpg.Pool, lock_key: int, stop: asyncio.Event, work: Callable[[], Awaitable[None]], *,
               name: str, retry_seconds: float) -> None:
    """Until `stop`: runs `work` (which returns once `stop` is set) while holding the advisory lock
    `lock_key`; the other replicas try again every `retry_seconds`, so one takes over when the holder
    goes. PostgreSQL down: said once (and once when it is back), retried."""
    health = Retrier(f"{name}.lock", ("postgres",), log=log)
    while not stop.is_set():
        try:
            async with pool.acquire() as lock_connection:
                held = await lock_connection.fetchval("SELECT pg_try_advisory_lock($1)", lock_key)
                health.progressed()
                if held:
                    try:
                        await work()
                    finally:
                        await lock_connection.execute("SELECT pg_advisory_unlock($1)", lock_key)
        except Exception as exc:  # the work must go on: a bug is logged with its traceback
            if health.classify(exc):
                health.down("postgres", exc)
            else:
                log.exception("%s failed; retrying in %g s", name, retry_seconds)
        await pause(stop, retry_seconds)
