"""Retraining: the product model fitted on every purchase in the analytics store, published as the current
version (recommend/models.py), which the service loads within seconds.

Its inputs are the feature store's own definitions: purchases are member_purchases' source rows (an order's
member and tenant resolved the same way), items are item_stats' latest rows, and each buyer's activity mix
is read from the online store's member_history through fitmint/memberhistory.py, as serving reads it. The
service runs it in a child process every `retrain_interval_seconds` (and when it has no model yet);
`python -m recommend train` runs it on demand.
"""

import logging
import time
from datetime import UTC, datetime

import psycopg

from fitmint.memberhistory import MemberHistory
from recommend import featurestore, models, sql
from recommend.products import Interaction, ProductModel
from recommend.settings import RecommendSettings

log = logging.getLogger("recommend")
READ_BATCH = 1000  # members per online read


def purchases(connection: psycopg.Connection) -> list[Interaction]:
    rows = connection.execute(sql.everything(sql.PURCHASE_ROWS)).fetchall()
    return [Interaction(member_id=member, item_id=item, at=float(at)) for member, item, at in rows]


def items(connection: psycopg.Connection) -> list:
    rows = connection.execute(f"SELECT DISTINCT ON (item_id) * FROM ({sql.everything(sql.ITEM_STATS)}) s "
                              "ORDER BY item_id, event_timestamp DESC")
    names = [column.name for column in rows.description]
    return [models.item_of(row[0], dict(zip(names, row, strict=True))) for row in rows.fetchall()]


def activity_mixes(store, members: list[str]) -> dict[str, dict[str, float]]:
    mixes = {}
    for start in range(0, len(members), READ_BATCH):
        batch = members[start:start + READ_BATCH]
        for member, row in featurestore.read_members(store, batch).items():
            mix = MemberHistory.from_row(member, row).activity_mix()
            if mix:
                mixes[member] = mix
    return mixes


def train(settings: RecommendSettings, store=None, *, now: datetime | None = None) -> dict:
    began = time.monotonic()
    store = store or featurestore.open_store(settings)
    with psycopg.connect(settings.psycopg_conninfo()) as connection:
        interactions = purchases(connection)
        catalog = items(connection)
    if not interactions:
        log.info("no purchases in the analytics store yet: no product model trained")
        return {"version": None, "purchases": 0, "items": len(catalog), "seconds": round(time.monotonic() - began, 2)}
    buyers = sorted({i.member_id for i in interactions})
    mixes = activity_mixes(store, buyers)
    read = time.monotonic() - began
    model = ProductModel.fit(interactions, catalog, mixes, seed=0)
    version = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    models.publish(settings.model_dir, version, model)
    report = {"version": version, "purchases": len(interactions), "members": len(buyers), "items": len(catalog),
              "read_seconds": round(read, 2), "seconds": round(time.monotonic() - began, 2)}
    log.info("product model %s trained: %s", version, report)
    return report
