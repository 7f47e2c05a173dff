"""Scoring accepted workouts in the API.

`ActiveModel` keeps the active version in memory and asks the database at most every `refresh_seconds`
whether another one was activated, so every replica scores with the same version within a minute of a
retraining, without a restart. `score_accepted` runs in the transaction that stores the workout (which
holds the member's lock): it reads the member's last accepted workouts and time zone, computes the features,
scores them and stores the verdict in `workout_reviews`; a score at or above the threshold flags the workout
for a coach's review. The workout stays accepted and rewarded either way: the model never refuses one.

Without an active model (a new stack before its first training), or with one this process cannot use (its
features are not the code's, its artifact does not load), workouts are stored unscored.
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from backend.app.fitness.anticheat import ActivityType, Workout
from backend.app.fitness.fraud import versions
from backend.app.fitness.fraud.features import HISTORY_SIZE, Features, Past, extract
from backend.app.fitness.fraud.versions import StoredModel
from fitmint.telemetry import tracer

log = logging.getLogger("fitness.fraud")


@dataclass(frozen=True)
class Verdict:
    score: float  # the model's probability that the workout is fraud
    flagged: bool  # score >= threshold: waiting for a coach's review
    model_version: int
    threshold: float


def judge(stored: StoredModel, features: Features) -> Verdict:
    score = stored.model.ensemble.probability(features.values)
    return Verdict(score, score >= stored.model.threshold, stored.version, stored.model.threshold)


def score(stored: StoredModel, workout: Workout, history: Sequence[Past], timezone: str | None) -> Verdict:
    """The verdict on one workout, without I/O (what `score_accepted` does between its queries)."""
    return judge(stored, extract(workout, history, timezone))


class ActiveModel:
    """The active model version of this process, re-checked every `refresh_seconds`."""

    def __init__(self, refresh_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._model: StoredModel | None = None
        self._checked: float | None = None

    async def current(self, executor) -> StoredModel | None:
        now = self._clock()
        if self._checked is not None and now - self._checked < self.refresh_seconds:
            return self._model
        self._checked = now
        version = await versions.active_version(executor)
        if version is None:
            self._model = None
        elif self._model is None or self._model.version != version:
            self._model = await self._load(executor, version)
        return self._model

    async def _load(self, executor, version: int) -> StoredModel | None:
        try:
            stored = await versions.load(executor, version)
            versions.check_usable(stored)
        except versions.UnusableArtifact as exc:
            log.error("anti-cheat model: %s; workouts stay unscored until a usable version is active", exc)
            return None
        log.info("anti-cheat model version %d active (threshold %.3f)", version, stored.model.threshold)
        return stored


def workout_of(row) -> Workout:
    """A stored workout (a `workouts` row) as the rules and the features take it."""
    gps = orjson.loads(row["gps"]) if row["gps"] else None
    return Workout(activity=ActivityType(row["activity"]), started_at=row["started_at"], ended_at=row["ended_at"],
                   distance_m=row["distance_m"], steps=row["steps"], calories=row["calories"],
                   avg_heart_rate=row["avg_heart_rate"], max_heart_rate=row["max_heart_rate"],
                   gps_points=gps["points"] if gps else None, gps_distance_m=gps["distance_m"] if gps else None,
                   gps_max_speed_mps=gps.get("max_speed_mps") if gps else None)


# The member's time zone and last accepted workouts before `started_at`, newest first, leaving out those a
# coach confirmed as fraud (they are no baseline of the member's own). One row with NULLs when there are none.
_HISTORY = f"""
SELECT u.preferences->>'timezone' AS timezone, h.id, h.activity, h.started_at, h.ended_at, h.distance_m, h.steps,
       h.calories, h.avg_heart_rate, h.max_heart_rate, h.gps
FROM users u LEFT JOIN LATERAL (
    SELECT w.* FROM workouts w
    WHERE w.user_id = u.id AND w.status = 'accepted' AND w.started_at < $2
      AND NOT EXISTS (SELECT 1 FROM workout_reviews r WHERE r.workout_id = w.id AND r.status = 'confirmed')
    ORDER BY w.started_at DESC LIMIT {HISTORY_SIZE}) h ON true
WHERE u.id = $1::uuid
ORDER BY h.started_at DESC
"""


async def score_accepted(connection: asyncpg.Connection, stored: StoredModel, workout: dict,
                         candidate: Workout) -> Verdict:
    """Scores the accepted `workout` (the stored row) and records the verdict, in the caller's transaction
    (a span "anti-cheat score": the history read, the features and the model)."""
    with tracer().start_as_current_span("anti-cheat score") as span:
        rows = await connection.fetch(_HISTORY, workout["user_id"], candidate.started_at)
        history = [Past.of(str(row["id"]), workout_of(row)) for row in rows if row["id"] is not None]
        features = extract(candidate, history, rows[0]["timezone"] if rows else None)
        verdict = judge(stored, features)
        span.set_attributes({"fitmint.workout.id": str(workout["id"]), "fitmint.fraud.history": len(history),
                             "fitmint.fraud.model_version": verdict.model_version,
                             "fitmint.fraud.score": float(verdict.score), "fitmint.fraud.flagged": verdict.flagged})
    await connection.execute(
        "INSERT INTO workout_reviews (workout_id, tenant_id, user_id, model_version, score, threshold, features, "
        "replay_of, status) VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, $7::jsonb, $8::uuid, $9)",
        workout["id"], workout["tenant_id"], workout["user_id"], verdict.model_version, verdict.score,
        verdict.threshold, orjson.dumps(features.as_dict()).decode(),
        features.replay_of, "pending" if verdict.flagged else None)
    return verdict
