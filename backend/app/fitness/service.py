"""Workouts and nutrition logs in PostgreSQL. A workout is checked by the anti-cheat rules inside the
transaction that stores it, under a per-user lock, so two concurrent submissions cannot both pass the
overlap and per-day checks. Rejected workouts are stored too (status 'rejected', with the reasons). In a
tenant paying rewards by epochs, an accepted workout's reward accrues in that same transaction. An accepted
workout is then scored by the anti-cheat model (fraud/scoring.py), in the same transaction: a high score
flags it for a coach's review (`review_status` pending) and it stays accepted."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from backend.app.core.pages import decode_cursor, page
from backend.app.fitness import anticheat
from backend.app.fitness.fraud.scoring import ActiveModel, Verdict, score_accepted
from backend.app.fitness.fraud.versions import StoredModel
from backend.app.fitness.models import NutritionIn, WorkoutIn
from backend.app.rewards.modes import accrue
from fitmint import events as ev
from fitmint.outbox.append import Outgoing, append
from fitmint.resilience import POSTGRES_ERRORS

log = logging.getLogger("fitness")

WORKOUT_COLUMNS = ("id, user_id, tenant_id, activity, started_at, ended_at, distance_m, steps, calories, "
                   "avg_heart_rate, max_heart_rate, gps, status, rejections, submitted_by, created_at, "
                   "(SELECT r.status FROM workout_reviews r WHERE r.workout_id = workouts.id) AS review_status")


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different request body."""


@dataclass(frozen=True)
class Stored:
    row: dict
    replayed: bool  # an earlier submission with the same idempotency key
    verdict: Verdict | None = None  # the anti-cheat model's, on a workout accepted now (None: not scored)


def workout_dict(row: asyncpg.Record) -> dict:
    workout = dict(row)
    workout["id"], workout["user_id"], workout["tenant_id"] = str(row["id"]), str(row["user_id"]), str(row["tenant_id"])
    workout["gps"] = orjson.loads(row["gps"]) if row["gps"] else None
    workout["rejections"] = orjson.loads(row["rejections"])
    return workout


def _candidate(body: WorkoutIn) -> anticheat.Workout:
    gps = body.gps
    return anticheat.Workout(
        activity=body.activity, started_at=body.started_at, ended_at=body.ended_at, distance_m=body.distance_m,
        steps=body.steps, calories=body.calories, avg_heart_rate=body.avg_heart_rate,
        max_heart_rate=body.max_heart_rate, gps_points=gps.points if gps else None,
        gps_distance_m=gps.distance_m if gps else None, gps_max_speed_mps=gps.max_speed_mps if gps else None)


def _same_request(row: asyncpg.Record, body: WorkoutIn) -> bool:
    gps = orjson.loads(row["gps"]) if row["gps"] else None
    return (row["activity"], row["started_at"], row["ended_at"], row["distance_m"], row["steps"], row["calories"],
            row["avg_heart_rate"], row["max_heart_rate"], gps) == (
        body.activity.value, body.started_at, body.ended_at, body.distance_m, body.steps, body.calories,
        body.avg_heart_rate, body.max_heart_rate, body.gps.model_dump() if body.gps else None)


async def submit_workout(pool: asyncpg.Pool, *, tenant_id: str, user_id: str, submitted_by: str, body: WorkoutIn,
                         idempotency_key: str | None, now: datetime,
                         limits: anticheat.Limits = anticheat.DEFAULT_LIMITS,
                         fraud: ActiveModel | None = None) -> Stored:
    model = await fraud.current(pool) if fraud is not None else None
    verdict = None
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"workouts:{user_id}")
        if idempotency_key is not None:
            earlier = await connection.fetchrow(
                f"SELECT {WORKOUT_COLUMNS} FROM workouts WHERE user_id = $1::uuid AND idempotency_key = $2",
                user_id, idempotency_key)
            if earlier is not None:
                if not _same_request(earlier, body):
                    raise IdempotencyConflict("this Idempotency-Key was used for a different workout")
                return Stored(workout_dict(earlier), replayed=True)
        day_start = body.started_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        context = await connection.fetch(
            "SELECT id, activity, started_at, ended_at, steps FROM workouts WHERE user_id = $1::uuid "
            "AND status = 'accepted' AND ((started_at < $3 AND ended_at > $2) "
            "OR (started_at >= $4 AND started_at < $5))",
            user_id, body.started_at, body.ended_at, day_start, day_start + timedelta(days=1))
        accepted = [anticheat.Accepted(id=str(r["id"]), activity=anticheat.ActivityType(r["activity"]),
                                       started_at=r["started_at"], ended_at=r["ended_at"], steps=r["steps"])
                    for r in context]
        candidate = _candidate(body)
        rejections = anticheat.check(candidate, accepted, now=now, limits=limits)
        row = await connection.fetchrow(
            "INSERT INTO workouts (tenant_id, user_id, activity, started_at, ended_at, distance_m, steps, calories, "
            "avg_heart_rate, max_heart_rate, gps, status, rejections, submitted_by, idempotency_key) VALUES "
            "($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13::jsonb, $14, $15) "
            f"RETURNING {WORKOUT_COLUMNS}",
            tenant_id, user_id, body.activity.value, body.started_at, body.ended_at, body.distance_m, body.steps,
            body.calories, body.avg_heart_rate, body.max_heart_rate,
            orjson.dumps(body.gps.model_dump()).decode() if body.gps else None,
            "rejected" if rejections else "accepted",
            orjson.dumps([{"code": r.code, "reason": r.reason} for r in rejections]).decode(),
            submitted_by, idempotency_key)
        workout = workout_dict(row)
        if workout["status"] == "accepted":  # a tenant paying by epochs: its reward accrues with the workout
            await accrue(connection, workout, now)
            if model is not None:
                verdict = await _scored(connection, model, workout, candidate)
                workout["review_status"] = "pending" if verdict and verdict.flagged else None
        await append(connection, [recorded_event(workout, verdict, now)])
    return Stored(workout, replayed=False, verdict=verdict)


async def _scored(connection: asyncpg.Connection, model: StoredModel, workout: dict,
                  candidate: anticheat.Workout) -> Verdict | None:
    """The anti-cheat model's verdict, stored; None if scoring failed: the workout is then stored unscored
    rather than lost (a savepoint undoes whatever the scoring wrote)."""
    try:
        async with connection.transaction():
            return await score_accepted(connection, model, workout, candidate)
    except POSTGRES_ERRORS:
        raise  # the database is unreachable: the workout cannot be stored either (503)
    except Exception:  # a scoring bug must not refuse a workout
        log.exception("workout %s: anti-cheat scoring failed; stored unscored", workout["id"])
        return None


def recorded_event(workout: dict, verdict: Verdict | None, now: datetime) -> Outgoing:
    """The WorkoutRecorded event of a stored workout (the analytics' record of it), with the anti-cheat
    model's verdict if it scored the workout."""
    payload = ev.WorkoutRecorded(
        workout_id=workout["id"], user_id=workout["user_id"], tenant_id=workout["tenant_id"],
        activity=workout["activity"], started_at=workout["started_at"], ended_at=workout["ended_at"],
        status=workout["status"], rejections=[r["code"] for r in workout["rejections"]],
        distance_m=workout["distance_m"], steps=workout["steps"], avg_heart_rate=workout["avg_heart_rate"],
        flagged=verdict is not None and verdict.flagged,
        fraud_score=None if verdict is None else round(verdict.score, 4))
    return Outgoing(ev.workout_recorded_id(workout["id"]), ev.WORKOUT_RECORDED, payload, now)


async def get_workout(pool: asyncpg.Pool, workout_id: str) -> dict | None:
    row = await pool.fetchrow(f"SELECT {WORKOUT_COLUMNS} FROM workouts WHERE id = $1::uuid", workout_id)
    return workout_dict(row) if row else None


async def list_workouts(pool: asyncpg.Pool, *, tenant_id: str, user_id: str | None, status: str | None,
                        limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    before, before_id = decode_cursor(cursor)
    rows = await pool.fetch(
        f"SELECT {WORKOUT_COLUMNS} FROM workouts WHERE tenant_id = $1::uuid "
        "AND ($2::uuid IS NULL OR user_id = $2::uuid) "
        "AND ($3::text IS NULL OR status = $3) AND (started_at, id) < ($4, $5::uuid) "
        "ORDER BY started_at DESC, id DESC LIMIT $6",
        tenant_id, user_id, status, before, before_id, limit + 1)
    return page(rows, limit, "started_at", "id", workout_dict)


async def add_nutrition(pool: asyncpg.Pool, *, tenant_id: str, user_id: str, body: NutritionIn,
                        idempotency_key: str | None) -> Stored:
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            "INSERT INTO nutrition_logs (tenant_id, user_id, eaten_at, meal, calories, protein_g, carbs_g, fat_g, "
            "note, idempotency_key) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING *",
            tenant_id, user_id, body.eaten_at, body.meal, body.calories, body.protein_g, body.carbs_g, body.fat_g,
            body.note, idempotency_key)
        if row is not None:
            return Stored(_nutrition(row), replayed=False)
        earlier = await connection.fetchrow(
            "SELECT * FROM nutrition_logs WHERE user_id = $1::uuid AND idempotency_key = $2", user_id, idempotency_key)
        stored = _nutrition(earlier)
        if {k: stored[k] for k in body.model_dump()} != body.model_dump():
            raise IdempotencyConflict("this Idempotency-Key was used for a different nutrition log")
        return Stored(stored, replayed=True)


def _nutrition(row: asyncpg.Record) -> dict:
    entry = dict(row)
    entry["id"], entry["user_id"] = str(row["id"]), str(row["user_id"])
    return entry


async def list_nutrition(pool: asyncpg.Pool, *, tenant_id: str, user_id: str, limit: int,
                         cursor: str | None) -> tuple[list[dict], str | None]:
    before, before_id = decode_cursor(cursor)
    rows = await pool.fetch(
        "SELECT * FROM nutrition_logs WHERE tenant_id = $1::uuid AND user_id = $2::uuid "
        "AND (eaten_at, id) < ($3, $4::uuid) "
        "ORDER BY eaten_at DESC, id DESC LIMIT $5", tenant_id, user_id, before, before_id, limit + 1)
    return page(rows, limit, "eaten_at", "id", _nutrition)
