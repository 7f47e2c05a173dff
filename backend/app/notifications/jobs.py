"""The scheduled notification jobs. Each is a plain async function of (pool, settings, now): the
scheduler passes the wall clock, tests a fixed instant. Each stores its notifications with
`store.queue` (once per member and deterministic source event, so a rerun adds nothing), each with its
NotificationQueued event, in one transaction; the `fitmint-deliveries` consumer group does the rest as
for any notification (the live push, the deliveries, email batches).

- `daily_reminders`: every minute. A member's reminder "HH:MM" in their time zone is due when that local
  time fell within the last `window` (10 minutes: a restart or a slow minute still sends it). Source
  event job_key("reminder", user, local date, "HH:MM"): once per local day and time. Members who already
  recorded an accepted workout that local day are skipped. Across DST: a time skipped by the clock
  change (02:30 when clocks jump 02:00 -> 03:00) is sent at the shifted instant (03:30 local); a time
  that occurs twice (clocks fall back) is sent at its first occurrence only.
- `weekly_challenge_results`: the weekly distance challenge of the previous ISO week (Monday 00:00 UTC
  to Monday 00:00 UTC), per tenant: members with accepted workouts ranked by distance (ties share a
  rank); each participant gets their rank, distance and the top 3 (private members' names hidden).
  Members without an accepted workout that week are not in the challenge and get nothing.
- `weekly_activity_reports`: the previous ISO week's workouts, distance, active minutes and per-activity
  breakdown. Every member with the email channel and an address gets one (even a quiet week: they asked
  for the emails); members without email get it in the inbox only if they use the websocket channel and
  were active (no empty reports in the inbox). Never by SMS: the reports' NotificationQueued events do
  not name that channel. The deliveries consumer puts the emails in batches of `settings.email_batch_size`
  (an EmailBatchReady each), as it does for every notification.
Both weekly jobs run in one transaction that starts by inserting their job_runs row (job, ISO week):
a second run of the same week finds the row and does nothing; a crashed run left no row and reruns whole.
"""

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from pydantic import ValidationError

from backend.app.core.config import Settings
from backend.app.notifications import store, templates
from backend.app.notifications.store import Draft, Queued
from backend.app.users.models import Channel, Preferences, Privacy
from fitmint import events as ev

log = logging.getLogger("notifications.jobs")


def job_key(*parts) -> str:
    """A scheduled job's deterministic source-event id (e.g. a reminder's user, local date and time): the
    notifications it stores are keyed by it, as the consumer's are by the event they answer."""
    return ev.deterministic_id("job:" + ":".join(str(part) for part in parts))


REMINDER_WINDOW = timedelta(minutes=10)
UTC = UTC


# --- shared -------------------------------------------------------------------------------------------

def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def member_preferences(row) -> Preferences | None:
    try:
        return store.preferences_of(row["preferences"])
    except (ValidationError, ValueError) as exc:
        log.warning("member %s: stored preferences unreadable, skipped: %s", row["id"], exc)
        return None


def previous_week(now: datetime) -> tuple[str, datetime, datetime]:
    """The ISO week before `now`'s (UTC): ("2026-W47", Monday 00:00 UTC, the next Monday 00:00 UTC)."""
    today = _utc(now).date()
    start_day = today - timedelta(days=today.weekday() + 7)
    year, week, _ = start_day.isocalendar()
    start = datetime.combine(start_day, time(0), tzinfo=UTC)
    return f"{year}-W{week:02d}", start, start + timedelta(days=7)


def _name(row, prefs: Preferences) -> str:
    if prefs.privacy == Privacy.PRIVATE:
        return "a private member"
    return row["display_name"] or f"member {str(row['user_id'])[:8]}"


async def claim_period(connection, job: str, period: str) -> bool:
    """Inserts the job's row for `period` (in the caller's transaction); False if it already ran."""
    return await connection.fetchval(
        "INSERT INTO job_runs (job, period) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
        job, period) is not None


async def finish_period(connection, job: str, period: str, result: dict) -> None:
    await connection.execute(
        "UPDATE job_runs SET finished_at = now(), result = $3::jsonb WHERE job = $1 AND period = $2",
        job, period, orjson.dumps(result).decode())


# --- daily reminders ----------------------------------------------------------------------------------

def due_reminders(prefs: Preferences, now: datetime,
                  window: timedelta = REMINDER_WINDOW) -> list[tuple[date, str, datetime]]:
    """The member's reminders due in (now - window, now]: [(local date, "HH:MM", due instant UTC)]."""
    now = _utc(now)
    zone = ZoneInfo(prefs.timezone)
    today = now.astimezone(zone).date()
    due = []
    for day in (today - timedelta(days=1), today):  # yesterday: a window reaching back over midnight
        for hhmm in prefs.reminder_times:
            hours, minutes = (int(part) for part in hhmm.split(":"))
            instant = datetime.combine(day, time(hours, minutes), tzinfo=zone).astimezone(UTC)  # fold=0
            if now - window < instant <= now:
                due.append((day, hhmm, instant))
    return due


def _local_day(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC),
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC))


async def daily_reminders(pool: asyncpg.Pool, settings: Settings, now: datetime, *,
                          window: timedelta = REMINDER_WINDOW) -> int:
    """Sends the reminders due at `now`; returns how many notifications it stored."""
    members = await pool.fetch(
        "SELECT id, tenant_id, preferences::text AS preferences FROM users "
        "WHERE jsonb_typeof(preferences -> 'reminder_times') = 'array' AND preferences -> 'reminder_times' <> '[]'")
    candidates = []
    for member in members:
        prefs = member_preferences(member)
        if prefs is not None:
            candidates += [(member, prefs, day, hhmm) for day, hhmm, _ in due_reminders(prefs, now, window)]
    if not candidates:
        return 0
    queued: list[Queued] = []
    skipped = 0
    async with pool.acquire() as connection:
        async with connection.transaction():
            for member, prefs, day, hhmm in candidates:
                zone = ZoneInfo(prefs.timezone)
                start, end = _local_day(day, zone)
                if await connection.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM workouts WHERE user_id = $1 AND status = 'accepted' "
                        "AND started_at >= $2 AND started_at < $3)", member["id"], start, end):
                    skipped += 1
                    continue
                draft = Draft(kind=templates.DAILY_REMINDER, title="Time for your workout",
                              body=f"It's {hhmm} ({prefs.timezone}) and you haven't recorded a workout today "
                                   f"({day.isoformat()}) yet. Even a short walk counts.",
                              data={"localDate": day.isoformat(), "localTime": hhmm, "timezone": prefs.timezone})
                item = await store.queue(connection, tenant_id=str(member["tenant_id"]), user_id=str(member["id"]),
                                         source_event=job_key("reminder", member["id"], day.isoformat(), hhmm),
                                         draft=draft, preferences=prefs)
                if item is not None:
                    queued.append(item)
    if queued or skipped:
        log.info("daily reminders at %s: %d sent, %d skipped (already worked out)", _utc(now).isoformat(),
                 len(queued), skipped)
    return len(queued)


# --- weekly challenge ---------------------------------------------------------------------------------

def rank(entries: list[dict]) -> list[dict]:
    """Sorted by distance (then user id, for a stable order), with competition ranks: 1, 2, 2, 4."""
    ordered = sorted(entries, key=lambda e: (-e["distanceM"], e["userId"]))
    previous, current = None, 0
    for position, entry in enumerate(ordered, start=1):
        if entry["distanceM"] != previous:
            current, previous = position, entry["distanceM"]
        entry["rank"] = current
    return ordered


async def weekly_challenge_results(pool: asyncpg.Pool, settings: Settings, now: datetime) -> dict | None:
    """The previous ISO week's distance challenge results; None if that week was already announced."""
    week, start, end = previous_week(now)
    queued: list[Queued] = []
    async with pool.acquire() as connection:
        async with connection.transaction():
            if not await claim_period(connection, "weekly_challenge_results", week):
                log.info("weekly challenge %s: already announced", week)
                return None
            rows = await connection.fetch(
                "SELECT u.tenant_id, u.id AS user_id, u.display_name, u.preferences::text AS preferences, "
                "       sum(coalesce(w.distance_m, 0)) AS distance "
                "FROM workouts w JOIN users u ON u.id = w.user_id "
                "WHERE w.status = 'accepted' AND w.started_at >= $1 AND w.started_at < $2 "
                "GROUP BY u.tenant_id, u.id", start, end)
            tenants: dict[str, list[dict]] = defaultdict(list)
            for row in rows:
                prefs = member_preferences({"id": row["user_id"], "preferences": row["preferences"]})
                if prefs is None:
                    continue
                tenants[str(row["tenant_id"])].append({"userId": str(row["user_id"]), "name": _name(row, prefs),
                                                       "distanceM": round(float(row["distance"]), 1), "prefs": prefs})
            for tenant_id, entries in tenants.items():
                ranked = rank(entries)
                top = [e for e in ranked if e["rank"] <= 3]
                for entry in ranked:
                    podium = [{"rank": e["rank"], "name": "you" if e is entry else e["name"],
                               "distanceM": e["distanceM"]} for e in top]
                    standings = ", ".join(f"#{p['rank']} {p['name']} {templates.km(p['distanceM'])}" for p in podium)
                    draft = Draft(
                        kind=templates.CHALLENGE_RESULT,
                        title=f"Weekly distance challenge {week}: you placed #{entry['rank']}",
                        body=f"You placed #{entry['rank']} of {len(ranked)} with {templates.km(entry['distanceM'])}. "
                             f"Top 3: {standings}.",
                        data={"week": week, "rank": entry["rank"], "participants": len(ranked),
                              "distanceM": entry["distanceM"], "top": podium})
                    item = await store.queue(connection, tenant_id=tenant_id, user_id=entry["userId"],
                                             source_event=job_key("challenge", tenant_id, week), draft=draft,
                                             preferences=entry["prefs"])
                    if item is not None:
                        queued.append(item)
            result = {"week": week, "tenants": len(tenants), "notifications": len(queued)}
            await finish_period(connection, "weekly_challenge_results", week, result)
    log.info("weekly challenge %s: %d participants notified in %d tenants", week, len(queued), len(tenants))
    return result


# --- weekly activity reports --------------------------------------------------------------------------

async def weekly_activity_reports(pool: asyncpg.Pool, settings: Settings, now: datetime) -> dict | None:
    """The previous ISO week's activity reports; None if that week's were already sent."""
    week, start, end = previous_week(now)
    queued: list[Queued] = []
    async with pool.acquire() as connection:
        async with connection.transaction():
            if not await claim_period(connection, "weekly_activity_reports", week):
                log.info("weekly activity reports %s: already sent", week)
                return None
            stats: dict[str, dict[str, dict]] = defaultdict(dict)
            for row in await connection.fetch(
                    "SELECT user_id, activity, count(*) AS workouts, coalesce(sum(distance_m), 0) AS distance, "
                    "       coalesce(sum(extract(epoch FROM ended_at - started_at)), 0) / 60 AS minutes "
                    "FROM workouts WHERE status = 'accepted' AND started_at >= $1 AND started_at < $2 "
                    "GROUP BY user_id, activity", start, end):
                stats[str(row["user_id"])][row["activity"]] = {
                    "workouts": row["workouts"], "distanceM": round(float(row["distance"]), 1),
                    "activeMinutes": round(float(row["minutes"]), 1)}
            emailed, inbox_only = [], []
            for member in await connection.fetch(
                    "SELECT id, tenant_id, preferences::text AS preferences FROM users ORDER BY id"):
                prefs = member_preferences(member)
                if prefs is None:
                    continue
                channels = [c for c in prefs.notification_channels if c != Channel.SMS]  # reports: never SMS
                prefs = prefs.model_copy(update={"notification_channels": channels})
                user_id = str(member["id"])
                if Channel.EMAIL in channels and prefs.email:
                    emailed.append((member, prefs))
                elif Channel.WEBSOCKET in channels and user_id in stats:
                    inbox_only.append((member, prefs))
            period = {"week": week, "from": start.date().isoformat(),
                      "to": (end.date() - timedelta(days=1)).isoformat()}

            async def report(member, prefs):
                activities = stats.get(str(member["id"]), {})
                workouts = sum(a["workouts"] for a in activities.values())
                distance = round(sum(a["distanceM"] for a in activities.values()), 1)
                minutes = round(sum(a["activeMinutes"] for a in activities.values()), 1)
                body = (f"{workouts} workout{'s' if workouts != 1 else ''}, {templates.km(distance)}, "
                        f"{round(minutes)} active minutes in {week}." if workouts else
                        f"No workouts recorded in {week}. A new week, a new start!")
                draft = Draft(kind=templates.ACTIVITY_REPORT, title=f"Your weekly activity report {week}", body=body,
                              data=period | {"workouts": workouts, "distanceM": distance, "activeMinutes": minutes,
                                             "activities": activities})
                item = await store.queue(connection, tenant_id=str(member["tenant_id"]), user_id=str(member["id"]),
                                         source_event=job_key("report", week), draft=draft, preferences=prefs)
                if item is not None:
                    queued.append(item)
                return item

            emails = 0
            for member, prefs in emailed:
                emails += await report(member, prefs) is not None
            for member, prefs in inbox_only:
                await report(member, prefs)
            result = {"week": week, "notifications": len(queued), "emails": emails, "inboxOnly": len(inbox_only)}
            await finish_period(connection, "weekly_activity_reports", week, result)
    log.info("weekly activity reports %s: %d to be emailed, %d in the inbox only", week, result["emails"],
             result["inboxOnly"])
    return result
