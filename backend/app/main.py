"""The API application: `uvicorn backend.app.main:app` (or `create_app(settings)` in tests)."""

from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from backend.app.auth.routes import router as auth_router
from backend.app.auth.siwe_service import SiweService
from backend.app.auth.tokens import TokenService
from backend.app.core.config import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = Redis(host=settings.redis_host, port=settings.redis_port)
        app.state.settings = settings
        app.state.tokens = TokenService(redis=redis, settings=settings)
        app.state.siwe = SiweService(redis=redis, settings=settings)
        try:
            yield
        finally:
            await redis.aclose()

    app = FastAPI(title="fitmint API", version="0.1.0", lifespan=lifespan)
    app.include_router(auth_router)
    return app


app = create_app()
