"""The feature repository (Feast project `fitmint`): entities, sources and feature views, in code.

Sources are PostgreSQLSource queries over the analytics store's facts (recommend/sql.py); `event_timestamp`
is when a value became known, so Feast's point-in-time joins are exact. No TTL: a member inactive for a
year still has their history (windowed counts are as of the row's time; readers derive "as of now" from
the arrays, fitmint/memberhistory.py).
"""

from datetime import timedelta

from feast import Entity, FeatureView, Field, ValueType
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
from feast.types import Array, Float64, Int64, String

from recommend import sql

member = Entity(name="member", join_keys=["member_id"], value_type=ValueType.STRING,
                description="A member: their user id (uuid text).")
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING,
              description="A catalog product: its ERC-1155 item id (decimal text).")
activity = Entity(name="activity", join_keys=["activity"], value_type=ValueType.STRING,
                  description="An activity type: run, walk, hike, cycle, swim, row, strength, yoga.")


def _source(name: str, query: str) -> PostgreSQLSource:
    return PostgreSQLSource(name=f"{name}_source", query=sql.everything(query), timestamp_field="event_timestamp")


NO_TTL = timedelta(0)

member_history = FeatureView(
    name="member_history", entities=[member], ttl=NO_TTL, online=True,
    source=_source("member_history", sql.MEMBER_HISTORY),
    schema=[Field(name="tenant_id", dtype=String), Field(name="workouts_total", dtype=Int64),
            Field(name="recent_starts", dtype=Array(Int64)), Field(name="recent_activities", dtype=Array(String)),
            Field(name="recent_distance_m", dtype=Array(Float64)),
            Field(name="recent_duration_s", dtype=Array(Float64)), Field(name="joined_at", dtype=Int64)],
    description=f"A member's accepted workouts: all-time count and the last {sql.RECENT}, newest first.")

member_purchases = FeatureView(
    name="member_purchases", entities=[member], ttl=NO_TTL, online=True,
    source=_source("member_purchases", sql.MEMBER_PURCHASES),
    schema=[Field(name="purchased_items", dtype=Array(String)), Field(name="purchases_total", dtype=Int64),
            Field(name="last_purchase_at", dtype=Int64)],
    description=f"The distinct items a member bought, newest first (at most {sql.PURCHASED}).")

item_stats = FeatureView(
    name="item_stats", entities=[item], ttl=NO_TTL, online=True,
    source=_source("item_stats", sql.ITEM_STATS),
    schema=[Field(name="tenant_id", dtype=String), Field(name="name", dtype=String),
            Field(name="tags", dtype=Array(String)), Field(name="unit_price", dtype=Float64),
            Field(name="listed_at", dtype=Int64), Field(name="orders_7d", dtype=Int64),
            Field(name="orders_28d", dtype=Int64), Field(name="buyers_total", dtype=Int64),
            Field(name="orders_total", dtype=Int64)],
    description="A catalog item: its listing (tenant, name, tags, price in FIT) and its orders.")

activity_stats = FeatureView(
    name="activity_stats", entities=[activity], ttl=NO_TTL, online=True,
    source=_source("activity_stats", sql.ACTIVITY_STATS),
    schema=[Field(name="sessions_7d", dtype=Int64), Field(name="members_7d", dtype=Int64),
            Field(name="mean_distance_km_7d", dtype=Float64)],
    description="Accepted sessions of an activity in the 7 days to the row, their members and mean distance.")

ACTIVITIES = ("run", "walk", "hike", "cycle", "swim", "row", "strength", "yoga")
ENTITIES = (member, item, activity)
VIEWS = (member_history, member_purchases, item_stats, activity_stats)
QUERIES = {"member_history": sql.MEMBER_HISTORY, "member_purchases": sql.MEMBER_PURCHASES,
           "item_stats": sql.ITEM_STATS, "activity_stats": sql.ACTIVITY_STATS}
