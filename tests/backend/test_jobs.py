"""The scheduled jobs at fixed instants (real PostgreSQL and Redis): daily reminders at each member's
local time across DST changes, once, within the catch-up window, skipped after a workout, and pushed live
once their NotificationQueued events are dispatched; the weekly distance challenge's ranks; weekly
activity reports, once per week, whose NotificationQueued events the deliveries consumer turns into email
batches with one EmailBatchReady each (never SMS); and the scheduler's leadership (one of two instances
leads, the other takes over). The events go from the outbox to the consumer in-process
(tests/outboxfeed.py)."""

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from apscheduler.triggers.cron import CronTrigger
from redis.asyncio import Redis

from backend.app.core.db import create_pool, migrate
from backend.app.notifications import jobs, store
from backend.app.notifications.scheduler import SCHEDULER_LOCK, ScheduledJob, Scheduler, last_fire_time
from fitmint import events as ev
from tests.support.outboxfeed import Flow
from tests.support.waiting import until

pytestmark = pytest.mark.wallclock  # `make test-clock` runs it at 00:05, 11:00 and 23:55 UTC

UTC = UTC


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def job_settings(settings):
    migrate(settings)
    return settings


def run(settings, scenario):
    async def main():
        pool = await create_pool(settings, settings.backend_database, min_size=1, max_size=6)
        redis = Redis(host=settings.redis_host, port=settings.redis_port)
        try:
            return await scenario(pool, redis)
        finally:
            await redis.aclose()
            await pool.close()

    return asyncio.run(main())


async def tenant(pool, slug: str) -> str:
    return str(await pool.fetchval("INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id", slug))


async def member(pool, tenant_id: str, preferences: dict, name: str | None = None) -> str:
    return str(await pool.fetchval(
        "INSERT INTO users (tenant_id, display_name, preferences) VALUES ($1::uuid, $2, $3::jsonb) RETURNING id",
        tenant_id, name, orjson.dumps(preferences).decode()))


async def workout(pool, tenant_id: str, user_id: str, start: datetime, minutes: float, km: float,
                  activity: str = "run", status: str = "accepted") -> None:
    await pool.execute(
        "INSERT INTO workouts (tenant_id, user_id, activity, started_at, ended_at, distance_m, status, submitted_by) "
        "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $2)",
        tenant_id, user_id, activity, start, start + timedelta(minutes=minutes), km * 1000, status)


async def notifications(pool, kind: str) -> list[dict]:
    rows = await pool.fetch("SELECT user_id::text AS user_id, title, body, data::text AS data FROM notifications "
                            "WHERE kind = $1 ORDER BY created_at, id", kind)
    return [{"user_id": r["user_id"], "title": r["title"], "body": r["body"], "data": orjson.loads(r["data"])}
            for r in rows]


def reminders_at(*times: str) -> dict:
    return {"reminder_times": list(times), "notification_channels": ["websocket"]}


# --- daily reminders ----------------------------------------------------------------------------------

def test_reminders_follow_each_members_local_time_across_dst(job_settings):
    async def scenario(pool, redis):
        alpha = await tenant(pool, "alpha")
        berlin = await member(pool, alpha, reminders_at("07:30") | {"timezone": "Europe/Berlin"})
        new_york = await member(pool, alpha, reminders_at("07:30") | {"timezone": "America/New_York"})
        listener = redis.pubsub()
        await listener.subscribe(store.PUSH_CHANNEL + berlin)
        await listener.get_message(timeout=1)  # the subscription confirmation
        sent = {}
        for now in ("2026-03-02T06:29",   # Berlin 07:29 CET: not yet
                    "2026-03-02T06:30",   # Berlin 07:30 CET
                    "2026-03-02T06:31",   # again within the window: already sent
                    "2026-03-02T12:29",   # New York 07:29 EST: not yet
                    "2026-03-02T12:30",   # New York 07:30 EST
                    "2026-03-10T06:30",   # Berlin still CET (Europe changes on 29 March)
                    "2026-03-10T11:30",   # New York 07:30 EDT (US changed on 8 March)
                    "2026-03-10T12:30",   # 08:30 EDT: nothing new
                    "2026-03-30T05:30",   # Berlin 07:30 CEST
                    "2026-03-30T06:30"):  # Berlin 08:30 CEST: nothing new
            sent[now] = await jobs.daily_reminders(pool, job_settings, at(now))
        assert await listener.get_message(timeout=0.5, ignore_subscribe_messages=True) is None  # jobs only store
        events = await Flow(pool, redis, job_settings).dispatch()  # the deliveries consumer: the live push
        assert events == 5
        pushed = await listener.get_message(timeout=2, ignore_subscribe_messages=True)
        await listener.aclose()
        return berlin, new_york, sent, await notifications(pool, "reminder.daily"), pushed

    berlin, new_york, sent, stored, pushed = run(job_settings, scenario)
    assert sent == {"2026-03-02T06:29": 0, "2026-03-02T06:30": 1, "2026-03-02T06:31": 0, "2026-03-02T12:29": 0,
                    "2026-03-02T12:30": 1, "2026-03-10T06:30": 1, "2026-03-10T11:30": 1, "2026-03-10T12:30": 0,
                    "2026-03-30T05:30": 1, "2026-03-30T06:30": 0}
    assert [(n["user_id"], n["data"]["localDate"]) for n in stored] == [
        (berlin, "2026-03-02"), (new_york, "2026-03-02"), (berlin, "2026-03-10"), (new_york, "2026-03-10"),
        (berlin, "2026-03-30")]
    assert "haven't recorded a workout today (2026-03-02)" in stored[0]["body"]
    assert pushed is not None and orjson.loads(pushed["data"])[0]["kind"] == "reminder.daily"


def test_reminder_catch_up_window_and_midnight(job_settings):
    async def scenario(pool, redis):
        alpha = await tenant(pool, "alpha")
        late = await member(pool, alpha, reminders_at("09:00") | {"timezone": "Europe/Berlin"})
        missed = await member(pool, alpha, reminders_at("08:40") | {"timezone": "Europe/Berlin"})
        night = await member(pool, alpha, reminders_at("23:58") | {"timezone": "Europe/Berlin"})
        # 09:09:59 Berlin: the 09:00 reminder is caught up (a slow minute, a restart); the 08:40 one, 30
        # minutes old, is past the window and not sent late.
        first = await jobs.daily_reminders(pool, job_settings, at("2026-03-02T08:09:59"))
        # 00:03 on 3 March in Berlin: the 23:58 reminder of 2 March, across midnight.
        second = await jobs.daily_reminders(pool, job_settings, at("2026-03-02T23:03"))
        return late, missed, night, first, second, await notifications(pool, "reminder.daily")

    late, missed, night, first, second, stored = run(job_settings, scenario)
    assert (first, second) == (1, 1)
    assert [(n["user_id"], n["data"]["localDate"], n["data"]["localTime"]) for n in stored] == [
        (late, "2026-03-02", "09:00"), (night, "2026-03-02", "23:58")]


def test_reminders_on_the_dst_change_days(job_settings):
    async def scenario(pool, redis):
        alpha = await tenant(pool, "alpha")
        await member(pool, alpha, reminders_at("02:30") | {"timezone": "Europe/Berlin"})
        counts = []
        # 29 March 2026: clocks jump 02:00 CET -> 03:00 CEST, 02:30 does not exist; sent at 03:30 CEST.
        for now in ("2026-03-29T00:30", "2026-03-29T01:30", "2026-03-29T01:35"):
            counts.append(await jobs.daily_reminders(pool, job_settings, at(now)))
        # 25 October 2026: clocks fall back 03:00 CEST -> 02:00 CET, 02:30 happens twice; sent once.
        for now in ("2026-10-25T00:30", "2026-10-25T01:30"):
            counts.append(await jobs.daily_reminders(pool, job_settings, at(now)))
        return counts, await notifications(pool, "reminder.daily")

    counts, stored = run(job_settings, scenario)
    assert counts == [0, 1, 0, 1, 0]
    assert [n["data"]["localDate"] for n in stored] == ["2026-03-29", "2026-10-25"]


def test_no_reminder_after_a_workout_that_local_day(job_settings):
    async def scenario(pool, redis):
        alpha = await tenant(pool, "alpha")
        active = await member(pool, alpha, reminders_at("07:30") | {"timezone": "Europe/Berlin"})
        other = await member(pool, alpha, reminders_at("07:30") | {"timezone": "Europe/Berlin"})
        await workout(pool, alpha, active, at("2026-03-02T05:00"), 30, 5)    # 06:00 Berlin, same local day
        await workout(pool, alpha, other, at("2026-03-01T22:30"), 30, 5)     # 23:30 Berlin the day before
        await workout(pool, alpha, other, at("2026-03-02T05:00"), 30, 5, status="rejected")
        count = await jobs.daily_reminders(pool, job_settings, at("2026-03-02T06:30"))
        return active, other, count, await notifications(pool, "reminder.daily")

    active, other, count, stored = run(job_settings, scenario)
    assert count == 1 and [n["user_id"] for n in stored] == [other]


def test_due_reminders_is_a_pure_function():
    prefs = store.preferences_of({"timezone": "America/New_York", "reminder_times": ["07:30", "18:00"]})
    assert jobs.due_reminders(prefs, at("2026-03-10T11:35")) == [
        (datetime(2026, 3, 10).date(), "07:30", at("2026-03-10T11:30"))]
    assert jobs.due_reminders(prefs, at("2026-03-10T11:29")) == []


# --- weekly challenge ---------------------------------------------------------------------------------

def test_weekly_challenge_ranks_members_by_distance(job_settings):
    monday = at("2026-03-09T06:00")  # the week before: 2026-W10, 2 March 00:00 UTC to 9 March 00:00 UTC

    async def scenario(pool, redis):
        alpha, beta = await tenant(pool, "alpha"), await tenant(pool, "beta")
        ws = {"notification_channels": ["websocket"]}
        ann = await member(pool, alpha, ws | {"privacy": "private"}, "Ann")
        ben = await member(pool, alpha, ws, "Ben")
        cat = await member(pool, alpha, ws, "Cat")
        dan = await member(pool, alpha, ws, "Dan")
        idle = await member(pool, alpha, ws, "Idle")
        cheat = await member(pool, alpha, ws, "Cheat")
        late = await member(pool, alpha, ws, "Late")
        bea = await member(pool, beta, ws, "Bea")
        await workout(pool, alpha, ann, at("2026-03-03T07:00"), 60, 10)
        await workout(pool, alpha, ben, at("2026-03-04T07:00"), 90, 15)
        await workout(pool, alpha, ben, at("2026-03-08T23:00"), 50, 10)   # last hour of the week
        await workout(pool, alpha, cat, at("2026-03-05T07:00"), 150, 25)
        await workout(pool, alpha, dan, at("2026-03-06T07:00"), 30, 5)
        await workout(pool, alpha, cheat, at("2026-03-06T07:00"), 60, 50, status="rejected")
        await workout(pool, alpha, late, at("2026-03-09T01:00"), 120, 30)  # next week
        await workout(pool, alpha, late, at("2026-03-01T23:00"), 120, 30)  # the week before
        await workout(pool, beta, bea, at("2026-03-07T07:00"), 20, 3)
        first = await jobs.weekly_challenge_results(pool, job_settings, monday)
        again = await jobs.weekly_challenge_results(pool, job_settings, monday + timedelta(hours=1))
        stored = {n["user_id"]: n for n in await notifications(pool, "challenge.weekly")}
        run_row = await pool.fetchrow("SELECT finished_at, result::text AS result FROM job_runs "
                                      "WHERE job = 'weekly_challenge_results' AND period = '2026-W10'")
        return dict(ann=ann, ben=ben, cat=cat, dan=dan, idle=idle, cheat=cheat, late=late, bea=bea), first, again, \
            stored, run_row

    ids, first, again, stored, run_row = run(job_settings, scenario)
    assert first == {"week": "2026-W10", "tenants": 2, "notifications": 5} and again is None
    assert set(stored) == {ids["ann"], ids["ben"], ids["cat"], ids["dan"], ids["bea"]}
    ranks = {name: (stored[ids[name]]["data"]["rank"], stored[ids[name]]["data"]["participants"])
             for name in ("ann", "ben", "cat", "dan", "bea")}
    assert ranks == {"ben": (1, 4), "cat": (1, 4), "ann": (3, 4), "dan": (4, 4), "bea": (1, 1)}  # ties share a rank
    tied = sorted(["Ben", "Cat"], key=lambda name: ids[name.lower()])
    dan_view = stored[ids["dan"]]["data"]
    assert [(e["rank"], e["name"], e["distanceM"]) for e in dan_view["top"]] == [
        (1, tied[0], 25000.0), (1, tied[1], 25000.0), (3, "a private member", 10000.0)]
    assert dan_view["distanceM"] == 5000.0 and dan_view["week"] == "2026-W10"
    assert [e["name"] for e in stored[ids["ann"]]["data"]["top"]][2] == "you"
    assert stored[ids["dan"]]["title"] == "Weekly distance challenge 2026-W10: you placed #4"
    assert "#4 of 4 with 5.00 km" in stored[ids["dan"]]["body"]
    assert run_row["finished_at"] is not None and orjson.loads(run_row["result"])["notifications"] == 5


# --- weekly activity reports --------------------------------------------------------------------------

def test_weekly_reports_are_sent_in_email_batches_once_per_week(job_settings):
    monday = at("2026-03-09T06:00")
    week = "2026-W10"

    async def scenario(pool, redis):
        alpha = await tenant(pool, "alpha")
        emailed = [{"notification_channels": ["email", "sms"], "email": f"member{i}@example.org",
                    "phone": "+4917012345"}
                   for i in range(230)]
        await pool.executemany("INSERT INTO users (tenant_id, preferences) VALUES ($1::uuid, $2::jsonb)",
                               [(alpha, orjson.dumps(p).decode()) for p in emailed])
        star = await pool.fetchval("SELECT id::text FROM users WHERE preferences ->> 'email' = 'member7@example.org'")
        await workout(pool, alpha, star, at("2026-03-03T07:00"), 30, 5)
        await workout(pool, alpha, star, at("2026-03-05T17:00"), 60, 20, activity="ride")
        await workout(pool, alpha, star, at("2026-03-06T07:00"), 60, 50, status="rejected")
        await workout(pool, alpha, star, at("2026-03-09T07:00"), 30, 5)  # this week: next report
        active_ws = [await member(pool, alpha, {"notification_channels": ["websocket"]}) for _ in range(2)]
        for user in active_ws:
            await workout(pool, alpha, user, at("2026-03-04T07:00"), 45, 8)
        quiet_ws = await member(pool, alpha, {"notification_channels": ["websocket"]})
        sms_only = await member(pool, alpha, {"notification_channels": ["sms"], "phone": "+4917012345"})
        await workout(pool, alpha, sms_only, at("2026-03-04T07:00"), 45, 8)

        first = await jobs.weekly_activity_reports(pool, job_settings, monday)
        again = await jobs.weekly_activity_reports(pool, job_settings, monday + timedelta(days=2))
        queued = [orjson.loads(r["payload"]) for r in await pool.fetch(
            "SELECT payload::text AS payload FROM outbox WHERE type = $1", ev.NOTIFICATION_QUEUED.ce_type)]
        flow = Flow(pool, redis, job_settings, senders=False)
        dispatched = await flow.dispatch()  # the deliveries consumer, the week's events in one poll
        batches = await pool.fetch("SELECT batch_id::text AS batch_id, count(*) AS n FROM deliveries "
                                   "WHERE channel = 'email' GROUP BY batch_id")
        channels = await pool.fetch("SELECT channel, count(*) AS n FROM deliveries GROUP BY channel")
        events = await pool.fetch("SELECT id::text AS id, aggregatetype, aggregateid, payload::text AS payload "
                                  "FROM outbox WHERE type = $1 ORDER BY seq", ev.EMAIL_BATCH_READY.ce_type)
        replayed = await pool.fetchval("SELECT count(*) FROM outbox")
        flow.queued_seq = 0
        assert await flow.dispatch() == dispatched  # the same events again: no delivery, no batch more
        replayed = (replayed, await pool.fetchval("SELECT count(*) FROM outbox"),
                    await pool.fetchval("SELECT count(*) FROM deliveries"))
        reports = await notifications(pool, "report.weekly")
        next_week = await jobs.weekly_activity_reports(pool, job_settings, monday + timedelta(days=7))
        return dict(star=star, active_ws=active_ws, quiet_ws=quiet_ws, sms_only=sms_only), first, again, queued, \
            dispatched, batches, channels, events, replayed, reports, next_week

    ids, first, again, queued, dispatched, batches, channels, events, replayed, reports, next_week = run(
        job_settings, scenario)
    assert first == {"week": week, "notifications": 232, "emails": 230, "inboxOnly": 2}
    assert again is None
    # The jobs' events name the channels: reports never go by SMS (the 230 members also have SMS on).
    assert dispatched == len(queued) == 232
    assert sorted(tuple(q["channels"]) for q in queued) == [("email",)] * 230 + [("websocket",)] * 2
    # The deliveries consumer: 230 emails in batches of at most email_batch_size, one EmailBatchReady each
    # (id = batch id = the key on fitmint.email), announcing its count; no SMS.
    assert sorted(b["n"] for b in batches) == [30, 100, 100]
    assert {c["channel"]: c["n"] for c in channels} == {"email": 230}
    assert {e["id"] for e in events} == {b["batch_id"] for b in batches}
    assert all(e["aggregateid"] == e["id"] and e["aggregatetype"] == ev.EMAIL_BATCH_READY.topic for e in events)
    assert sorted(orjson.loads(e["payload"])["count"] for e in events) == [30, 100, 100]
    assert all(orjson.loads(e["payload"]) == {"batchId": e["id"], "count": orjson.loads(e["payload"])["count"],
                                              "source": "deliveries"} for e in events)
    assert replayed == (replayed[0], replayed[0], 230)
    by_user = {r["user_id"]: r for r in reports}
    assert len(reports) == 232 and set(ids["active_ws"]) <= set(by_user)
    assert ids["quiet_ws"] not in by_user and ids["sms_only"] not in by_user
    star = by_user[ids["star"]]["data"]
    assert (star["workouts"], star["distanceM"], star["activeMinutes"]) == (2, 25000.0, 90.0)
    assert star["activities"] == {"run": {"workouts": 1, "distanceM": 5000.0, "activeMinutes": 30.0},
                                  "ride": {"workouts": 1, "distanceM": 20000.0, "activeMinutes": 60.0}}
    assert (star["week"], star["from"], star["to"]) == (week, "2026-03-02", "2026-03-08")
    assert by_user[ids["star"]]["body"] == f"2 workouts, 25.00 km, 90 active minutes in {week}."
    quiet = next(r for r in reports if r["data"]["workouts"] == 0)
    assert quiet["body"].startswith("No workouts recorded in 2026-W10")
    assert next_week["week"] == "2026-W11" and next_week["emails"] == 230


# --- the scheduler ------------------------------------------------------------------------------------

def test_one_scheduler_leads_and_the_other_takes_over(job_settings):
    async def scenario(pool, redis):
        first = Scheduler(pool, job_settings, jobs=[], retry_seconds=0.2)
        second = Scheduler(pool, job_settings, jobs=[], retry_seconds=0.2)
        await first.start()
        await second.start()
        await until(lambda: first.is_leader or second.is_leader)
        await asyncio.sleep(1)  # several retries of the other one
        leaders = [first.is_leader, second.is_leader]
        leader, follower = (first, second) if first.is_leader else (second, first)
        await leader.stop()
        await until(lambda: follower.is_leader)
        after = [leader.is_leader, follower.is_leader]
        await follower.stop()
        return leaders, after

    leaders, after = run(job_settings, scenario)
    assert sorted(leaders) == [False, True]
    assert after == [False, True]


def test_leader_that_loses_its_connection_stops_scheduling(job_settings):
    async def scenario(pool, redis):
        schedulers = [Scheduler(pool, job_settings, jobs=[], retry_seconds=0.2) for _ in range(2)]
        for scheduler in schedulers:
            await scheduler.start()
        await until(lambda: any(s.is_leader for s in schedulers))
        killed = await pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
            "WHERE locktype = 'advisory' AND classid = 0 AND objid = $1 AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", SCHEDULER_LOCK)
        await until(lambda: sum(s.terms for s in schedulers) == 2, timeout=5)  # stepped down, then a new term
        await asyncio.sleep(0.5)
        leaders = sum(s.is_leader for s in schedulers)
        terms = sum(s.terms for s in schedulers)
        for scheduler in schedulers:
            await scheduler.stop()
        return killed, leaders, terms

    killed, leaders, terms = run(job_settings, scenario)
    assert killed == 1 and leaders == 1 and terms == 2


def test_only_the_leader_runs_jobs_and_weekly_jobs_catch_up(job_settings):
    calls = []

    def recorder(name):
        async def job(pool, settings, now):
            calls.append((name, now))
        return job

    weekly = CronTrigger(day_of_week="mon", hour=6, minute=0, timezone=UTC)

    async def scenario(pool, redis):
        schedulers = [Scheduler(pool, job_settings, retry_seconds=0.2, jobs=[
            ScheduledJob("every-second", recorder(f"s{i}"), CronTrigger(second="*", timezone=UTC)),
            ScheduledJob("weekly", recorder(f"w{i}"), weekly, catch_up=True)]) for i in range(2)]
        before = job_settings.now()  # the platform's clock: the leader's catch-up reads it too
        for scheduler in schedulers:
            await scheduler.start()
        await until(lambda: any(s.is_leader for s in schedulers))
        started = job_settings.now()
        await asyncio.sleep(2.5)
        leader = next(i for i, s in enumerate(schedulers) if s.is_leader)
        for scheduler in schedulers:
            await scheduler.stop()
        return leader, before, started

    leader, before, started = run(job_settings, scenario)
    names = {name for name, _ in calls}
    assert names == {f"s{leader}", f"w{leader}"}
    assert sum(name == f"s{leader}" for name, _ in calls) >= 2
    [(_, as_of)] = [call for call in calls if call[0] == f"w{leader}"]
    # As of the last Monday 06:00 before the leader took over (between `before` and `started`).
    assert as_of in {last_fire_time(weekly, before), last_fire_time(weekly, started)}
    assert as_of.weekday() == 0 and as_of.hour == 6 and started - timedelta(days=7) < as_of <= started
