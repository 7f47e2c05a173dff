"""The projections: each one table, recomputed from the facts (and earlier projections) for a scope.

A projection is one SELECT, written once, with a `{scope}` placeholder: the live consumer recomputes
the days (or members, or cohorts) its batch touched (`<column> = ANY($1)`), a rebuild recomputes all
of them (`TRUE`), so live and rebuilt tables cannot differ by construction of their SQL, only by which
scopes were recomputed (tests/analytics prove they agree). The SELECTs use standard SQL that PostgreSQL,
DuckDB and ClickHouse all run (CASE, FILTER, date_trunc, unnest, correlated subqueries); what is
PostgreSQL's own (DELETE ... = ANY, TRUNCATE) is in `recompute` and `rebuild` only.

Order matters: activity_days reads member_days; retention_weeks reads member_milestones and member_days.
"""

from dataclasses import dataclass

NIL = "CAST('00000000-0000-0000-0000-000000000000' AS uuid)"
# A listing's tenant and name (a listing id is listed once: its product's).
LISTED = "(SELECT listing_id, tenant_id, name FROM facts WHERE kind = 'listed')"


@dataclass(frozen=True)
class Projection:
    table: str
    scope: str  # "day", "member" or "cohort": what a live recompute is given
    scope_column: str  # the table's column a live recompute deletes by
    filter_column: str  # the same key in the SELECT (qualified where it joins facts to facts)
    select: str  # with {scope}: the filter on the scope
    tenant_column: str | None = None  # where a recompute may also be limited to some tenants

    def select_where(self, condition: str) -> str:
        """The SELECT with its scope filter set to `condition`."""
        return self.select.format(scope=condition)


MEMBER_DAYS = Projection("member_days", "day", "day", "day", """
    SELECT tenant_id, user_id, day,
           count(*) FILTER (WHERE kind = 'signed_in') AS sign_ins,
           count(*) FILTER (WHERE kind = 'workout') AS workouts
    FROM facts
    WHERE kind IN ('signed_in', 'workout') AND user_id IS NOT NULL AND {scope}
    GROUP BY tenant_id, user_id, day""", "tenant_id")

# Keys: every day of the weeks to recompute (a week's row is rebuilt from all its days; the DELETE by
# week matches their Mondays).
MEMBER_WEEKS = Projection("member_weeks", "day", "week", "day", """
    SELECT tenant_id, user_id, CAST(date_trunc('week', day) AS date) AS week,
           CAST(sum(1 << (CAST(extract(isodow FROM day) AS integer) - 1)) AS integer) AS days
    FROM member_days
    WHERE {scope}
    GROUP BY tenant_id, user_id, CAST(date_trunc('week', day) AS date)""", "tenant_id")

# Members active on the day, in the 7 and in the 30 days up to it: each member's last active day within
# the 30 days, counted (one hash aggregate, where three distinct counts sort the window three times). A
# day nobody was active in the 30 days up to has no row (zeros).
ACTIVITY_DAYS = Projection("activity_days", "day", "day", "d.day", """
    SELECT tenant_id, day,
           count(*) FILTER (WHERE last_active = day) AS dau,
           count(*) FILTER (WHERE last_active > day - 7) AS wau,
           count(*) AS mau
    FROM (SELECT d.day, m.tenant_id, m.user_id, max(m.day) AS last_active
          FROM (SELECT CAST(s.day AS date) AS day
                FROM generate_series((SELECT min(day) FROM member_days), (SELECT max(day) FROM member_days),
                                     INTERVAL '1 day') AS s(day)) d
          JOIN member_days m ON m.day > d.day - 30 AND m.day <= d.day
          WHERE {scope}
          GROUP BY d.day, m.tenant_id, m.user_id) w
    GROUP BY tenant_id, day""", "m.tenant_id")

WORKOUT_DAYS = Projection("workout_days", "day", "day", "day", """
    SELECT tenant_id, day, activity,
           count(*) FILTER (WHERE status = 'accepted') AS accepted,
           count(*) FILTER (WHERE status = 'rejected') AS rejected,
           count(*) FILTER (WHERE status = 'accepted' AND flagged) AS flagged,
           coalesce(sum(distance_m) FILTER (WHERE status = 'accepted'), 0) AS distance_m,
           coalesce(sum(duration_s) FILTER (WHERE status = 'accepted'), 0) AS duration_s
    FROM facts
    WHERE kind = 'workout' AND {scope}
    GROUP BY tenant_id, day, activity""")

REFUSAL_DAYS = Projection("refusal_days", "day", "day", "day", """
    SELECT tenant_id, day, reason, count(*) AS workouts
    FROM (SELECT tenant_id, day, unnest(reasons) AS reason FROM facts
          WHERE kind = 'workout' AND status = 'rejected' AND {scope}) r
    GROUP BY tenant_id, day, reason""")

# By the day a voucher was issued: of those, how many are claimed (so far) and how long it took.
REWARD_DAYS = Projection("reward_days", "day", "day", "i.day", """
    SELECT i.tenant_id, i.day,
           count(*) AS issued, sum(i.amount) AS issued_amount,
           count(c.event_id) AS claimed, coalesce(sum(c.amount), 0) AS claimed_amount,
           coalesce(sum(extract(epoch FROM c.occurred_at - i.occurred_at)), 0) AS claim_seconds
    FROM facts i
    LEFT JOIN facts c ON c.kind = 'reward_claimed' AND NOT c.reverted AND c.claim_id = i.claim_id
    WHERE i.kind = 'reward_issued' AND {scope}
    GROUP BY i.tenant_id, i.day""", "i.tenant_id")

TOKEN_DAYS = Projection("token_days", "day", "day", "day", """
    SELECT day, sum(minted) AS minted, sum(burned) AS burned, sum(fee) AS to_treasury
    FROM (SELECT day, amount AS minted, 0 AS burned, 0 AS fee FROM facts
          WHERE kind = 'minted' AND NOT reverted AND {scope}
          UNION ALL
          SELECT day, 0, burned, fee FROM facts
          WHERE kind = 'order' AND NOT reverted AND {scope}) t
    GROUP BY day""")

ORDER_DAYS = Projection("order_days", "day", "day", "o.day", f"""
    SELECT coalesce(l.tenant_id, {NIL}) AS tenant_id, o.day,
           count(*) AS orders, count(DISTINCT o.address) AS buyers, sum(o.quantity) AS quantity,
           sum(o.amount) AS volume, sum(o.fee) AS fees, sum(o.burned) AS burned
    FROM facts o LEFT JOIN {LISTED} l ON l.listing_id = o.listing_id
    WHERE o.kind = 'order' AND NOT o.reverted AND {{scope}}
    GROUP BY coalesce(l.tenant_id, {NIL}), o.day""")

ITEM_DAYS = Projection("item_days", "day", "day", "o.day", f"""
    SELECT coalesce(l.tenant_id, {NIL}) AS tenant_id, o.day, o.listing_id,
           coalesce(l.name, 'listing ' || CAST(o.listing_id AS text)) AS name,
           count(*) AS orders, sum(o.quantity) AS quantity, sum(o.amount) AS volume
    FROM facts o LEFT JOIN {LISTED} l ON l.listing_id = o.listing_id
    WHERE o.kind = 'order' AND NOT o.reverted AND {{scope}}
    GROUP BY coalesce(l.tenant_id, {NIL}), o.day, o.listing_id,
             coalesce(l.name, 'listing ' || CAST(o.listing_id AS text))""")

# A member's funnel. Claims are theirs through the voucher's claim id; purchases through the wallets
# they signed in with, of their own tenant's listings.
MEMBER_MILESTONES = Projection("member_milestones", "member", "user_id", "user_id", f"""
    SELECT j.tenant_id, j.user_id, j.joined_at, w.first_workout_at, c.first_claim_at, p.first_purchase_at
    FROM (SELECT tenant_id, user_id, min(occurred_at) AS joined_at FROM facts
          WHERE kind = 'signed_in' AND {{scope}} GROUP BY tenant_id, user_id) j
    LEFT JOIN (SELECT user_id, min(occurred_at) AS first_workout_at FROM facts
               WHERE kind = 'workout' AND status = 'accepted' AND {{scope}} GROUP BY user_id) w
      ON w.user_id = j.user_id
    LEFT JOIN (SELECT i.user_id, min(c.occurred_at) AS first_claim_at
               FROM (SELECT user_id, claim_id FROM facts WHERE kind = 'reward_issued' AND {{scope}}) i
               JOIN facts c ON c.kind = 'reward_claimed' AND NOT c.reverted AND c.claim_id = i.claim_id
               GROUP BY i.user_id) c
      ON c.user_id = j.user_id
    LEFT JOIN (SELECT k.user_id, min(o.occurred_at) AS first_purchase_at
               FROM (SELECT DISTINCT tenant_id, user_id, address FROM facts
                     WHERE kind = 'signed_in' AND {{scope}}) k
               JOIN facts o ON o.kind = 'order' AND NOT o.reverted AND o.address = k.address
               JOIN {LISTED} l ON l.listing_id = o.listing_id AND l.tenant_id = k.tenant_id
               GROUP BY k.user_id) p
      ON p.user_id = j.user_id""")

# Cohort: the Monday of the week a member joined; week k: active (member_days) in the k-th week after.
RETENTION_WEEKS = Projection("retention_weeks", "cohort", "cohort", "c.cohort", """
    SELECT a.tenant_id, a.cohort, CAST((a.week - a.cohort) / 7 AS integer) AS week, s.members,
           count(*) AS active
    FROM (SELECT DISTINCT c.tenant_id, c.cohort, c.user_id, CAST(date_trunc('week', d.day) AS date) AS week
          FROM (SELECT tenant_id, user_id, CAST(date_trunc('week', joined_at) AS date) AS cohort
                FROM member_milestones) c
          JOIN member_days d ON d.tenant_id = c.tenant_id AND d.user_id = c.user_id
          WHERE {scope}) a
    JOIN (SELECT tenant_id, CAST(date_trunc('week', joined_at) AS date) AS cohort, count(*) AS members
          FROM member_milestones GROUP BY tenant_id, CAST(date_trunc('week', joined_at) AS date)) s
      ON s.tenant_id = a.tenant_id AND s.cohort = a.cohort
    WHERE a.week >= a.cohort
    GROUP BY a.tenant_id, a.cohort, a.week, s.members""", "c.tenant_id")

BY_DAY = (MEMBER_DAYS, MEMBER_WEEKS, WORKOUT_DAYS, REFUSAL_DAYS, REWARD_DAYS, TOKEN_DAYS, ORDER_DAYS, ITEM_DAYS,
          ACTIVITY_DAYS)
ALL = (*BY_DAY, MEMBER_MILESTONES, RETENTION_WEEKS)

WINDOW_DAYS = 30  # activity_days' longest window

_KEY_TYPE = {"day": "date[]", "member": "uuid[]", "cohort": "date[]"}


async def recompute(connection, projection: Projection, keys: list, tenants: list[str] | None = None) -> None:
    """Recomputes the projection's rows of `keys` (days, member ids or cohort Mondays), of `tenants` only
    if given (a projection with a tenant_column), in the caller's transaction."""
    if not keys or tenants == []:
        return
    cast = _KEY_TYPE[projection.scope]
    delete = f"{projection.scope_column} = ANY($1::{cast})"
    select = f"{projection.filter_column} = ANY(CAST($1 AS {cast}))"
    parameters = [keys]
    if tenants is not None:
        delete += " AND tenant_id = ANY($2::uuid[])"
        select += f" AND {projection.tenant_column} = ANY(CAST($2 AS uuid[]))"
        parameters.append(tenants)
    await connection.execute(f"DELETE FROM {projection.table} WHERE {delete}", *parameters)
    await connection.execute(f"INSERT INTO {projection.table} {projection.select_where(select)}", *parameters)


async def rebuild(connection, projection: Projection) -> None:
    """The projection from all the facts, in the caller's transaction."""
    await connection.execute(f"TRUNCATE {projection.table}")
    await connection.execute(f"INSERT INTO {projection.table} {projection.select_where('TRUE')}")
