"""The recommendation service: on loopback, for the API only (POST /products, POST /workouts). It reads the
member's features from the online store (Redis, through Feast) at each request and ranks with the product
model it holds in memory; the API has already narrowed the candidates to what is true now (the tenant's
products on sale that the member's wallets do not hold).

Beside serving, the process keeps the online store fresh and the model current, each in a thread of its own
(with its own Feast store, so a long materialisation never holds up a request):
- the freshness follower: every `freshness_poll_seconds`, the facts the analytics consumer stored since the
  last look (it reads Kafka) rewrite the online rows of the members, items and activities they touched;
- the scheduled materialisation: every `materialize_interval_seconds`, an incremental one (and a full one
  when the store is new), which also catches what the follower could have missed;
- the model: reloaded when training (`python -m recommend train`, a child process every
  `retrain_interval_seconds`, and at once when there is no model) publishes a new version.
"""

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.responses import Response

from recommend import featurestore, models
from recommend.history import MemberHistory
from recommend.products import Item
from recommend.settings import RecommendSettings
from recommend.workouts import Goals, suggest

log = logging.getLogger("recommend")

REQUESTS = Histogram("fitmint_recommend_seconds", "Time to answer a recommendation request", ["kind"],
                     buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5))
REFRESHED = Counter("fitmint_recommend_refreshes_total", "Freshness follower passes that rewrote online rows")
FAILURES = Counter("fitmint_recommend_background_failures_total", "Background work that failed", ["job"])

ITEM_CACHE_SECONDS = 60.0  # an item's metadata (tenant, tags, price) rarely changes; its counts may lag this much
ACTIVITY_CACHE_SECONDS = 60.0


class ProductsRequest(BaseModel):
    member_id: str = Field(max_length=64)
    tenant_id: str = Field(max_length=64)
    limit: int = Field(default=10, ge=1, le=50)
    exclude: list[str] = Field(default_factory=list, max_length=10_000)  # held by the member's wallets
    candidates: list[str] = Field(max_length=10_000)  # the tenant's items on sale


class WorkoutsRequest(BaseModel):
    member_id: str = Field(max_length=64)
    weekly_workouts: int | None = Field(default=None, ge=1, le=14)
    focus: str | None = Field(default=None, max_length=32)
    limit: int = Field(default=3, ge=1, le=10)


class Expiring:
    """A value re-read by `load` when older than `seconds`."""

    def __init__(self, seconds: float, load: Callable[[], object]):
        self.seconds, self.load = seconds, load
        self._at, self._value = -1e18, None

    def get(self):
        if time.monotonic() - self._at >= self.seconds:
            self._value, self._at = self.load(), time.monotonic()
        return self._value


class Recommender:
    """What a request needs: the serving store (reads only), the current model, cached item metadata."""

    def __init__(self, settings: RecommendSettings, clock: Callable[[], float] = time.time):
        self.settings, self.clock = settings, clock
        self.store = featurestore.open_store(settings)
        self.model = models.Current(settings.model_dir)
        self._items: dict[str, tuple[float, Item]] = {}
        self._items_lock = threading.Lock()
        self.activities = Expiring(ACTIVITY_CACHE_SECONDS, lambda: featurestore.read_activities(self.store))

    def items(self, item_ids: list[str]) -> dict[str, Item]:
        """Metadata of these items, from memory when read in the last ITEM_CACHE_SECONDS."""
        now = time.monotonic()
        with self._items_lock:
            known = {i: entry[1] for i in item_ids if (entry := self._items.get(i)) and now - entry[0] < ITEM_CACHE_SECONDS}
        missing = [i for i in item_ids if i not in known]
        if missing:
            read = featurestore.read_items(self.store, missing)
            fresh = {i: models.item_of(i, row) for i, row in read.items() if row.get("tenant_id")}
            with self._items_lock:
                self._items.update({i: (now, item) for i, item in fresh.items()})
            known |= fresh
        return known

    def products(self, request: ProductsRequest) -> dict:
        member = featurestore.read_member(self.store, request.member_id)
        history = MemberHistory.from_features(member)
        exclude = set(request.exclude) | set(member.get("purchased_items") or ())
        candidates = [c for c in request.candidates if c not in exclude]
        items = {i: item for i, item in self.items(candidates).items() if item.tenant_id == request.tenant_id}
        model = self.model.get()
        ranked = models.rank(model, request.member_id, tenant_id=request.tenant_id, limit=request.limit,
                             exclude=exclude, items=items, recent_items=member.get("purchased_items") or (),
                             activity_mix=history.activity_mix(), now=self.clock())
        return {"items": [{"item_id": s.item_id, "score": s.score, "reason": s.reason} for s in ranked],
                "model_version": model.version if model else None}

    def workouts(self, request: WorkoutsRequest) -> dict:
        history = MemberHistory.from_features(featurestore.read_member(self.store, request.member_id))
        suggestions = suggest(history, Goals(weekly_workouts=request.weekly_workouts, focus=request.focus),
                              self.clock(), popular=self.activities.get(), limit=request.limit)
        return {"items": [{"kind": s.kind, "activity": s.activity, "title": s.title, "reason": s.reason,
                           "distance_km": s.distance_km, "minutes": s.minutes} for s in suggestions]}


class Background:
    """The follower, the scheduled materialisation, the model reload and the retraining schedule."""

    def __init__(self, settings: RecommendSettings, recommender: Recommender):
        self.settings, self.recommender = settings, recommender
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._guard, args=(name, job, every), name=f"recommend-{name}",
                                         daemon=True)
                        for name, job, every in (("follower", self._follow, settings.freshness_poll_seconds),
                                                 ("materialize", self._materialize,
                                                  settings.materialize_interval_seconds),
                                                 ("model", self._reload, 5.0),
                                                 ("retrain", self._retrain, settings.retrain_interval_seconds))]
        self._store = None
        self._follower = None
        self._trained_at = 0.0

    def start(self) -> None:
        self._store = featurestore.open_store(self.settings)
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _guard(self, name: str, job: Callable[[], None], every: float) -> None:
        while not self.stop.is_set():
            try:
                job()
            except Exception:  # noqa: BLE001 - logged and counted; the next pass tries again
                FAILURES.labels(name).inc()
                log.exception("recommend: %s failed", name)
            self.stop.wait(every)

    def _follow(self) -> None:
        if self._follower is None:
            self._follower = featurestore.Follower(self._store, self.settings)
        if self._follower.refresh():
            REFRESHED.inc()

    def _materialize(self) -> None:
        featurestore.materialize(self._store, full=False)

    def _reload(self) -> None:
        self.recommender.model.refresh()

    def _retrain(self) -> None:
        """A child process (its memory and CPU are its own); at once when no model exists yet."""
        if self.recommender.model.get() is not None and time.monotonic() - self._trained_at < \
                self.settings.retrain_interval_seconds:
            return
        self._trained_at = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "recommend", "train"], cwd=Path(__file__).resolve().parent.parent,
                              capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"training failed ({done.returncode}): {done.stderr[-2000:]}")
        log.info("recommend: %s", done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "trained")
        self.recommender.model.refresh()


def create_app(settings: RecommendSettings | None = None, *, background: bool = True) -> FastAPI:
    settings = settings or RecommendSettings()
    recommender = Recommender(settings)
    jobs = Background(settings, recommender) if background else None

    async def lifespan(app: FastAPI):
        if jobs:
            jobs.start()
        yield
        if jobs:
            jobs.close()

    app = FastAPI(title="fitmint recommendations (internal)", lifespan=lifespan)
    app.state.recommender = recommender

    # Plain `def` handlers: Feast's online reads are synchronous (~0.6 ms); Starlette runs them in its threads.
    @app.post("/products")
    def products(request: ProductsRequest) -> dict:
        with REQUESTS.labels("products").time():
            return recommender.products(request)

    @app.post("/workouts")
    def workouts(request: WorkoutsRequest) -> dict:
        with REQUESTS.labels("workouts").time():
            return recommender.workouts(request)

    @app.get("/health")
    def health() -> dict:
        model = recommender.model.get()
        try:
            recommender.store.get_feature_view("member_history")
        except Exception as exc:  # noqa: BLE001 - the answer says why
            raise HTTPException(503, f"the feature store is not applied: {exc}") from exc
        return {"status": "ok", "model_version": model.version if model else None}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
