"""Workouts: recorded through the API, which checks them against its anti-cheat rules; a refused one comes
back as FitmintApiError(422) with every reason in `reasons`."""

import math
from collections.abc import Mapping
from datetime import datetime

from fitmint_client.errors import FitmintInputError
from fitmint_client.http import Session
from fitmint_client.models import Workout

_NON_NEGATIVE = ("distance_m", "steps", "calories", "avg_heart_rate", "max_heart_rate")


class Fitness:
    def __init__(self, session: Session):
        self.session = session

    def record_workout(self, workout: Mapping, *, idempotency_key: str | None = None) -> Workout:
        """POST /fitness/workouts. `workout`: activity, started_at and ended_at (time-zone-aware datetimes or
        ISO 8601 text), and optionally distance_m, steps, calories, avg/max_heart_rate, gps."""
        body = _checked(workout)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Workout.model_validate(self.session.request("POST", "/fitness/workouts", auth=True, json=body,
                                                           headers=headers).json())

    def workout(self, workout_id: str) -> Workout:
        return Workout.model_validate(self.session.get_json(f"/fitness/workouts/{workout_id}", auth=True))


def _checked(workout: Mapping) -> dict:
    body = dict(workout)
    problems = [f"{name} is required" for name in ("activity", "started_at", "ended_at") if not body.get(name)]
    times = {}
    for name in ("started_at", "ended_at"):
        value = body.get(name)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                problems.append(f"{name} needs a time zone (e.g. datetime.now(UTC))")
            else:
                times[name] = value
                body[name] = value.isoformat()
    if len(times) == 2 and times["ended_at"] <= times["started_at"]:
        problems.append("ended_at must be after started_at")
    for name in _NON_NEGATIVE:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value < 0):
            problems.append(f"{name} must be a number of at least 0, not {value!r}")
    if problems:
        raise FitmintInputError("the workout is refused: " + "; ".join(problems))
    return body
