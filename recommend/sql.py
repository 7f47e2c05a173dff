"""The feature views' source queries: SQL over the analytics store's `facts` (analytics/schema.sql).

One row per fact that changes a value (event level), its `event_timestamp` the fact's `occurred_at`, its
values those known at that instant: windows are PostgreSQL window functions over `occurred_at` (RANGE ...
PRECEDING: every fact at the same instant is known together), so Feast's point-in-time join of a label at
time t reads exactly what was known at t. Reverted facts (a reorganisation's compensation stored) count
nowhere; of workouts only accepted ones.

Each query has `{scope}` placeholders, like analytics/facts.py: Feast's sources fill them with TRUE (every
entity); the freshness follower (featurestore.refresh) with a filter on the touched entities, so a handful
of members is recomputed from their own facts (through the indexes of INDEXES) in milliseconds.
"""

NIL_TENANT = "00000000-0000-0000-0000-000000000000"
RECENT = 60  # sessions kept in member_history's arrays
PURCHASED = 200  # distinct items kept in member_purchases
EPOCH = "extract(epoch FROM {})::bigint"

# The indexes the sources and the follower read through, created by featurestore.apply (IF NOT EXISTS).
# Their names are not in analytics/schema.sql, so analytics' rebuild (which drops and recreates the
# schema's `facts_*` indexes around its bulk derive) leaves them alone: a TRUNCATE keeps an index, and
# the rebuild's INSERT maintains it.
INDEXES = (
    # member_history, activity_stats: a member's accepted workouts in time order; an activity's recent ones.
    "CREATE INDEX IF NOT EXISTS recommend_workouts ON facts (user_id, occurred_at) "
    "INCLUDE (activity, distance_m, duration_s, tenant_id) WHERE kind = 'workout' AND status = 'accepted'",
    "CREATE INDEX IF NOT EXISTS recommend_activity ON facts (activity, occurred_at) "
    "WHERE kind = 'workout' AND status = 'accepted'",
    # item_stats: an item's listings and orders.
    "CREATE INDEX IF NOT EXISTS recommend_item ON facts (item_id, occurred_at) "
    "WHERE kind IN ('listed', 'order')",
)

# ---- member_history: scope {members} filters `f` (facts) by member.
MEMBER_HISTORY = f"""
WITH workouts AS (
    SELECT f.user_id, f.tenant_id, f.occurred_at, f.event_id, f.activity,
           coalesce(f.distance_m, 0) AS distance_m, coalesce(f.duration_s, 0) AS duration_s
    FROM facts f
    WHERE f.kind = 'workout' AND f.status = 'accepted' AND NOT f.reverted AND {{members}}
), joins AS (  -- a member's first sign-in: when they joined
    SELECT DISTINCT ON (f.user_id) f.user_id, f.tenant_id, f.occurred_at
    FROM facts f
    WHERE f.kind = 'signed_in' AND NOT f.reverted AND {{members}}
    ORDER BY f.user_id, f.occurred_at
)
SELECT member_id, event_timestamp, tenant_id, workouts_total, recent_starts, recent_activities,
       recent_distance_m, recent_duration_s, joined_at
FROM (
    SELECT w.user_id::text AS member_id, w.occurred_at AS event_timestamp, w.tenant_id::text AS tenant_id,
           count(*) OVER everything - row_number() OVER recent + 1 AS workouts_total,
           array_agg({EPOCH.format('w.occurred_at')}) OVER recent AS recent_starts,
           array_agg(w.activity) OVER recent AS recent_activities,
           array_agg(w.distance_m) OVER recent AS recent_distance_m,
           array_agg(w.duration_s) OVER recent AS recent_duration_s,
           CASE WHEN j.occurred_at <= w.occurred_at THEN {EPOCH.format('j.occurred_at')} ELSE 0 END AS joined_at,
           lag(w.occurred_at) OVER recent IS DISTINCT FROM w.occurred_at AS newest_of_instant
    FROM workouts w LEFT JOIN joins j ON j.user_id = w.user_id
    WINDOW everything AS (PARTITION BY w.user_id),
           recent AS (PARTITION BY w.user_id ORDER BY w.occurred_at DESC, w.event_id DESC
                      ROWS BETWEEN CURRENT ROW AND {RECENT - 1} FOLLOWING)
) w
WHERE newest_of_instant  -- one row per member and instant (Feast's join needs it): the one that has them all
UNION ALL  -- joining: a member known before their first workout (tenant, joined_at; no sessions)
SELECT j.user_id::text, j.occurred_at, j.tenant_id::text, 0, '{{{{}}}}'::bigint[], '{{{{}}}}'::text[],
       '{{{{}}}}'::float8[], '{{{{}}}}'::float8[], {EPOCH.format('j.occurred_at')}
FROM joins j
WHERE NOT EXISTS (SELECT 1 FROM workouts w WHERE w.user_id = j.user_id AND w.occurred_at <= j.occurred_at)
"""

# ---- member_purchases: scope {buyers} filters `f` (signed_in facts) by member, {orders} `o` by buyer.
# An order names the buyer's wallet and a listing: its tenant is the listing's, its member whoever
# signed in with that wallet in that tenant (first, before the order). Orders of unknown listings (no
# listed fact: a resale) have no tenant, so no member.
_PURCHASES = f"""
WITH buyers AS (
    SELECT DISTINCT ON (f.address, f.tenant_id) f.address, f.tenant_id, f.user_id, f.occurred_at AS since
    FROM facts f
    WHERE f.kind = 'signed_in' AND NOT f.reverted AND f.address IS NOT NULL AND {{buyers}}
    ORDER BY f.address, f.tenant_id, f.occurred_at
), listings AS (
    SELECT DISTINCT ON (f.listing_id) f.listing_id, f.tenant_id
    FROM facts f
    WHERE f.kind = 'listed' AND NOT f.reverted AND f.tenant_id <> '{NIL_TENANT}'
    ORDER BY f.listing_id, f.occurred_at
), purchases AS (
    SELECT b.user_id, o.occurred_at, o.event_id, o.item_id::text AS item_id
    FROM facts o
    JOIN listings l ON l.listing_id = o.listing_id
    JOIN buyers b ON b.address = o.address AND b.tenant_id = l.tenant_id AND b.since <= o.occurred_at
    WHERE o.kind = 'order' AND NOT o.reverted AND o.item_id IS NOT NULL AND {{orders}}
)"""
# Every purchase (member, item, unix time): the product model's training data (recommend/training.py).
PURCHASE_ROWS = _PURCHASES + """
SELECT p.user_id::text, p.item_id, extract(epoch FROM p.occurred_at)::float8 FROM purchases p
"""
MEMBER_PURCHASES = _PURCHASES + f"""
SELECT p.member_id, p.event_timestamp,
       ARRAY(SELECT u.item FROM unnest(p.items) WITH ORDINALITY u(item, n)
             GROUP BY u.item ORDER BY min(u.n) LIMIT {PURCHASED}) AS purchased_items,
       p.purchases_total, {EPOCH.format('p.event_timestamp')} AS last_purchase_at
FROM (
    SELECT p.user_id::text AS member_id, p.occurred_at AS event_timestamp,
           array_agg(p.item_id) OVER mine AS items,
           count(*) OVER (PARTITION BY p.user_id) - row_number() OVER mine + 1 AS purchases_total,
           lag(p.occurred_at) OVER mine IS DISTINCT FROM p.occurred_at AS newest_of_instant
    FROM purchases p
    WINDOW mine AS (PARTITION BY p.user_id ORDER BY p.occurred_at DESC, p.event_id DESC
                    ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
) p
WHERE p.newest_of_instant
"""

# ---- item_stats: scope {items} filters `f` (listed and order facts) by item. An item's catalog values
# (tenant, name, tags, price) are its latest tenant listing's as of the row; its order counts are over
# every order of it. `tags` come from the listing's CloudEvent (ProductListed's optional `tags`: a JSON
# array of strings; absent or not an array: none).
ITEM_STATS = f"""
WITH listed AS (
    SELECT f.item_id, f.occurred_at, f.event_id, f.tenant_id, f.name, f.amount,
           (SELECT coalesce(array_agg(DISTINCT lower(t.tag)), '{{{{}}}}'::text[])
            FROM events e,
                 jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.document->'data'->'tags') = 'array'
                                                THEN e.document->'data'->'tags' ELSE '[]'::jsonb END) t(tag)
            WHERE e.id = f.event_id) AS tags
    FROM facts f
    WHERE f.kind = 'listed' AND NOT f.reverted AND f.item_id IS NOT NULL AND f.tenant_id <> '{NIL_TENANT}'
          AND {{items}}
), orders AS (
    SELECT f.item_id, f.occurred_at, f.event_id,
           row_number() OVER (PARTITION BY f.item_id, f.address ORDER BY f.occurred_at, f.event_id) = 1 AS new_buyer
    FROM facts f
    WHERE f.kind = 'order' AND NOT f.reverted AND f.item_id IS NOT NULL AND {{items}}
), timeline AS (
    SELECT item_id, occurred_at, true AS listing, tenant_id, name, amount, tags, false AS new_buyer FROM listed
    UNION ALL
    SELECT item_id, occurred_at, false, NULL, NULL, NULL, NULL, new_buyer FROM orders
), counted AS (
    SELECT t.*,
           count(*) FILTER (WHERE t.listing) OVER upto AS listings,
           count(*) FILTER (WHERE NOT t.listing) OVER upto AS orders_total,
           count(*) FILTER (WHERE t.new_buyer) OVER upto AS buyers_total,
           count(*) FILTER (WHERE NOT t.listing) OVER (PARTITION BY t.item_id ORDER BY t.occurred_at
                                                       RANGE BETWEEN '7 days' PRECEDING AND CURRENT ROW) AS orders_7d,
           count(*) FILTER (WHERE NOT t.listing) OVER (PARTITION BY t.item_id ORDER BY t.occurred_at
                                                       RANGE BETWEEN '28 days' PRECEDING AND CURRENT ROW) AS orders_28d,
           lead(t.occurred_at) OVER upto IS DISTINCT FROM t.occurred_at AS last_of_instant
    FROM timeline t
    WINDOW upto AS (PARTITION BY t.item_id ORDER BY t.occurred_at RANGE UNBOUNDED PRECEDING)
), carried AS (  -- each row with the catalog values of the latest listing at or before it
    SELECT c.*,
           max(c.tenant_id::text) FILTER (WHERE c.listing) OVER listing AS item_tenant,
           max(c.name) FILTER (WHERE c.listing) OVER listing AS item_name,
           max(c.amount) FILTER (WHERE c.listing) OVER listing AS item_price,
           max(c.tags) FILTER (WHERE c.listing) OVER listing AS item_tags,
           max(c.occurred_at) FILTER (WHERE c.listing) OVER listing AS item_listed_at
    FROM counted c
    WINDOW listing AS (PARTITION BY c.item_id, c.listings)
)
SELECT c.item_id::text AS item_id, c.occurred_at AS event_timestamp, c.item_tenant AS tenant_id,
       coalesce(c.item_name, '') AS name, c.item_tags AS tags,
       (c.item_price / 1e18)::float8 AS unit_price, {EPOCH.format('c.item_listed_at')} AS listed_at,
       c.orders_7d, c.orders_28d, c.buyers_total, c.orders_total
FROM carried c
WHERE c.listings > 0 AND c.last_of_instant  -- one row per item and instant (the values of peers are equal)
"""

# ---- activity_stats: scope {activities} filters `f` (accepted workouts) by activity (and time).
# members_7d is a count of distinct members over a moving window, which PostgreSQL's window functions
# do not have: a session counts its member at t when it is in [t - 7 d, t] and the member's previous
# session of the activity is not (before t - 7 d), so each session adds 1 from max(at, previous + 7 d
# + 1 us) and removes it at at + 7 d + 1 us; a running sum of those steps, read at each session, is the
# distinct count (each member counted once: by their first session inside the window).
ACTIVITY_STATS = """
WITH sessions AS (
    SELECT f.activity, f.occurred_at, f.event_id, f.distance_m,
           lag(f.occurred_at) OVER (PARTITION BY f.activity, f.user_id ORDER BY f.occurred_at, f.event_id) AS previous
    FROM facts f
    WHERE f.kind = 'workout' AND f.status = 'accepted' AND NOT f.reverted AND f.activity IS NOT NULL
          AND {activities}
), steps AS (
    SELECT activity, greatest(occurred_at, previous + interval '7 days 1 microsecond') AS at, 1 AS step,
           NULL::uuid AS event_id
    FROM sessions
    UNION ALL
    SELECT activity, occurred_at + interval '7 days 1 microsecond', -1, NULL FROM sessions
    UNION ALL
    SELECT activity, occurred_at, 0, event_id FROM sessions
), members AS (
    SELECT s.event_id,
           sum(s.step) OVER (PARTITION BY s.activity ORDER BY s.at RANGE UNBOUNDED PRECEDING) AS members_7d
    FROM steps s
)
SELECT activity, event_timestamp, sessions_7d, members_7d, mean_distance_km_7d FROM (
SELECT s.activity, s.occurred_at AS event_timestamp,
       count(*) OVER week AS sessions_7d,
       m.members_7d::bigint AS members_7d,
       -- a sum of integers (decimetres) over a moving frame is O(1) per row; a float8 sum or avg is not (no
       -- inverse transition: PostgreSQL recomputes it over the whole week for every row)
       coalesce(sum(round(s.distance_m * 10)::bigint) OVER week / 1e4
                / nullif(count(s.distance_m) OVER week, 0), 0)::float8 AS mean_distance_km_7d,
       lead(s.occurred_at) OVER week IS DISTINCT FROM s.occurred_at AS last_of_instant
FROM sessions s JOIN members m ON m.event_id = s.event_id
WINDOW week AS (PARTITION BY s.activity ORDER BY s.occurred_at RANGE BETWEEN '7 days' PRECEDING AND CURRENT ROW)
) a
WHERE last_of_instant  -- one row per activity and instant (the values of peers are equal)
"""

def everything(query: str) -> str:
    """The query over every entity (Feast's source)."""
    return query.format(members="TRUE", buyers="TRUE", orders="TRUE", items="TRUE", activities="TRUE")
