"""A private analytics-shaped database and Feast project on the running PostgreSQL and Redis, for the
recommendation tests: the analytics schema applied, events and facts inserted directly (`Facts`), the feature
store applied with its registry under a temporary folder and its Redis keys under its own project name; all of
it removed at the end."""

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from recommend import featurestore as fs
from recommend.settings import RecommendSettings

ROOT = Path(__file__).resolve().parents[2]


class Facts:
    """Inserts an event and its fact (the columns analytics/facts.py would derive)."""

    def __init__(self, conn):
        self.conn = conn
        self.ids = {}

    def add(self, kind: str, when: datetime, *, label: str | None = None, data: dict | None = None,
            reverted: bool = False, **columns) -> str:
        event_id = str(uuid.uuid4())
        document = json.dumps({"id": event_id, "type": f"test.{kind}", "data": data or {}})
        self.conn.execute("INSERT INTO events (id, type, time, readable, topic, document) "
                          "VALUES (%s, %s, %s, true, 'test', %s)", (event_id, f"test.{kind}", when, document))
        columns = {"event_id": event_id, "kind": kind, "occurred_at": when, "day": when.date(),
                   "tenant_id": columns.pop("tenant_id", "00000000-0000-0000-0000-000000000000"),
                   "reverted": reverted, **columns}
        names = ", ".join(columns)
        self.conn.execute(f"INSERT INTO facts ({names}) VALUES ({', '.join(['%s'] * len(columns))})",
                          list(columns.values()))
        if label:
            self.ids[label] = event_id
        return event_id

    def revert(self, label: str, when: datetime) -> None:
        """A compensation event for `label`'s event, its fact marked reverted (as analytics' apply does)."""
        original = self.ids[label]
        self.conn.execute("INSERT INTO events (id, type, time, reverts, readable, topic, document) "
                          "VALUES (%s, 'test.reverted', %s, %s, true, 'test', '{}')",
                          (str(uuid.uuid4()), when, original))
        self.conn.execute("UPDATE facts SET reverted = true WHERE event_id = %s", (original,))

    def signed_in(self, member, tenant, address, when):
        return self.add("signed_in", when, tenant_id=tenant, user_id=member, address=address, joined=True)

    def workout(self, member, tenant, activity, when, distance_m=None, duration_s=1800.0, status="accepted",
                **kw):
        return self.add("workout", when, tenant_id=tenant, user_id=member, activity=activity, status=status,
                        distance_m=distance_m, duration_s=duration_s, **kw)

    def listed(self, tenant, listing_id, item_id, when, tags=None):
        data = {"listingId": listing_id, "itemId": str(item_id)} | ({"tags": tags} if tags is not None else {})
        return self.add("listed", when, data=data, tenant_id=tenant, listing_id=listing_id, item_id=item_id,
                        name=f"Item {item_id}", amount=10 * 10**18)

    def order(self, address, listing_id, item_id, when, **kw):
        return self.add("order", when, address=address, listing_id=listing_id, item_id=item_id, amount=10 * 10**18,
                        quantity=1, **kw)



@dataclass
class PrivateStore:
    settings: RecommendSettings
    store: object  # feast.FeatureStore
    conn: psycopg.Connection
    facts: Facts


@contextmanager
def private_store(folder: Path, **overrides) -> Iterator[PrivateStore]:
    """A database of its own with the analytics schema, and a Feast project of its own, applied."""
    settings = RecommendSettings()
    suffix = uuid.uuid4().hex[:10]
    database = f"fitmint_rec_test_{suffix}"
    server = settings.psycopg_conninfo("postgres")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    settings = RecommendSettings(analytics_database=database, feast_project=f"fitmint_t{suffix}",
                                 feast_registry=folder / "registry.db", recommend_model_dir=folder / "models",
                                 recommend_redis_db=int(os.environ.get("RECOMMEND_TEST_REDIS_DB", "9")),
                                 **overrides)
    conn = psycopg.connect(settings.psycopg_conninfo(), autocommit=True)
    store = None
    try:
        conn.execute("SET timezone = 'UTC'")
        conn.execute((ROOT / "analytics" / "schema.sql").read_text())
        store = fs.open_store(settings)
        fs.apply(store)
        yield PrivateStore(settings, store, conn, Facts(conn))
    finally:
        if store is not None:
            store.teardown()
        conn.close()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
