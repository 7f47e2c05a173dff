"""The API application: `uvicorn backend.app.main:app` (or `create_app(settings)` in tests)."""

import logging
from contextlib import asynccontextmanager

import asyncpg

from fastapi import FastAPI, HTTPException
from redis.asyncio import Redis

from backend.app.auth.routes import router as auth_router
from backend.app.wallets.routes import router as wallets_router
from backend.app.auth.siwe_service import SiweService
from backend.app.auth.tokens import TokenService
from backend.app.core.config import Settings, get_settings
from backend.app.core.ratelimit import RateLimiter


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = Redis(host=settings.redis_host, port=settings.redis_port)
        app.state.settings = settings
        app.state.tokens = TokenService(redis=redis, settings=settings)
        app.state.siwe = SiweService(redis=redis, settings=settings)
        app.state.limiter = RateLimiter(redis)
        app.state.redis = redis
        try:
            app.state.indexer_pool = await asyncpg.create_pool(
                host=settings.postgres_host, port=settings.postgres_port, user=settings.postgres_user,
                password=settings.postgres_password(), database=settings.indexer_database, min_size=1, max_size=8)
        except (OSError, asyncpg.PostgresError) as exc:
            logging.getLogger("api").warning("indexer database unreachable (%s): wallet reads answer 503", exc)
            app.state.indexer_pool = None
        try:
            yield
        finally:
            await redis.aclose()
            if app.state.indexer_pool is not None:
                await app.state.indexer_pool.close()

    app = FastAPI(title="fitmint API", version="0.1.0", lifespan=lifespan)
    app.include_router(auth_router)
    app.include_router(wallets_router)

    @app.get("/health", tags=["health"])
    async def health() -> dict:
        """Liveness plus the dependencies the API cannot work without."""
        try:
            redis_ok = bool(await app.state.redis.ping())
        except Exception:  # noqa: BLE001 - reported, not raised
            redis_ok = False
        if not redis_ok:
            raise HTTPException(503, "redis unreachable")
        return {"status": "ok", "redis": "ok"}

    return app


app = create_app()
