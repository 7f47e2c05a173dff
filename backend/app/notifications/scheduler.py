"""Runs the scheduled jobs, the notifications', the reward epochs' closing and the anti-cheat model's
retraining (APScheduler 3, AsyncIOScheduler, cron triggers in UTC) in one replica at a time.

Leadership is a PostgreSQL session advisory lock held on a dedicated connection: every replica tries
`pg_try_advisory_lock` every `retry_seconds`; the one that gets it starts the cron schedule, the others
wait. The leader checks its connection every `retry_seconds` (and asyncpg reports a closed connection at
once); when the connection is lost the server has released the lock, so the leader stops scheduling and
cancels its running jobs (each job is one transaction: a cancelled one leaves nothing) before trying to
get the lock again. The jobs stay idempotent on their own (deterministic source events, job_runs), so
the short overlap a network partition allows cannot send anything twice.

Schedule: reminders and the reward epochs' closing every minute (the reminders' 10-minute window absorbs
a late or missed minute; a closing finds what is due itself); the weekly jobs on Monday 06:00 UTC (the
week ended at 00:00; six hours for late uploads), the tenant admins' analytics report every hour of
Monday from then (a week already sent is a no-op). On becoming leader, each weekly job also runs once as
of its last scheduled time, so a week missed while no replica was leader is caught up (and an already
sent week is a no-op).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import StatusCode

from backend.app.analytics.weekly_report import weekly_analytics_reports
from backend.app.core.config import Settings
from backend.app.core.db import dsn
from backend.app.fitness.fraud import training
from backend.app.notifications import jobs
from backend.app.rewards import epochs
from fitmint.telemetry import tracer

log = logging.getLogger("notifications.scheduler")

SCHEDULER_LOCK = 0x666D736A  # pg_advisory_lock key: "the notifications scheduler" (the relay's is 0x666D7265)

JobFunction = Callable[..., Awaitable]  # (pool, settings, now) -> anything


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    function: JobFunction
    trigger: BaseTrigger
    catch_up: bool = False  # run once on becoming leader, as of the last scheduled time


def default_jobs() -> list[ScheduledJob]:
    weekly = CronTrigger(day_of_week="mon", hour=6, minute=0, timezone=UTC)
    return [
        ScheduledJob("daily_reminders", jobs.daily_reminders, CronTrigger(minute="*", timezone=UTC)),
        ScheduledJob("weekly_challenge_results", jobs.weekly_challenge_results, weekly, catch_up=True),
        ScheduledJob("weekly_activity_reports", jobs.weekly_activity_reports, weekly, catch_up=True),
        # Reads the analytics store too: hourly through Monday, so a store down at 06:00 delays the week only.
        ScheduledJob("weekly_analytics_reports", weekly_analytics_reports,
                     CronTrigger(day_of_week="mon", hour="6-23", minute=0, timezone=UTC), catch_up=True),
        # Closes ended reward epochs and follows their roots (rewards/epochs.py): idempotent, so every minute.
        ScheduledJob("close_reward_epochs", epochs.close_epochs, CronTrigger(minute="*", timezone=UTC)),
        # A new anti-cheat model version a week (activated unless worse); the catch-up trains one at once on a
        # stack that has no usable version (fitness/fraud/training.py).
        ScheduledJob(training.JOB, training.weekly_retrain, weekly, catch_up=True),
    ]


def last_fire_time(trigger: BaseTrigger, now: datetime, horizon: timedelta = timedelta(days=8)) -> datetime | None:
    """The trigger's latest fire time at or before `now` (within `horizon`; meant for sparse triggers)."""
    fire, last = trigger.get_next_fire_time(None, now - horizon), None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return last


class Scheduler:
    """`await scheduler.start()` ... `await scheduler.stop()`; `is_leader` says whether this one runs jobs."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, *, jobs: list[ScheduledJob] | None = None,
                 lock_key: int = SCHEDULER_LOCK, retry_seconds: float = 5.0):
        self.pool = pool
        self.settings = settings
        self.jobs = default_jobs() if jobs is None else jobs
        self.lock_key = lock_key
        self.retry_seconds = retry_seconds
        self._connection: asyncpg.Connection | None = None
        self._aps: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task] = set()
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.terms = 0  # how many times this instance became leader

    @property
    def is_leader(self) -> bool:
        return self._aps is not None

    async def start(self) -> None:
        if not self.settings.scheduler_enabled:
            log.info("scheduler disabled (SCHEDULER_ENABLED=false): this process runs no scheduled jobs")
            return
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._elect(), name="scheduler-election")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        self._step_down("stopping")
        await self._close(unlock=True)

    # --- leadership -----------------------------------------------------------------------------------

    async def _elect(self) -> None:
        while not self._stop.is_set():
            try:
                if self._connection is None or self._connection.is_closed():
                    self._connection = await asyncpg.connect(dsn(self.settings, self.settings.backend_database),
                                                             timeout=self.retry_seconds + 5)
                    self._connection.add_termination_listener(self._terminated)
                    self._lost.clear()
                if not self.is_leader:
                    if await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key,
                                                       timeout=self.retry_seconds + 5):
                        self._lead()
                else:  # still holding it? a dead connection no longer holds the lock
                    await self._connection.fetchval("SELECT 1", timeout=self.retry_seconds + 5)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._step_down(f"lock connection failed: {exc!r}")
                await self._close(unlock=False)
            await self._pause()

    async def _pause(self) -> None:
        stop, lost = asyncio.create_task(self._stop.wait()), asyncio.create_task(self._lost.wait())
        try:
            await asyncio.wait({stop, lost}, timeout=self.retry_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            lost.cancel()
        if self._lost.is_set():
            self._lost.clear()
            self._step_down("lock connection closed")
            await self._close(unlock=False)

    def _terminated(self, connection) -> None:
        self._lost.set()

    def _lead(self) -> None:
        aps = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                           "misfire_grace_time": 300})
        now = self.settings.now()  # the platform's clock: what the catch-up is as of
        for job in self.jobs:
            aps.add_job(self._runner(job), trigger=job.trigger, id=job.name, name=job.name)
            if job.catch_up:
                as_of = last_fire_time(job.trigger, now)
                if as_of is not None:  # run at once (APScheduler's own clock is the wall clock)
                    aps.add_job(self._runner(job, as_of), trigger="date", run_date=datetime.now(UTC),
                                id=f"{job.name}:catch-up", name=f"{job.name} (catch-up as of {as_of.isoformat()})")
        aps.start()
        self._aps = aps
        self.terms += 1
        log.info("scheduler: leader (advisory lock %#x); jobs %s", self.lock_key, ", ".join(j.name for j in self.jobs))

    def _step_down(self, reason: str) -> None:
        aps, self._aps = self._aps, None
        if aps is None:
            return
        log.warning("scheduler: no longer leader (%s); jobs stopped", reason)
        try:
            aps.shutdown(wait=False)
        except Exception:  # noqa: BLE001 - already stopped
            pass
        for task in list(self._running):
            task.cancel()

    async def _close(self, *, unlock: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        connection.remove_termination_listener(self._terminated)
        try:
            if unlock:
                await connection.execute("SELECT pg_advisory_unlock_all()")
            await connection.close(timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            connection.terminate()

    # --- jobs -----------------------------------------------------------------------------------------

    def _runner(self, job: ScheduledJob, as_of: datetime | None = None):
        async def run() -> None:
            if not self.is_leader:
                return
            task = asyncio.current_task()
            self._running.add(task)
            now = as_of or self.settings.now()
            # Each run is a trace of its own (what it stores and notifies continues it).
            span = tracer().start_span(f"job {job.name}", context=Context(), attributes={
                "fitmint.job.name": job.name, "fitmint.job.as_of": now.isoformat()})
            with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
                try:
                    result = await job.function(self.pool, self.settings, now)
                    if result:
                        span.set_attribute("fitmint.job.result", str(result))
                        log.info("job %s as of %s: %s", job.name, now.isoformat(), result)
                except asyncio.CancelledError:
                    span.set_status(StatusCode.ERROR, "cancelled: leadership lost")
                    log.warning("job %s as of %s cancelled (leadership lost); its transaction rolled back",
                                job.name, now.isoformat())
                except Exception as exc:  # logged; the next run (idempotent) tries again
                    span.record_exception(exc)
                    span.set_status(StatusCode.ERROR, repr(exc))
                    log.exception("job %s as of %s failed", job.name, now.isoformat())
                finally:
                    self._running.discard(task)

        run.__name__ = job.name
        return run
