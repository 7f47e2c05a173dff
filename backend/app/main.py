"""The API application: `uvicorn --factory backend.app.main:serve` (the stack: traces, JSON logs shipped to
the log store), `uvicorn backend.app.main:app` (no telemetry), or `create_app(settings)` in tests."""

import asyncio
import gc
import logging
import sys
from contextlib import asynccontextmanager, suppress

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from agent.controller.acapy import AcaPy
from agent.controller.routes import router as identity_router
from agent.controller.routes import webhooks as agent_webhooks_router
from backend.app.analytics.database import AnalyticsDatabase, StoreUnavailable, answer_unavailable
from backend.app.analytics.routes import router as analytics_router
from backend.app.auth.keyring import KeyRing, NoSigningKey
from backend.app.auth.oauth_routes import router as oauth_router
from backend.app.auth.routes import router as auth_router
from backend.app.auth.siwe_service import SiweService
from backend.app.auth.tokens import TokenService
from backend.app.catalog.routes import router as catalog_router
from backend.app.chain.document import API_VERSION
from backend.app.chain.routes import ChainDocuments
from backend.app.chain.routes import router as chain_router
from backend.app.core import cors, http_metrics, inputs
from backend.app.core.background import pause
from backend.app.core.body_limit import BodyLimitMiddleware
from backend.app.core.config import Settings, get_settings
from backend.app.core.db import create_pool, migrate_async, read_only_reset, transaction_scoped_reset
from backend.app.core.observe import ObserveMiddleware
from backend.app.core.opa import Opa, PolicyUnavailable
from backend.app.core.outages import OutageClassifier
from backend.app.core.outages import install as install_outage_answers
from backend.app.core.ratelimit import RateLimiter
from backend.app.dapp import mount_dapp
from backend.app.fitness.fraud.routes import router as fraud_router
from backend.app.fitness.fraud.scoring import ActiveModel
from backend.app.fitness.routes import router as fitness_router
from backend.app.marketplace.routes import router as marketplace_router
from backend.app.notifications.hub import Hub
from backend.app.notifications.routes import router as notifications_router
from backend.app.outbox_relay import run_relay
from backend.app.recommendations.client import RecommendClient
from backend.app.recommendations.routes import router as recommendations_router
from backend.app.recommendations.service import TenantCatalogs
from backend.app.relayer.batcher import ClaimBatcher
from backend.app.relayer.chain import RelayerChain
from backend.app.relayer.routes import router as relayer_router
from backend.app.rewards.chain import RewardsChain
from backend.app.rewards.epoch_routes import router as epochs_router
from backend.app.rewards.routes import router as rewards_router
from backend.app.rewards.service import Vouchers
from backend.app.tenant_policy.routes import router as tenant_policy_router
from backend.app.tenant_policy.sync import TenantPolicySync
from backend.app.transactions.routes import router as transactions_router
from backend.app.users.routes import router as users_router
from backend.app.users.service import ensure_tenant
from backend.app.wallets.routes import router as wallets_router
from fitmint import telemetry
from fitmint.chain.gateway import ChainGateway
from fitmint.resilience import POSTGRES_ERRORS, quiet_library_retries

log = logging.getLogger("api")


async def _open_pool(settings: Settings, database: str, purpose: str, **options):
    # Bounded waits: a connection attempt or a query that hangs (a partitioned or stalled server) ends in
    # TimeoutError, which the request answers with 504, instead of holding the request and the connection.
    try:
        return await create_pool(settings, database, min_size=1, max_size=options.pop("max_size", 8),
                                 timeout=settings.postgres_timeout_seconds,
                                 command_timeout=settings.postgres_timeout_seconds, **options)
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("database %s unreachable (%s): %s answer 503", database, exc, purpose)
        return None


def _dependency_urls(settings: Settings) -> dict[str, str]:
    """Where the API's HTTP clients go, by dependency name (the outage answers name the one that failed)."""
    return {"rpc": settings.fitmint_rpc_url, "ipfs": settings.ipfs_url, "acapy": settings.acapy_admin_url,
            "recommend": settings.recommend_url, "attestor-signer": settings.fitmint_attestor_signer_url}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    quiet_library_retries()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # One quick retry (a pooled connection a restarted Redis closed), not redis-py's default three with
        # up to 10 s of backoff: an outage is answered (503/504) within about twice the timeout.
        redis = Redis(host=settings.redis_host, port=settings.redis_port, socket_timeout=settings.redis_timeout_seconds,
                      socket_connect_timeout=settings.redis_timeout_seconds,
                      retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1))
        app.state.settings = settings
        app.state.redis = redis
        app.state.tokens = TokenService(redis=redis, settings=settings)
        app.state.siwe = SiweService(redis=redis, settings=settings)
        app.state.limiter = RateLimiter(redis)
        app.state.opa = Opa(settings.opa_address, settings.opa_timeout_seconds)  # every authorization decision
        app.state.policy_sync = None
        app.state.hub = Hub(redis)
        await app.state.hub.start()
        app.state.indexer_pool = await _open_pool(settings, settings.indexer_database, "wallet reads",
                                                  max_size=16, reset=read_only_reset)
        app.state.analytics = AnalyticsDatabase(settings)  # the dashboards' reads (fitmint_analytics)
        await app.state.analytics.open()
        app.state.backend_pool = None
        app.state.voucher_pool = None
        app.state.platform_tenant_id = None
        app.state.vouchers = None
        app.state.rewards_chain = RewardsChain(settings)
        app.state.chain_documents = ChainDocuments(settings)
        app.state.relayer_chain = RelayerChain(ChainGateway.from_settings(settings, timeout=5))
        app.state.acapy = AcaPy(settings)  # the identity agent's admin API (connects on first use)
        app.state.fraud_model = ActiveModel(settings.fraud_model_refresh_seconds)  # loaded on first use
        app.state.recommend = RecommendClient(settings.recommend_url, settings.recommend_timeout_seconds)
        app.state.recommend_catalogs = TenantCatalogs(settings.recommend_catalog_ttl_seconds)
        stop = asyncio.Event()
        relay: list[asyncio.Task] = []

        async def open_backend() -> bool:
            try:
                await migrate_async(settings)
            except Exception as exc:  # noqa: BLE001 - reported; the endpoints needing the database answer 503
                log.warning("backend database not migrated (%r): accounts and fitness answer 503 until it is", exc)
                return False
            pool = await _open_pool(settings, settings.backend_database, "accounts and fitness")
            if pool is None:
                return False
            app.state.platform_tenant_id = await ensure_tenant(pool, settings.default_tenant)
            # The voucher endpoint's own connections: Vouchers leaves no session state (rewards/service.py), so
            # they skip the reset query the shared pool runs on every release (its users take session locks
            # and LISTEN); two round trips fewer per voucher.
            app.state.voucher_pool = await _open_pool(settings, settings.backend_database, "reward vouchers",
                                                      reset=transaction_scoped_reset)
            app.state.vouchers = Vouchers(app.state.voucher_pool or pool, app.state.rewards_chain, settings)
            app.state.backend_pool = pool
            app.state.policy_sync = TenantPolicySync(pool, app.state.opa, settings.opa_sync_seconds)
            with suppress(PolicyUnavailable, *POSTGRES_ERRORS):  # else the loop retries; decisions fail closed
                await app.state.policy_sync.push()
            relay.append(asyncio.create_task(app.state.policy_sync.run(stop)))
            if settings.relay_enabled:
                relay.append(asyncio.create_task(run_relay(pool, settings, stop)))
            if settings.relayer_enabled:  # every replica batches: row locks share the waiting relays out
                relay.append(asyncio.create_task(ClaimBatcher(pool, app.state.relayer_chain, settings).run(stop)))
            return True

        async def open_backend_when_back() -> None:  # PostgreSQL was down at start: keep trying
            while not stop.is_set() and not await open_backend():
                await pause(stop, 5)
            if app.state.backend_pool is not None:
                log.warning("backend database reachable: accounts and fitness are served again")

        opener = None if await open_backend() else asyncio.create_task(open_backend_when_back())
        # Everything made at start-up (routes, models, schema) lives as long as the process: freeze it
        # out of the collector's scans, and collect less often. Measured with wrk on the balance
        # endpoint: +30% throughput, p99 143 -> 54-81 ms (GC pauses were the tail).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        try:
            yield
        finally:
            stop.set()
            for task in ([opener] if opener else []) + relay:
                with suppress(Exception):
                    await asyncio.wait_for(task, 15)
            await app.state.hub.stop()
            await app.state.rewards_chain.close()
            await app.state.chain_documents.close()
            await app.state.relayer_chain.gateway.close()
            await app.state.acapy.close()
            await app.state.recommend.close()
            await app.state.opa.close()
            await redis.aclose()
            await app.state.analytics.close()
            for pool in (app.state.indexer_pool, app.state.backend_pool, app.state.voucher_pool):
                if pool is not None:
                    await pool.close()

    # Every route: the path and query string hold only text PostgreSQL can store (inputs.py: the bodies').
    app = FastAPI(title="fitmint API", version=API_VERSION, lifespan=lifespan, telemetry=telemetry.FASTAPI_NATIVE_OFF,
                  dependencies=[Depends(inputs.refuse_unstorable_parameters)],
                  description="Sign-in with Ethereum, tenants and policies, members, fitness with anti-cheat, "
                              "reward vouchers and Merkle epochs, wallet and marketplace reads of the indexed chain, "
                              "purchase quotes, tenant dashboards (GET /analytics/...), personalised products and "
                              "workouts (GET /recommendations/...), and what a client needs to "
                              "know about the chain (GET /chain).")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       allowances={"/catalog/images": settings.max_image_bytes})
    # Outermost (added last): a request the body limit refuses is traced, counted and logged too.
    metrics = settings.http_metrics_enabled
    app.add_middleware(ObserveMiddleware, tracing=telemetry.active(), read_ratio=settings.trace_read_ratio,
                       access=settings.access_log, slow_seconds=settings.slow_request_seconds,
                       on_request=http_metrics.record if metrics else None,
                       in_flight=http_metrics.InFlight if metrics else None)
    if settings.cors_origins:
        # Pages of these origins may call the API with a member's bearer token (no cookies: no credentials
        # mode); a preflight from any other origin gets no CORS headers, so the browser refuses the call.
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=cors.ALLOW_HEADERS, expose_headers=cors.EXPOSE_HEADERS,
                           max_age=settings.cors_max_age_seconds)
    if settings.trusted_proxies:
        # Outermost: everything after it (the access log, the per-IP rate limits) sees the client, taken from
        # X-Forwarded-For only when the peer is a trusted proxy: the nearest address in it that is not one.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=[str(n) for n in settings.trusted_proxies])
    # The busiest routes first (wallet reads, recommendations): routes are matched in order.
    for router in (wallets_router, chain_router, marketplace_router, recommendations_router, auth_router,
                   oauth_router, users_router, fitness_router, fraud_router, rewards_router, epochs_router,
                   relayer_router, notifications_router, catalog_router, transactions_router, analytics_router,
                   identity_router, agent_webhooks_router, tenant_policy_router):
        app.include_router(router)

    mount_dapp(app, settings.dapp_dir)

    @app.exception_handler(asyncpg.UndefinedTableError)
    async def indexer_not_ready(request, exc):
        # Only the indexer's tables can be missing (the API migrates its own before serving).
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
            "detail": "the indexer has not initialised its tables yet", "dependency": "indexer"})

    app.add_exception_handler(StoreUnavailable, answer_unavailable)
    inputs.install(app)  # a 422 that can echo any input (NaN, lone surrogates), never a 500

    # An outage of a dependency mid-request: 503 (unavailable) or 504 (timed out) naming it, never a 500.
    install_outage_answers(app, OutageClassifier(_dependency_urls(settings)))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics of this process (e.g. fitmint_dependency_up of its outbox relay)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", tags=["health"])
    async def health() -> dict:
        """Liveness plus the dependencies the API cannot work without."""
        try:
            redis_ok = bool(await app.state.redis.ping())
        except Exception:  # noqa: BLE001 - reported, not raised
            redis_ok = False
        if not redis_ok:
            raise HTTPException(503, "redis unreachable")
        if not await app.state.opa.healthy():  # fail closed: no request could be authorized
            raise HTTPException(503, "opa unreachable")
        return {"status": "ok", "redis": "ok", "opa": "ok",
                "backend_database": "ok" if app.state.backend_pool is not None else "unavailable"}

    return app


def serve() -> FastAPI:
    """The stack's API process: telemetry first (fitmint/telemetry), then the app."""
    telemetry.setup("api")
    settings = get_settings()
    settings.refuse_exposed_secrets("api")
    try:
        KeyRing.from_settings(settings).ensure()
    except NoSigningKey as exc:
        print(f"api: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return create_app()


app = create_app()
