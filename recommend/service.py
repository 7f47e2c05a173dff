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
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import psycopg
from fastapi import FastAPI, HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.responses import Response

from fitmint import telemetry
from fitmint.memberhistory import MemberHistory
from recommend import featurestore, models
from recommend.products import Item
from recommend.settings import RecommendSettings
from recommend.workouts import Goals, suggest

log = logging.getLogger("recommend")

REQUESTS = Histogram("fitmint_recommend_seconds", "Time to answer a recommendation request", ["kind"],
                     buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5))
REFRESHED = Counter("fitmint_recommend_refreshes_total", "Freshness follower passes that rewrote online rows")
WATERMARK = Gauge("fitmint_recommend_follower_seq", "The newest analytics event (events.seq) the online store has")
FAILURES = Counter("fitmint_recommend_background_failures_total", "Background work that failed", ["job"])

ITEM_CACHE_SECONDS = 60.0  # an item's metadata (tenant, tags, price) rarely changes; its counts may lag this much
ACTIVITY_CACHE_SECONDS = 60.0
ITEM_MENTION = re.compile(r"\bitem (\d+)")
NO_MODEL_RETRY_SECONDS = 600.0  # a stack without purchases (so without a model) tries training this often


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


def settings_environment(settings: RecommendSettings) -> dict[str, str]:
    """The settings as the environment variables that make a child process read the same ones."""
    return {name.upper(): str(value) for name, value in settings.model_dump().items() if value is not None}


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
        # item id -> (read at, Item, recent orders, name): an item's catalog values rarely change.
        self._items: dict[str, tuple[float, Item, float, str]] = {}
        self._items_lock = threading.Lock()
        self.activities = Expiring(ACTIVITY_CACHE_SECONDS, lambda: {
            activity: int(row["sessions_7d"]) for activity, row in featurestore.read_activities(self.store).items()})

    def items(self, item_ids: list[str]) -> tuple[dict[str, Item], dict[str, float]]:
        """Metadata and recent orders (28 days) of these items, from memory when read in the last
        ITEM_CACHE_SECONDS; items without a listing are left out."""
        now = time.monotonic()
        with self._items_lock:
            known = {i: entry for i in item_ids
                     if (entry := self._items.get(i)) and now - entry[0] < ITEM_CACHE_SECONDS}
        missing = [i for i in item_ids if i not in known]
        if missing:
            fresh = {i: (now, models.item_of(i, row), float(row.get("orders_28d") or 0), row.get("name") or "")
                     for i, row in featurestore.read_items(self.store, missing).items()}
            with self._items_lock:
                self._items.update(fresh)
            known |= fresh
        return {i: entry[1] for i, entry in known.items()}, {i: entry[2] for i, entry in known.items()}

    def named(self, reason: str) -> str:
        """The model names other items by id ("... who bought item 1042"): a member reads their names."""
        ids = ITEM_MENTION.findall(reason)
        if not ids:
            return reason
        self.items(ids)
        with self._items_lock:
            names = {i: entry[3] for i in ids if (entry := self._items.get(i)) and entry[3]}
        return ITEM_MENTION.sub(lambda m: names.get(m.group(1), m.group(0)), reason)

    def products(self, request: ProductsRequest) -> dict:
        member = featurestore.read_member(self.store, request.member_id)
        history = MemberHistory.from_row(request.member_id, member)
        bought = member.get("purchased_items") or []
        exclude = set(request.exclude) | set(bought)
        candidates = [c for c in request.candidates if c not in exclude]
        items, orders = self.items(candidates)
        items = {i: item for i, item in items.items() if item.tenant_id == request.tenant_id}
        loaded = self.model.get()
        ranked = models.rank(loaded, request.member_id, tenant_id=request.tenant_id, limit=request.limit,
                             exclude=exclude, items=items, recent_items=bought, activity_mix=history.activity_mix(),
                             now=self.clock(), popularity=orders)
        return {"items": [{"item_id": s.item_id, "score": round(float(s.score), 6), "reason": self.named(s.reason)}
                          for s in ranked],
                "model_version": loaded.version if loaded else None}

    def workouts(self, request: WorkoutsRequest) -> dict:
        history = MemberHistory.from_row(request.member_id, featurestore.read_member(self.store, request.member_id))
        suggestions = suggest(history, Goals(weekly_workouts=request.weekly_workouts, focus=request.focus),
                              self.clock(), popular=self.activities.get(), limit=request.limit)
        return {"items": [{"kind": s.kind, "activity": s.activity, "title": s.title, "reason": s.reason,
                           "distance_km": s.distance_km, "minutes": s.minutes} for s in suggestions]}


class Background:
    """The follower, the scheduled materialisation, the model reload and the retraining schedule."""

    def __init__(self, settings: RecommendSettings, recommender: Recommender):
        self.settings, self.recommender = settings, recommender
        self.stop = threading.Event()
        # (name, job, seconds between runs, whether the first run waits too): the full load at start makes an
        # immediate incremental materialisation pointless; the retraining checks each minute whether it is due.
        self.threads = [threading.Thread(target=self._guard, args=job, name=f"recommend-{job[0]}", daemon=True)
                        for job in (("follower", self._follow, settings.freshness_poll_seconds, False),
                                    ("materialize", self._materialize, settings.materialize_interval_seconds, True),
                                    ("model", self._reload, 5.0, False),
                                    ("retrain", self._retrain, 60.0, False))]
        self._store = None
        self._analytics: psycopg.Connection | None = None
        self._seq: int | None = None
        self._trained_at = 0.0

    def start(self) -> None:
        self._store = featurestore.open_store(self.settings)
        self._seq = self._catch_up()
        for thread in self.threads:
            thread.start()

    def _catch_up(self) -> int:
        """A store never materialised (a new stack, a new Redis) is loaded in full before serving starts;
        the follower then goes on from the newest event seen before that load (what the load already had
        is written again: harmless)."""
        with psycopg.connect(self.settings.psycopg_conninfo(), autocommit=True) as connection:
            seq = featurestore.watermark(connection)
        if self._store.get_feature_view("member_history").most_recent_end_time is None:
            done = featurestore.materialize(self._store, full=True)
            log.info("online store loaded in %.1f s: %s", done.total_seconds, done.rows)
        return seq

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        if self._analytics is not None:
            self._analytics.close()

    def _guard(self, name: str, job: Callable[[], None], every: float, wait_first: bool) -> None:
        if wait_first:
            self.stop.wait(every)
        while not self.stop.is_set():
            try:
                job()
            except Exception:
                FAILURES.labels(name).inc()
                log.exception("%s failed", name)
            self.stop.wait(every)

    def _follow(self) -> None:
        if self._analytics is None or self._analytics.closed:
            self._analytics = psycopg.connect(self.settings.psycopg_conninfo(), autocommit=True)
        try:
            seq = featurestore.refresh(self._store, self._analytics, self._seq)
        except psycopg.OperationalError:
            self._analytics.close()  # reconnect on the next pass
            raise
        if seq != self._seq:
            self._seq = seq
            REFRESHED.inc()
            WATERMARK.set(seq)

    def _materialize(self) -> None:
        featurestore.materialize(self._store, full=False)

    def _reload(self) -> None:
        self.recommender.model.refresh()

    def _retrain(self) -> None:
        """A child process (its memory and CPU are its own), every `retrain_interval_seconds` of this process's
        life; at once when no model exists yet."""
        now = time.monotonic()
        if self.recommender.model.get() is not None:
            if not self._trained_at:
                self._trained_at = now  # a model from before this start: the interval counts from here
            if now - self._trained_at < self.settings.retrain_interval_seconds:
                return
        elif self._trained_at and now - self._trained_at < NO_MODEL_RETRY_SECONDS:
            return  # no purchases to learn from yet: popularity and content serve meanwhile
        self._trained_at = now
        done = subprocess.run([sys.executable, "-m", "recommend", "train"], cwd=Path(__file__).resolve().parent.parent,
                              env=os.environ | settings_environment(self.settings), capture_output=True, text=True,
                              timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"training failed ({done.returncode}): {done.stderr[-2000:]}")
        log.info("%s", done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "trained")
        self.recommender.model.refresh()


def create_app(settings: RecommendSettings | None = None, *, background: bool = True) -> FastAPI:
    settings = settings or RecommendSettings()
    recommender = Recommender(settings)
    jobs = Background(settings, recommender) if background else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if jobs:
            jobs.start()
        yield
        if jobs:
            jobs.close()

    app = FastAPI(title="fitmint recommendations (internal)", lifespan=lifespan,
                  telemetry=telemetry.FASTAPI_NATIVE_OFF)
    app.state.recommender = recommender

    # The work is CPU-bound and short (a Feast online read ~0.6 ms, the model ~0.5 ms): run in the event loop
    # rather than handed to a thread and back (measured: the hop cost more than the work), answered with orjson.
    @app.post("/products")
    async def products(request: ProductsRequest) -> Response:
        with REQUESTS.labels("products").time():
            return Response(orjson.dumps(recommender.products(request)), media_type="application/json")

    @app.post("/workouts")
    async def workouts(request: WorkoutsRequest) -> Response:
        with REQUESTS.labels("workouts").time():
            return Response(orjson.dumps(recommender.workouts(request)), media_type="application/json")

    @app.get("/health")
    def health() -> dict:
        model = recommender.model.get()
        try:
            recommender.store.get_feature_view("member_history")
        except Exception as exc:
            raise HTTPException(503, f"the feature store is not applied: {exc}") from exc
        return {"status": "ok", "model_version": model.version if model else None}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
