"""The dashboards' reads: each an index range over the analytics store's projections (its schema:
analytics/schema.sql), never the event store or the facts, so any period of any tenant answers in
milliseconds. A tenant's rows are a range of each projection's primary key (tenant_id, day, ...); the
whole platform's, a range over its days.

Periods are filled: every day (or ISO week) of the period has its point, zeros where nothing happened.
Each function reads through an AnalyticsDatabase (the API's pool: an endpoint's statements run in
parallel) or anything with its fetch and fetchrow, e.g. `OneConnection` (BENCHMARKED, below)."""

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from backend.app.analytics import models as m
from backend.app.analytics.database import AnalyticsDatabase
from backend.app.analytics.scope import Granularity, Period, TenantScope, monday
from fitmint.units import fit_text

HOUR = 3600.0


def _tenant(scope: TenantScope, params: list, column: str = "tenant_id") -> str:
    """The SQL condition on the tenant (its id appended to `params`), or nothing for the whole platform.
    Two statements rather than `$n IS NULL OR ...`: each keeps a plan that uses the key."""
    if scope.tenant_id is None:
        return ""
    params.append(uuid.UUID(scope.tenant_id))
    return f" AND {column} = ${len(params)}"


def _bucket(granularity: Granularity) -> str:
    """The SQL label of a row's bucket: its day, or the Monday of its ISO week."""
    return "day - (extract(isodow FROM day)::int - 1)" if granularity is Granularity.WEEK else "day"


def _ratio(part, whole) -> float | None:
    return float(part) / float(whole) if whole else None


def _fit(wei) -> str:
    return fit_text(wei or 0)


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _window(scope: TenantScope, period: Period) -> dict:
    return {"tenant": scope.label, "from": period.start, "to": period.end}


def _series(scope: TenantScope, period: Period, granularity: Granularity) -> dict:
    return _window(scope, period) | {"granularity": granularity.value}


async def as_of(db: AnalyticsDatabase) -> datetime | None:
    """When the projections were last brought up to date: the consumer's last batch, or a rebuild."""
    row = await db.fetchrow("SELECT greatest(last_applied_at, rebuilt_at) AS at FROM store_state")
    return row["at"] if row else None


# --- overview ---------------------------------------------------------------------------------------------

# A member_weeks row's days (bits: 1 Monday ... 64 Sunday) within a period's weeks, from its first Monday
# ($a, with the mask of the days from the period's first one) to its last ($c, mask $d).
_ACTIVE_IN = ("(week BETWEEN ${0} AND ${2} AND (days & (CASE WHEN week = ${0} THEN ${1} ELSE 127 END) "
              "& (CASE WHEN week = ${2} THEN ${3} ELSE 127 END)) <> 0)")


def _weeks_of(period: Period) -> list:
    """The period's first Monday, the bits of its days in that week, its last Monday, the bits of its days
    in that one (member_weeks' `days`)."""
    return [monday(period.start), 127 & ~((1 << period.start.weekday()) - 1),
            monday(period.end), (1 << (period.end.weekday() + 1)) - 1]


async def overview(db: AnalyticsDatabase, scope: TenantScope, period: Period) -> m.Overview:
    """Headline numbers of the period and of the one before it: one range read per projection covering
    both periods, each split by FILTER."""
    previous = period.previous()
    params: list = [previous.start, period.end, period.start]
    where = "day BETWEEN $1 AND $2" + _tenant(scope, params)
    split = ("FILTER (WHERE day >= $3)", "FILTER (WHERE day < $3)")

    def both(expression: str, name: str) -> str:
        return f"{expression} {split[0]} AS {name}, {expression} {split[1]} AS previous_{name}"

    members_params: list = [_instant(previous.start), _instant(period.after_end), _instant(period.start)]
    weeks_params: list = [*_weeks_of(period), *_weeks_of(previous)]
    queries = [
        # Members active in each period, in one pass over member_weeks (a hash aggregate; two distinct
        # counts would sort the rows twice): a member's week counts where its days overlap the period's.
        db.fetchrow("SELECT count(*) FILTER (WHERE current) AS active_members, "
                    "count(*) FILTER (WHERE previous) AS previous_active_members "
                    f"FROM (SELECT bool_or({_ACTIVE_IN.format(1, 2, 3, 4)}) AS current, "
                    f"bool_or({_ACTIVE_IN.format(5, 6, 7, 8)}) AS previous "
                    "FROM member_weeks WHERE week BETWEEN $5 AND $3" + _tenant(scope, weeks_params)
                    + " GROUP BY user_id) m", *weeks_params),
        db.fetchrow("SELECT count(*) FILTER (WHERE joined_at >= $3) AS new_members, "
                    "count(*) FILTER (WHERE joined_at < $3) AS previous_new_members "
                    "FROM member_milestones WHERE joined_at >= $1 AND joined_at < $2"
                    + _tenant(scope, members_params), *members_params),
        db.fetchrow(f"SELECT {both('sum(accepted)', 'workouts')}, {both('sum(rejected)', 'rejected')}, "
                    f"{both('sum(flagged)', 'flagged')}, {both('sum(distance_m)', 'distance_m')}, "
                    f"{both('sum(duration_s)', 'duration_s')} FROM workout_days WHERE {where}", *params),
        db.fetchrow(f"SELECT {both('sum(issued)', 'issued')}, {both('sum(issued_amount)', 'issued_amount')}, "
                    f"{both('sum(claimed)', 'claimed')}, {both('sum(claimed_amount)', 'claimed_amount')} "
                    f"FROM reward_days WHERE {where}", *params),
        db.fetchrow(f"SELECT {both('sum(orders)', 'orders')}, {both('sum(volume)', 'volume')} "
                    f"FROM order_days WHERE {where}", *params),
        db.fetchrow(f"SELECT {both('sum(minted)', 'minted')}, {both('sum(burned)', 'burned')} "
                    "FROM token_days WHERE day BETWEEN $1 AND $2", previous.start, period.end, period.start),
        as_of(db),
    ]
    *rows, freshness = await asyncio.gather(*queries)
    values: dict = {}
    for row in rows:
        values.update(row or {})

    def headlines(prefix: str) -> m.Headlines:
        def get(name):
            return values.get(prefix + name) or 0
        return m.Headlines(
            active_members=get("active_members"), new_members=get("new_members"), workouts=get("workouts"),
            rejected=get("rejected"), flagged=get("flagged"), distance_km=float(get("distance_m")) / 1000,
            active_hours=float(get("duration_s")) / HOUR, rewards_issued=get("issued"),
            rewards_issued_fit=_fit(get("issued_amount")), rewards_claimed=get("claimed"),
            rewards_claimed_fit=_fit(get("claimed_amount")), claim_rate=_ratio(get("claimed"), get("issued")),
            orders=get("orders"), volume_fit=_fit(get("volume")), minted_fit=_fit(get("minted")),
            burned_fit=_fit(get("burned")))

    return m.Overview(**_window(scope, period), current=headlines(""), previous=headlines("previous_"),
                      previous_from=previous.start, previous_to=previous.end, as_of=freshness)


# --- active members -----------------------------------------------------------------------------------------

async def activity(db: AnalyticsDatabase, scope: TenantScope, period: Period,
                   granularity: Granularity) -> m.Activity:
    params: list = [period.start, period.end]
    rows = await db.fetch("SELECT day, sum(dau) AS dau, sum(wau) AS wau, sum(mau) AS mau FROM activity_days "
                          "WHERE day BETWEEN $1 AND $2" + _tenant(scope, params) + " GROUP BY day", *params)
    by_day = {row["day"]: row for row in rows}
    points = []
    for label in period.buckets(granularity):
        days = [d for d in _days_of(label, granularity) if period.start <= d <= period.end]
        found = [by_day[d] for d in days if d in by_day]
        dau = sum(row["dau"] for row in found) / len(days)
        last = by_day.get(days[-1])
        wau, mau = (last["wau"], last["mau"]) if last else (0, 0)
        points.append(m.ActivityPoint(period=label, dau=dau, wau=wau, mau=mau, stickiness=_ratio(dau, mau)))
    return m.Activity(**_series(scope, period, granularity), data=points)


def _days_of(label: date, granularity: Granularity) -> list[date]:
    return [label + timedelta(days=i) for i in range(7 if granularity is Granularity.WEEK else 1)]


# --- workouts and refusals ---------------------------------------------------------------------------------

async def workouts(db: AnalyticsDatabase, scope: TenantScope, period: Period,
                   granularity: Granularity) -> m.Workouts:
    params: list = [period.start, period.end]
    rows = await db.fetch(
        f"SELECT {_bucket(granularity)} AS period, activity, sum(accepted) AS accepted, sum(rejected) AS rejected, "
        "sum(flagged) AS flagged, sum(distance_m) AS distance_m, sum(duration_s) AS duration_s FROM workout_days "
        "WHERE day BETWEEN $1 AND $2" + _tenant(scope, params) + " GROUP BY 1, 2 ORDER BY 1, 2", *params)
    totals: dict[str, dict] = {}
    points = []
    for row in rows:
        counts = _workout_counts(row)
        points.append(m.WorkoutPoint(period=row["period"], activity=row["activity"], **counts))
        total = totals.setdefault(row["activity"], dict.fromkeys(counts, 0))
        for key, value in counts.items():
            total[key] += value
    activities = sorted((m.ActivityTotal(activity=name, **counts) for name, counts in totals.items()),
                        key=lambda a: (-a.accepted, a.activity))
    return m.Workouts(**_series(scope, period, granularity), data=points, activities=activities)


def _workout_counts(row) -> dict:
    return {"accepted": row["accepted"], "rejected": row["rejected"], "flagged": row["flagged"],
            "distance_km": float(row["distance_m"]) / 1000, "active_hours": float(row["duration_s"]) / HOUR}


async def refusals(db: AnalyticsDatabase, scope: TenantScope, period: Period,
                   granularity: Granularity) -> m.Refusals:
    params: list = [period.start, period.end]
    where = "day BETWEEN $1 AND $2" + _tenant(scope, params)
    rows, rejected = await asyncio.gather(
        db.fetch(f"SELECT {_bucket(granularity)} AS period, reason, sum(workouts) AS workouts FROM refusal_days "
                 f"WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2", *params),
        db.fetchrow(f"SELECT coalesce(sum(rejected), 0) AS rejected FROM workout_days WHERE {where}", *params))
    by_reason: dict[str, int] = defaultdict(int)
    for row in rows:
        by_reason[row["reason"]] += row["workouts"]
    total = rejected["rejected"]
    reasons = [m.ReasonTotal(reason=reason, workouts=count, share=_ratio(count, total))
               for reason, count in sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))]
    return m.Refusals(**_series(scope, period, granularity), rejected=total, reasons=reasons,
                      data=[m.RefusalPoint(period=r["period"], reason=r["reason"], workouts=r["workouts"])
                            for r in rows])


# --- rewards ---------------------------------------------------------------------------------------------------

async def rewards(db: AnalyticsDatabase, scope: TenantScope, period: Period, granularity: Granularity) -> m.Rewards:
    params: list = [period.start, period.end]
    rows = await db.fetch(
        f"SELECT {_bucket(granularity)} AS period, sum(issued) AS issued, sum(issued_amount) AS issued_amount, "
        "sum(claimed) AS claimed, sum(claimed_amount) AS claimed_amount, sum(claim_seconds) AS claim_seconds "
        "FROM reward_days WHERE day BETWEEN $1 AND $2" + _tenant(scope, params) + " GROUP BY 1", *params)
    by_period = {row["period"]: row for row in rows}
    zero = {"issued": 0, "issued_amount": 0, "claimed": 0, "claimed_amount": 0, "claim_seconds": 0.0}
    points = [m.RewardPoint(period=label, **_reward_figures(by_period.get(label, zero)))
              for label in period.buckets(granularity)]
    sums = {key: sum(row[key] for row in rows) for key in zero}
    return m.Rewards(**_series(scope, period, granularity), totals=m.RewardFigures(**_reward_figures(sums)),
                     data=points)


def _reward_figures(row) -> dict:
    return {"issued": row["issued"], "issued_fit": _fit(row["issued_amount"]), "claimed": row["claimed"],
            "claimed_fit": _fit(row["claimed_amount"]), "claim_rate": _ratio(row["claimed"], row["issued"]),
            "mean_hours_to_claim": (float(row["claim_seconds"]) / row["claimed"] / HOUR) if row["claimed"] else None}


# --- the token ------------------------------------------------------------------------------------------------

async def token(db: AnalyticsDatabase, scope: TenantScope, period: Period, granularity: Granularity) -> m.Token:
    """The days' flows and the running sums at each period's end: the sums of every day before the period
    (one aggregate over the key) carried through the period's days."""
    opening, rows = await asyncio.gather(
        db.fetchrow("SELECT coalesce(sum(minted) - sum(burned), 0) AS supply, coalesce(sum(to_treasury), 0) "
                    "AS treasury FROM token_days WHERE day < $1", period.start),
        db.fetch(f"SELECT {_bucket(granularity)} AS period, sum(minted) AS minted, sum(burned) AS burned, "
                 "sum(to_treasury) AS to_treasury FROM token_days WHERE day BETWEEN $1 AND $2 GROUP BY 1",
                 period.start, period.end))
    by_period = {row["period"]: row for row in rows}
    supply, treasury = Decimal(opening["supply"]), Decimal(opening["treasury"])
    points = []
    for label in period.buckets(granularity):
        row = by_period.get(label)
        minted, burned, paid = (row["minted"], row["burned"], row["to_treasury"]) if row else (0, 0, 0)
        supply += minted - burned
        treasury += paid
        points.append(m.TokenPoint(period=label, minted_fit=_fit(minted), burned_fit=_fit(burned),
                                   to_treasury_fit=_fit(paid), supply_fit=_fit(supply), treasury_fit=_fit(treasury),
                                   circulating_fit=_fit(supply - treasury)))
    return m.Token(**_series(scope, period, granularity), data=points)


# --- the marketplace ---------------------------------------------------------------------------------------

async def marketplace(db: AnalyticsDatabase, scope: TenantScope, period: Period, granularity: Granularity,
                      top: int) -> m.Marketplace:
    params: list = [period.start, period.end]
    where = "day BETWEEN $1 AND $2" + _tenant(scope, params)
    rows, items = await asyncio.gather(
        db.fetch(f"SELECT {_bucket(granularity)} AS period, sum(orders) AS orders, sum(buyers) AS buyers, "
                 "sum(quantity) AS quantity, sum(volume) AS volume, sum(fees) AS fees, sum(burned) AS burned "
                 f"FROM order_days WHERE {where} GROUP BY 1", *params),
        db.fetch("SELECT listing_id, (array_agg(name ORDER BY day DESC))[1] AS name, sum(orders) AS orders, "
                 f"sum(quantity) AS quantity, sum(volume) AS volume FROM item_days WHERE {where} "
                 f"GROUP BY listing_id ORDER BY volume DESC, listing_id LIMIT ${len(params) + 1}", *params, top))
    by_period = {row["period"]: row for row in rows}
    keys = ("orders", "buyers", "quantity", "volume", "fees", "burned")
    points = []
    for label in period.buckets(granularity):
        row = by_period.get(label) or dict.fromkeys(keys, 0)
        points.append(m.MarketPoint(period=label, orders=row["orders"], buyers=row["buyers"],
                                    quantity=int(row["quantity"]), volume_fit=_fit(row["volume"]),
                                    fees_fit=_fit(row["fees"]), burned_fit=_fit(row["burned"])))
    sums = {key: sum(row[key] for row in rows) for key in keys}
    totals = m.MarketTotals(orders=sums["orders"], quantity=int(sums["quantity"]), volume_fit=_fit(sums["volume"]),
                            fees_fit=_fit(sums["fees"]), burned_fit=_fit(sums["burned"]),
                            average_order_fit=_fit(Decimal(sums["volume"]) // sums["orders"]) if sums["orders"]
                            else None)
    return m.Marketplace(**_series(scope, period, granularity), totals=totals, data=points, top_items=[
        m.TopItem(listing_id=i["listing_id"], name=i["name"], orders=i["orders"], quantity=int(i["quantity"]),
                  volume_fit=_fit(i["volume"])) for i in items])


# --- retention and the funnel --------------------------------------------------------------------------------

async def retention(db: AnalyticsDatabase, scope: TenantScope, period: Period, weeks: int) -> m.Retention:
    """A row per cohort, a cell per week after joining up to `weeks` or the store's latest active day (a
    week nobody of the cohort was active in has no projection row: it is 0 if observed, absent if not yet)."""
    params: list = [monday(period.start), period.end, weeks]
    latest_params: list = []
    rows, latest = await asyncio.gather(
        db.fetch("SELECT cohort, week, sum(members) AS members, sum(active) AS active FROM retention_weeks "
                 "WHERE cohort BETWEEN $1 AND $2 AND week <= $3" + _tenant(scope, params) + " GROUP BY cohort, week",
                 *params),
        db.fetchrow("SELECT max(day) AS day FROM activity_days WHERE true" + _tenant(scope, latest_params),
                    *latest_params))
    active: dict[date, dict[int, int]] = defaultdict(dict)
    members: dict[date, int] = {}
    for row in rows:
        active[row["cohort"]][row["week"]] = row["active"]
        members[row["cohort"]] = row["members"]
    observed = latest["day"] if latest else None
    cohorts = []
    for cohort in sorted(members):
        last = min(weeks, (observed - cohort).days // 7) if observed else weeks
        cohorts.append(m.Cohort(cohort=cohort, members=members[cohort], weeks=[
            m.RetentionCell(week=week, active=active[cohort].get(week, 0),
                            rate=_ratio(active[cohort].get(week, 0), members[cohort])) for week in range(last + 1)]))
    return m.Retention(**_window(scope, period), cohorts=cohorts)


FUNNEL_STEPS = ("joined", "first_workout", "first_claim", "first_purchase")


async def funnel(db: AnalyticsDatabase, scope: TenantScope, period: Period) -> m.Funnel:
    """Strict steps: a member counts at a step once they reached it and every step before it."""
    params: list = [_instant(period.start), _instant(period.after_end)]
    reached = ["true", "first_workout_at IS NOT NULL",
               "first_workout_at IS NOT NULL AND first_claim_at IS NOT NULL",
               "first_workout_at IS NOT NULL AND first_claim_at IS NOT NULL AND first_purchase_at IS NOT NULL"]
    columns = [None, "first_workout_at", "first_claim_at", "first_purchase_at"]
    selects = []
    for i, condition in enumerate(reached):
        selects.append(f"count(*) FILTER (WHERE {condition}) AS members_{i}")
        if columns[i]:
            selects.append(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM {columns[i]} - joined_at)) "
                           f"FILTER (WHERE {condition}) AS median_{i}")
    row = await db.fetchrow(f"SELECT {', '.join(selects)} FROM member_milestones "
                            "WHERE joined_at >= $1 AND joined_at < $2" + _tenant(scope, params), *params)
    steps = []
    for i, name in enumerate(FUNNEL_STEPS):
        members = row[f"members_{i}"]
        median = row.get(f"median_{i}") if i else None
        steps.append(m.FunnelStep(step=name, members=members, rate=_ratio(members, row["members_0"]),
                                  step_rate=_ratio(members, row[f"members_{i - 1}"]) if i else None,
                                  median_hours=float(median) / HOUR if median is not None else None))
    return m.Funnel(**_window(scope, period), steps=steps)


# --- as the benchmark runs them (bench/analytics_bench.py) ---------------------------------------------------

class OneConnection:
    """fetch and fetchrow on one connection, one statement at a time (an endpoint's parallel statements wait
    their turn): how the benchmark times each endpoint's reads on the connection it gives."""

    def __init__(self, connection):
        self.connection = connection
        self.turn = asyncio.Lock()

    async def fetch(self, query: str, *args):
        async with self.turn:
            return await self.connection.fetch(query, *args)

    async def fetchrow(self, query: str, *args):
        rows = await self.fetch(query, *args)
        return rows[0] if rows else None


def _benchmarked(read):
    async def run(connection, tenants: list[str] | None, start: date, end: date):
        """`read` for one tenant (`tenants=[id]`) or all (None), days `start` to `end`."""
        scope = TenantScope(tenants[0] if tenants else None)
        return await read(OneConnection(connection), scope, Period(start, end))
    return run


BENCHMARKED = {name: _benchmarked(read) for name, read in {
    "overview": overview,
    "activity": lambda db, scope, period: activity(db, scope, period, Granularity.DAY),
    "workouts": lambda db, scope, period: workouts(db, scope, period, Granularity.DAY),
    "refusals": lambda db, scope, period: refusals(db, scope, period, Granularity.DAY),
    "rewards": lambda db, scope, period: rewards(db, scope, period, Granularity.DAY),
    "token": lambda db, scope, period: token(db, scope, period, Granularity.DAY),
    "marketplace": lambda db, scope, period: marketplace(db, scope, period, Granularity.DAY, 10),
    "retention": lambda db, scope, period: retention(db, scope, period, 12),
    "funnel": funnel,
}.items()}
