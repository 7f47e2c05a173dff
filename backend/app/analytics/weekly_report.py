"""The weekly analytics report to each tenant's admins: the previous ISO week's headline numbers beside the
week before's, and its days (active members, accepted and refused workouts), read from the analytics
store's projections as the dashboards read them (queries.py). A scheduled job of the worker
(notifications/scheduler.py), like the members' weekly reports (notifications/jobs.py):

- one transaction of the API's database starts by inserting its job_runs row (job, ISO week): a second run
  of the same week does nothing; a run that failed (the analytics store unreachable, say) left no row, and
  the next hourly run that Monday (or the catch-up of a new leader) sends the week whole;
- each admin gets one notification (kind `analytics.weekly`, once per tenant and week: its source event is
  job_key("analytics-report", tenant, week)) and its NotificationQueued event, on their channels but never
  SMS: by email to those with the email channel and an address, else in the inbox (websocket). The
  deliveries group does the rest, as for any notification; the email shows the week's chart, drawn when
  it is composed (chart.py, templates.py).
"""

import logging
from datetime import timedelta

import asyncpg

from backend.app.analytics import queries
from backend.app.analytics.database import AnalyticsDatabase
from backend.app.analytics.scope import Granularity, Period, TenantScope
from backend.app.core.config import Settings
from backend.app.notifications import jobs, store, templates
from backend.app.notifications.store import Draft
from backend.app.users.models import Channel

log = logging.getLogger("analytics.weekly_report")
JOB = "weekly_analytics_reports"

# The headline numbers the report gives: (key in queries.overview's Headlines, label, unit).
FIGURES = (("active_members", "Active members", "count"), ("new_members", "New members", "count"),
           ("workouts", "Accepted workouts", "count"), ("rejected", "Refused workouts", "count"),
           ("distance_km", "Distance", "km"), ("rewards_issued_fit", "Rewards issued", "FIT"),
           ("claim_rate", "Claimed so far", "rate"), ("orders", "Marketplace orders", "count"),
           ("volume_fit", "Marketplace volume", "FIT"))


async def tenant_week(analytics: AnalyticsDatabase, tenant_id: str, period: Period) -> dict:
    """The report's numbers for one tenant's week: figures (this week, the week before) and days."""
    scope = TenantScope(tenant_id)
    overview = await queries.overview(analytics, scope, period)
    activity = await queries.activity(analytics, scope, period, Granularity.DAY)
    workouts = await queries.workouts(analytics, scope, period, Granularity.DAY)
    accepted = {day: 0 for day in period.buckets(Granularity.DAY)}
    rejected = dict(accepted)
    for point in workouts.data:
        accepted[point.period] += point.accepted
        rejected[point.period] += point.rejected
    now, before = overview.current.model_dump(), overview.previous.model_dump()
    figures = [{"key": key, "label": label, "unit": unit, "value": _rounded(now[key]),
                "previous": _rounded(before[key])} for key, label, unit in FIGURES]
    days = [{"day": p.period.isoformat(), "dau": p.dau, "workouts": accepted[p.period],
             "rejected": rejected[p.period]} for p in activity.data]
    return {"figures": figures, "days": days}


def _rounded(value):
    return round(value, 3) if isinstance(value, float) else value


def _summary(week: str, figures: list[dict]) -> str:
    value = {f["key"]: f["value"] for f in figures}
    return (f"{value['active_members']:,} active members, {value['new_members']:,} new, "
            f"{value['workouts']:,} workouts ({value['rejected']:,} refused), {value['orders']:,} marketplace "
            f"orders in {week}.")


async def weekly_analytics_reports(pool: asyncpg.Pool, settings: Settings, now, *,
                                   analytics: AnalyticsDatabase | None = None) -> dict | None:
    """The previous ISO week's reports to every tenant's admins; None if that week's were already sent."""
    week, start, end = jobs.previous_week(now)
    period = Period(start.date(), end.date() - timedelta(days=1))
    own = analytics is None
    analytics = analytics or AnalyticsDatabase(settings, max_size=2)
    queued = emails = 0
    try:
        async with pool.acquire() as connection, connection.transaction():
            if not await jobs.claim_period(connection, JOB, week):
                log.info("weekly analytics reports %s: already sent", week)
                return None
            admins = await connection.fetch(
                "SELECT u.id, u.tenant_id::text AS tenant_id, u.preferences::text AS preferences, t.name "
                "FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.role = 'admin' ORDER BY t.name, u.id")
            reports: dict[str, dict] = {}
            for admin in admins:
                prefs = jobs.member_preferences(admin)
                if prefs is None:
                    continue
                channels = [c for c in prefs.notification_channels if c != Channel.SMS]  # reports: never SMS
                if not (Channel.EMAIL in channels and prefs.email) and Channel.WEBSOCKET not in channels:
                    continue
                tenant_id = admin["tenant_id"]
                if tenant_id not in reports:
                    reports[tenant_id] = await tenant_week(analytics, tenant_id, period)
                report = reports[tenant_id]
                draft = Draft(kind=templates.ANALYTICS_REPORT, title=f"Weekly analytics {week}: {admin['name']}",
                              body=_summary(week, report["figures"]),
                              data={"tenantId": tenant_id, "tenantName": admin["name"], "week": week,
                                    "from": period.start.isoformat(), "to": period.end.isoformat(), **report})
                item = await store.queue(connection, tenant_id=tenant_id, user_id=str(admin["id"]),
                                         source_event=jobs.job_key("analytics-report", tenant_id, week), draft=draft,
                                         preferences=prefs.model_copy(update={"notification_channels": channels}))
                if item is not None:
                    queued += 1
                    emails += Channel.EMAIL in item.channels and bool(prefs.email)
            result = {"week": week, "tenants": len(reports), "notifications": queued, "emails": emails}
            await jobs.finish_period(connection, JOB, week, result)
    finally:
        if own:
            await analytics.close()
    log.info("weekly analytics reports %s: %d admins of %d tenants (%d by email)", week, queued, len(reports), emails)
    return result
