"""The API's pool to the analytics store (`analytics_database`, fitmint_analytics): read-only sessions,
opened at start and, if the store was unreachable then, again on demand (at most every `retry_seconds`),
so the dashboards come back without restarting the API. Until then, and while the store has no schema
yet, its reads raise StoreUnavailable, which the API answers with 503 and the reason."""

import asyncio
import logging
import time

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse

from backend.app.core.config import Settings
from backend.app.core.db import create_pool, read_only_reset

log = logging.getLogger("api.analytics")

# Every dashboard query is an index range over the projections; one that runs this long is a bug or a
# lock, and its connection is better back in the pool.
STATEMENT_TIMEOUT_MS = 10_000


class StoreUnavailable(Exception):
    """The analytics store cannot be read now (unreachable, or no schema yet): retry later."""


async def answer_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
    """The API's answer to StoreUnavailable: 503 with the reason."""
    return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={"detail": str(exc)})


class AnalyticsDatabase:
    def __init__(self, settings: Settings, *, retry_seconds: float = 5.0, max_size: int = 8):
        self.settings = settings
        self.retry_seconds = retry_seconds
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._tried_at = float("-inf")
        self._opening = asyncio.Lock()

    async def open(self) -> asyncpg.Pool | None:
        """The pool, opening it if it is not open and the last try is `retry_seconds` old; None if the
        store cannot be reached."""
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None and time.monotonic() - self._tried_at >= self.retry_seconds:
                self._tried_at = time.monotonic()
                try:
                    self._pool = await create_pool(
                        self.settings, self.settings.analytics_database, min_size=1, max_size=self.max_size,
                        reset=read_only_reset, server_settings={
                            "default_transaction_read_only": "on", "statement_timeout": str(STATEMENT_TIMEOUT_MS)})
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("analytics store %s unreachable (%r): the analytics endpoints answer 503",
                                self.settings.analytics_database, exc)
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def fetch(self, query: str, *args) -> list[asyncpg.Record]:
        pool = await self.open()
        if pool is None:
            raise StoreUnavailable(f"the analytics store ({self.settings.analytics_database}) is not reachable")
        try:
            return await pool.fetch(query, *args)
        except asyncpg.UndefinedTableError as exc:
            raise StoreUnavailable("the analytics store has no schema yet (python -m analytics creates it)") from exc

    async def fetchrow(self, query: str, *args) -> asyncpg.Record | None:
        rows = await self.fetch(query, *args)
        return rows[0] if rows else None


def get_analytics_database(request: Request) -> AnalyticsDatabase:
    return request.app.state.analytics
