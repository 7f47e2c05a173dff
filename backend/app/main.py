"""The API application: `uvicorn backend.app.main:app` (or `create_app(settings)` in tests)."""

from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from redis.asyncio import Redis

from backend.app.auth.routes import router as auth_router
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
            yield
        finally:
            await redis.aclose()

    app = FastAPI(title="fitmint API", version="0.1.0", lifespan=lifespan)
    app.include_router(auth_router)

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
