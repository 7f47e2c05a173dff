"""The feature store: Feast configured in code from the settings, applied, materialised, kept fresh, read.

- Offline: the analytics store (PostgreSQL, Feast's contrib postgres store) through the sources of
  recommend/features.py; online: Redis (database `recommend_redis_db`); registry: a file under the state.
- `materialize(full=True)` loads each view's latest row per entity from the beginning; `full=False` the
  rows newer than the view's last materialisation (the schedule). Both are Feast's materialisation with
  `pull_latest_features` (one row per entity is computed in PostgreSQL, not shipped to Python).
- `refresh` is the freshness follower: the facts of the events stored after a watermark (`events.seq`)
  name the members, items and activities they touch; the same source SQL, restricted to those, gives
  each one's latest row, written to the online store at once. It also covers what the time-interval
  materialisation cannot: a late fact older than the last materialisation, and a revert (whose entity's
  latest row is then an older one, or none: a tombstone row is written).
- Reads are typed dicts over `get_online_features`.
"""

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import psycopg
from feast import FeatureStore, RepoConfig
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres import PostgreSQLOfflineStoreConfig
from feast.infra.online_stores.redis import RedisOnlineStoreConfig
from feast.repo_config import RegistryConfig

from recommend import features, sql
from recommend.settings import RecommendSettings

BEGINNING = datetime(1970, 1, 2, tzinfo=UTC)
KEYS = {"member_history": "member_id", "member_purchases": "member_id", "item_stats": "item_id",
        "activity_stats": "activity"}
FIELDS = {view.name: [f.name for f in view.schema if f.name != KEYS[view.name]] for view in features.VIEWS}


def config(settings: RecommendSettings) -> RepoConfig:
    """Feast's repository configuration, built from the settings (no feature_store.yaml)."""
    settings.registry_path.parent.mkdir(parents=True, exist_ok=True)
    return RepoConfig(
        project=settings.feast_project, provider="local",
        registry=RegistryConfig(path=str(settings.registry_path), cache_ttl_seconds=60),
        offline_store=PostgreSQLOfflineStoreConfig(
            host=settings.postgres_host, port=settings.postgres_port, database=settings.analytics_database,
            user=settings.postgres_user, password=settings.postgres_password(), sslmode="disable"),
        # The follower rewrites an entity's row with an older one after a revert: no timestamp dedup.
        online_store=RedisOnlineStoreConfig(
            connection_string=f"{settings.redis_host}:{settings.redis_port},db={settings.recommend_redis_db}",
            skip_dedup=True),
        entity_key_serialization_version=3,
        materialization={"pull_latest_features": True, "online_write_batch_size": 10_000})


def open_store(settings: RecommendSettings) -> FeatureStore:
    return FeatureStore(repo_path=str(settings.registry_path.parent), config=config(settings))


def _connect(store: FeatureStore) -> psycopg.Connection:
    offline = store.config.offline_store
    return psycopg.connect(host=offline.host, port=offline.port, dbname=offline.database, user=offline.user,
                           password=offline.password, sslmode="disable", autocommit=True)


def apply(store: FeatureStore) -> None:
    """Registers the entities and views, and creates the indexes their sources read through (on the
    analytics store's facts, IF NOT EXISTS: recommend/sql.py INDEXES says why analytics' rebuild keeps
    them)."""
    with _connect(store) as conn:
        for create in sql.INDEXES:
            conn.execute(create)
    store.apply([*features.ENTITIES, *features.VIEWS])


@dataclass
class Materialized:
    full: bool
    start: datetime | None  # None: per view (incremental)
    end: datetime
    rows: dict[str, int] = field(default_factory=dict)  # rows written to the online store, per view
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def materialize(store: FeatureStore, *, full: bool, end: datetime | None = None,
                views: Sequence[str] | None = None) -> Materialized:
    """Loads each view's latest row per entity into Redis: from the beginning (`full`), or from the view's
    last materialisation (else; a view never materialised: from the beginning), to `end` (now)."""
    end = end or datetime.now(UTC)
    done = Materialized(full, BEGINNING if full else None, end)
    online = store._get_provider().online_store
    written = {"rows": 0}
    write = online.online_write_batch

    def counting(config, table, data, progress):
        written["rows"] += len(data)
        return write(config, table, data, progress)

    online.online_write_batch = counting  # counts the rows Feast's materialisation writes
    try:
        for name in views or KEYS:
            view = store.get_feature_view(name)
            start = BEGINNING if full else (view.most_recent_end_time or BEGINNING)
            written["rows"] = 0
            started = time.perf_counter()
            if start < end:
                store.materialize(start, end, feature_views=[name])
            done.seconds[name] = time.perf_counter() - started
            done.rows[name] = written["rows"]
    finally:
        del online.online_write_batch
    return done


# ---- the freshness follower

# The facts of the events stored in (since, upto]; a compensation touches the fact it reverts.
_TOUCHED = """
SELECT f.kind, f.user_id, f.address, f.item_id::text AS item_id, f.listing_id, f.activity
FROM events e JOIN facts f ON f.event_id = coalesce(e.reverts, e.id)
WHERE e.seq > %(since)s AND e.seq <= %(upto)s
"""
# Members whose purchases an order (its buyer's wallet) or a listing (its orders' buyers) touches.
_BUYERS = """
SELECT DISTINCT s.user_id::text FROM facts s
WHERE s.kind = 'signed_in' AND (s.address = ANY(%(addresses)s::text[])
      OR s.address IN (SELECT o.address FROM facts o
                       WHERE o.kind = 'order' AND o.listing_id = ANY(%(listings)s::bigint[])))
"""
_HORIZON = """
SELECT min(latest) - interval '7 days' FROM (
    SELECT max(f.occurred_at) AS latest FROM facts f
    WHERE f.kind = 'workout' AND f.status = 'accepted' AND NOT f.reverted AND f.activity = ANY(%(activities)s::text[])
    GROUP BY f.activity) a
"""
_SCOPES = {
    "members": "f.user_id = ANY(%(members)s::uuid[])",
    "buyers": "f.user_id = ANY(%(members)s::uuid[])",
    "orders": "o.address IN (SELECT s.address FROM facts s WHERE s.kind = 'signed_in' "
              "AND s.user_id = ANY(%(members)s::uuid[]))",
    "items": "f.item_id = ANY(%(items)s::numeric[])",
    "activities": "f.activity = ANY(%(activities)s::text[]) AND f.occurred_at >= %(horizon)s",
}
# What an entity with no row left (every fact of it reverted) reads as.
_EMPTY = {"member_history": {"tenant_id": "", "workouts_total": 0, "recent_starts": [], "recent_activities": [],
                             "recent_distance_m": [], "recent_duration_s": [], "joined_at": 0},
          "member_purchases": {"purchased_items": [], "purchases_total": 0, "last_purchase_at": 0},
          "item_stats": {"tenant_id": "", "name": "", "tags": [], "unit_price": 0.0, "listed_at": 0,
                         "orders_7d": 0, "orders_28d": 0, "buyers_total": 0, "orders_total": 0},
          "activity_stats": {"sessions_7d": 0, "members_7d": 0, "mean_distance_km_7d": 0.0}}


@dataclass
class Touched:
    members: set[str] = field(default_factory=set)
    items: set[str] = field(default_factory=set)
    activities: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.members or self.items or self.activities)


def touched(conn: psycopg.Connection, since: int, upto: int) -> Touched:
    """The members, items and activities whose features the events stored in (since, upto] change."""
    out, addresses, listings = Touched(), set(), set()
    for kind, user_id, address, item_id, listing_id, activity in conn.execute(
            _TOUCHED, {"since": since, "upto": upto}).fetchall():
        if kind in ("workout", "signed_in") and user_id:
            out.members.add(str(user_id))
        if kind == "workout" and activity:
            out.activities.add(activity)
        if kind in ("order", "listed") and item_id:
            out.items.add(item_id)
        if kind == "order" and address:
            addresses.add(address)
        if kind == "listed" and listing_id is not None:
            listings.add(listing_id)
    if addresses or listings:
        out.members |= {row[0] for row in conn.execute(
            _BUYERS, {"addresses": sorted(addresses), "listings": sorted(listings)}).fetchall()}
    return out


def latest_rows(conn: psycopg.Connection, view: str, keys: Iterable[str], *, horizon: datetime | None = None
                ) -> pd.DataFrame:
    """The latest source row of each of `keys` in `view` (the source SQL restricted to them); a key with no
    row gets the view's empty row, timestamped now."""
    keys = sorted(set(keys))
    key = KEYS[view]
    scoped = features.QUERIES[view].format(**_SCOPES)
    query = (f"SELECT DISTINCT ON ({key}) * FROM ({scoped}) s "
             f"ORDER BY {key}, event_timestamp DESC")
    params = {"members": keys, "items": keys, "activities": keys, "horizon": horizon or BEGINNING}
    with conn.cursor() as cursor:
        cursor.execute(query, params)
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    now = datetime.now(UTC)
    missing = set(keys) - {row[key] for row in rows}
    rows += [{key: k, "event_timestamp": now, **_EMPTY[view]} for k in sorted(missing)]
    frame = pd.DataFrame(rows, columns=[key, "event_timestamp", *FIELDS[view]])
    return frame


def refresh(store: FeatureStore, conn: psycopg.Connection, since_seq: int) -> int:
    """Brings the online rows of what the events stored after `since_seq` touched up to date; returns the
    new watermark (the newest `events.seq` seen). `conn` is a psycopg connection on the analytics store."""
    upto = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    if upto <= since_seq:
        return since_seq
    changed = touched(conn, since_seq, upto)
    if changed.members:
        for view in ("member_history", "member_purchases"):
            store.write_to_online_store(view, latest_rows(conn, view, changed.members))
    if changed.items:
        store.write_to_online_store("item_stats", latest_rows(conn, "item_stats", changed.items))
    if changed.activities:
        horizon = conn.execute(_HORIZON, {"activities": sorted(changed.activities)}).fetchone()[0]
        store.write_to_online_store("activity_stats",
                                    latest_rows(conn, "activity_stats", changed.activities, horizon=horizon))
    return upto


def watermark(conn: psycopg.Connection) -> int:
    """The newest `events.seq` now: where a follower started after a full materialisation begins."""
    return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


# ---- typed reads of the online store

def _refs(*views: str) -> list[str]:
    return [f"{view}:{name}" for view in views for name in FIELDS[view]]


_MEMBER = _refs("member_history", "member_purchases")
_ITEM = _refs("item_stats")
_ACTIVITY = _refs("activity_stats")
_NAMES = [ref.split(":", 1)[1] for ref in _MEMBER]


def read_member(store: FeatureStore, member_id: str) -> dict:
    """A member's member_history and member_purchases features (by name); each None when unknown (a new
    member: no row yet)."""
    values = store.get_online_features(features=_MEMBER, entity_rows=[{"member_id": member_id}]).to_dict()
    return {name: values[name][0] for name in _NAMES}


def read_members(store: FeatureStore, member_ids: Sequence[str]) -> dict[str, dict]:
    """read_member for many members in one online read: {member_id: {feature: value}}."""
    if not member_ids:
        return {}
    values = store.get_online_features(features=_MEMBER, entity_rows=[{"member_id": m} for m in member_ids]).to_dict()
    return {member: {name: values[name][n] for name in _NAMES} for n, member in enumerate(values["member_id"])}


def read_items(store: FeatureStore, item_ids: Sequence[str]) -> dict[str, dict]:
    """item_stats of the items that have a row (a listing): {item_id: {feature: value}}; unknown ones and
    tombstones (their listing reverted) are left out."""
    if not item_ids:
        return {}
    values = store.get_online_features(features=_ITEM, entity_rows=[{"item_id": i} for i in item_ids]).to_dict()
    names = FIELDS["item_stats"]
    return {item_id: {name: values[name][n] for name in names} for n, item_id in enumerate(values["item_id"])
            if values["tenant_id"][n]}


def read_activities(store: FeatureStore, activities: Sequence[str] = features.ACTIVITIES) -> dict[str, dict]:
    """activity_stats of every activity: {activity: {feature: value}} (zeros for one never seen)."""
    values = store.get_online_features(features=_ACTIVITY,
                                       entity_rows=[{"activity": a} for a in activities]).to_dict()
    names = FIELDS["activity_stats"]
    return {activity: {name: values[name][n] if values[name][n] is not None else _EMPTY["activity_stats"][name]
                       for name in names} for n, activity in enumerate(values["activity"])}
