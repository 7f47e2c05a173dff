"""The Feast feature store on the real PostgreSQL and Redis: a private analytics-shaped database (the
analytics schema applied, events and facts inserted directly) and a private Feast project (its registry
under tmp_path, its Redis keys under its own project name, deleted at the end).

The facts, from T0 (two tenants, A and B):
- m1 (A, wallet 0xa1) joins at +1 h; accepted workouts: run +1 d, cycle +3 d, run +5 d (reverted), a
  rejected run +6 d, walk +10 d; buys item 101 (A's) at +2 d and +8 d, item 202 (B's: not m1's, m1 never
  signed in to B) at +9 d, item 101 at +9.5 d (reverted).
- m2 (B, wallet 0xb2) joins at +2 h; swims at +4 d; buys item 202 at +9 d.
- m4 (A) joins at +1 d; runs at +1 d 1 h, +2 d and +12 d.
- listings at T0: 101 by A (tags Run, Shoes: lower-cased), 202 by B (no tags).
"""

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from recommend import featurestore as fs
from tests.recommend.analyticsdb import Facts, private_store

T0 = datetime(2026, 11, 1, tzinfo=UTC)
A, B = str(uuid.uuid4()), str(uuid.uuid4())
M1, M2, M4 = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + days * DAY + hours * HOUR


def seed(facts: Facts) -> None:
    facts.listed(A, 1, 101, at(), tags=["Run", "Shoes"])
    facts.listed(B, 2, 202, at())
    facts.signed_in(M1, A, "0xa1", at(hours=1))
    facts.signed_in(M2, B, "0xb2", at(hours=2))
    facts.signed_in(M4, A, "0xa4", at(1))
    facts.workout(M1, A, "run", at(1), 5000.0)
    facts.workout(M4, A, "run", at(1, 1), 4000.0)
    facts.workout(M4, A, "run", at(2), 6000.0)
    facts.order("0xa1", 1, 101, at(2))
    facts.workout(M1, A, "cycle", at(3), 20000.0, 3600.0)
    facts.workout(M2, B, "swim", at(4), 1000.0)
    facts.workout(M1, A, "run", at(5), 7000.0, reverted=True)
    facts.workout(M1, A, "run", at(6), 9000.0, status="rejected")
    facts.order("0xa1", 1, 101, at(8))
    facts.order("0xa1", 2, 202, at(9))
    facts.order("0xb2", 2, 202, at(9))
    facts.order("0xa1", 1, 101, at(9.5), reverted=True)
    facts.workout(M1, A, "walk", at(10), 3000.0)
    facts.workout(M4, A, "run", at(12), 5000.0)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with private_store(tmp_path_factory.mktemp("feast")) as private:
        seed(private.facts)
        yield private.store, private.conn, private.facts


def history(store, rows: list[tuple[str, datetime]], features: list[str]) -> pd.DataFrame:
    entity_df = pd.DataFrame({"member_id": [m for m, _ in rows], "event_timestamp": [t for _, t in rows]})
    frame = store.get_historical_features(entity_df=entity_df, features=features).to_df()
    frame["event_timestamp"] = pd.to_datetime(frame.event_timestamp, utc=True)  # Feast returns naive UTC
    return frame.sort_values(["member_id", "event_timestamp"]).reset_index(drop=True)


def test_training_set_is_point_in_time_correct(env):
    store, _, _ = env
    labels = [(M1, at(0, 0.5)), (M1, at(2, -1)), (M1, at(2, 1)), (M1, at(7)), (M1, at(12)), (M2, at(5)),
              (str(uuid.uuid4()), at(12))]
    frame = history(store, labels, ["member_history:workouts_total", "member_history:recent_activities",
                                    "member_history:recent_starts", "member_history:tenant_id",
                                    "member_purchases:purchases_total", "member_purchases:purchased_items"])
    got = {(r.member_id, r.event_timestamp.to_pydatetime()): r for r in frame.itertuples()}

    def row(member, when):
        return got[(member, when)]

    # Before anything is known about m1 (joined at +1 h), and after joining but before a workout.
    assert pd.isna(row(M1, at(0, 0.5)).workouts_total)
    assert row(M1, at(2, -1)).workouts_total == 1 and list(row(M1, at(2, -1)).recent_activities) == ["run"]
    assert pd.isna(row(M1, at(2, -1)).purchases_total)  # the order at +2 d is after the label
    assert row(M1, at(2, 1)).purchases_total == 1
    # +7 d: the reverted run (+5 d) and the rejected one (+6 d) are not sessions.
    assert list(row(M1, at(7)).recent_activities) == ["cycle", "run"]
    assert row(M1, at(12)).workouts_total == 3
    assert list(row(M1, at(12)).recent_activities) == ["walk", "cycle", "run"]
    # m1's order of B's item is not m1's purchase (another tenant); the reverted order is no purchase.
    assert row(M1, at(12)).purchases_total == 2 and list(row(M1, at(12)).purchased_items) == ["101"]
    assert row(M2, at(5)).tenant_id == B and list(row(M2, at(5)).recent_activities) == ["swim"]
    # No leak: every session a label sees started at or before the label's time.
    for r in frame.itertuples():
        starts = [] if r.recent_starts is None or not len(r.recent_starts) else list(r.recent_starts)
        assert all(start <= r.event_timestamp.timestamp() for start in starts), r
    unknown = frame[~frame.member_id.isin([M1, M2])]
    assert unknown.workouts_total.isna().all()


def test_item_and_activity_training_rows(env):
    store, _, _ = env
    items = pd.DataFrame({"item_id": ["101", "101", "202"], "event_timestamp": [at(5), at(12), at(12)]})
    frame = store.get_historical_features(entity_df=items, features=[
        "item_stats:orders_total", "item_stats:buyers_total", "item_stats:tags", "item_stats:tenant_id",
        "item_stats:orders_7d"]).to_df().sort_values(["item_id", "event_timestamp"]).reset_index(drop=True)
    assert list(frame.orders_total) == [1, 2, 2]
    assert list(frame.buyers_total) == [1, 1, 2]
    assert list(frame.tags[0]) == ["run", "shoes"] and list(frame.tenant_id) == [A, A, B]
    assert list(frame.orders_7d) == [1, 2, 2]  # as of each item's last row: +2 d; +8 d (and +2 d); +9 d
    runs = pd.DataFrame({"activity": ["run", "run"], "event_timestamp": [at(2, 1), at(12, 1)]})
    frame = store.get_historical_features(entity_df=runs, features=[
        "activity_stats:sessions_7d", "activity_stats:members_7d"]).to_df().sort_values("event_timestamp")
    assert list(frame.sessions_7d) == [3, 1]  # +2 d 1 h: m1 +1 d, m4 +1 d 1 h, m4 +2 d; +12 d: m4 only
    assert list(frame.members_7d) == [2, 1]


def test_materialised_reads_show_the_latest_values_and_no_other_tenant(env):
    store, _, _ = env
    done = fs.materialize(store, full=True)
    assert done.rows["member_history"] == 3 and done.rows["item_stats"] == 2
    m1 = fs.read_member(store, M1)
    assert m1["tenant_id"] == A and m1["workouts_total"] == 3
    assert m1["recent_activities"] == ["walk", "cycle", "run"]
    assert m1["recent_distance_m"] == [3000.0, 20000.0, 5000.0]
    assert m1["recent_starts"] == [int(at(10).timestamp()), int(at(3).timestamp()), int(at(1).timestamp())]
    assert m1["joined_at"] == int(at(0, 1).timestamp())
    assert m1["purchased_items"] == ["101"] and m1["purchases_total"] == 2
    assert fs.read_member(store, M2)["purchased_items"] == ["202"]
    items = fs.read_items(store, ["101", "202", "999"])
    assert set(items) == {"101", "202"}
    assert items["101"]["tags"] == ["run", "shoes"] and items["101"]["tenant_id"] == A
    assert items["101"]["unit_price"] == 10.0 and items["101"]["orders_total"] == 2
    assert items["202"]["tags"] == [] and items["202"]["buyers_total"] == 2
    activities = fs.read_activities(store)
    assert activities["run"]["sessions_7d"] == 1 and activities["yoga"]["sessions_7d"] == 0


def test_unknown_member_reads_as_none(env):
    store, _, _ = env
    unknown = fs.read_member(store, str(uuid.uuid4()))
    assert set(unknown) >= {"workouts_total", "recent_starts", "purchased_items"}
    assert all(value is None for value in unknown.values())


def test_the_follower_brings_new_facts_online_without_materialising(env):
    store, conn, facts = env
    fs.materialize(store, full=True)
    since = fs.watermark(conn)
    m3 = str(uuid.uuid4())
    facts.signed_in(m3, A, "0xa3", at(13))
    facts.workout(M1, A, "hike", at(13), 8000.0, label="hike")
    facts.order("0xa1", 1, 101, at(13, 1))
    since = fs.refresh(store, conn, since)
    m1 = fs.read_member(store, M1)
    assert m1["workouts_total"] == 4 and m1["recent_activities"][0] == "hike" and m1["purchases_total"] == 3
    assert fs.read_items(store, ["101"])["101"]["orders_total"] == 3
    assert fs.read_activities(store)["hike"]["sessions_7d"] == 1
    new = fs.read_member(store, m3)
    assert new["tenant_id"] == A and new["workouts_total"] == 0 and new["recent_starts"] == []
    # A revert: the member's latest row is an older one again.
    facts.revert("hike", at(13, 2))
    assert fs.refresh(store, conn, since) > since
    m1 = fs.read_member(store, M1)
    assert m1["workouts_total"] == 3 and m1["recent_activities"][0] == "walk"
    assert fs.read_activities(store)["hike"]["sessions_7d"] == 0  # no session left: the empty row
    assert fs.refresh(store, conn, fs.watermark(conn)) == fs.watermark(conn)  # nothing new: no work
