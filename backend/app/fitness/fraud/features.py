"""One workout and the member's recent accepted workouts -> a vector of named features.

The same function serves the simulator's dataset (training, evaluation) and the API (scoring inside the
transaction that stores the workout), so a model always sees features computed one way. A value that
cannot be computed (no heart rate, no GPS, too little history) is NaN: the model treats it as missing.

Features, in `FEATURES` order:
- the workout alone: activity, duration, average speed and its share of the rules' speed limit for the
  activity, cadence (steps/min), steps per km, heart rate (average, peak, their spread, average per unit
  of cadence: a shaken phone counts steps while the heart rests), calories per minute, the GPS summary
  (points per minute, GPS / reported distance, peak / average speed), the local hour of the start (in the
  member's time zone, on a circle);
- against the member's own history (their last `HISTORY_SIZE` accepted workouts that started before this
  one, newest first): how many there are, the share of the same activity, days since the last one,
  workouts in the last 7 days, z-scores of speed, cadence, heart rate, steps per km and duration against
  the same activity's history, the start hour's distance from their usual hour, the share of their
  same-activity history within 10% of the speed limit ("just under the limit every day");
- replay: the smallest mean relative difference between this workout's measurements and any same-activity
  workout in the history, how many measurements of that nearest one are exactly equal, and the smallest
  largest difference on any one measurement (a replayed track copies an earlier workout onto another day,
  maybe nudging every number a little).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from backend.app.fitness.anticheat import DEFAULT_LIMITS, ActivityType, Workout

HISTORY_SIZE = 30  # accepted workouts of the member a workout is compared with
MIN_BASELINE = 3  # same-activity workouts needed before a z-score means anything
NEAR_LIMIT = 0.9  # a speed at or above this share of the activity's limit is "near the limit"

FEATURES: tuple[str, ...] = (
    "activity_code", "duration_min", "speed_kmh", "speed_to_limit", "cadence_spm", "steps_per_km",
    "avg_heart_rate", "max_heart_rate", "heart_rate_spread", "heart_rate_per_cadence", "calories_per_min",
    "gps_points_per_min", "gps_to_reported_distance", "gps_peak_to_average_speed",
    "local_hour_sin", "local_hour_cos",
    "history_count", "history_same_activity_share", "days_since_last", "workouts_last_7_days",
    "speed_z", "cadence_z", "heart_rate_z", "steps_per_km_z", "duration_z", "hour_deviation",
    "history_near_limit_share", "replay_difference", "replay_equal_fields", "replay_largest_difference",
)

_ACTIVITY_CODE = {activity: float(code) for code, activity in enumerate(ActivityType)}
_NAN = math.nan
_DAY = 86_400.0


@dataclass(frozen=True)
class Features:
    values: tuple[float, ...]  # in FEATURES order
    replay_of: str | None  # the history workout nearest to this one (when a replay comparison was possible)

    def as_dict(self) -> dict[str, float | None]:
        """Names -> values, NaN as None (JSON)."""
        return {name: (None if math.isnan(value) else value) for name, value in zip(FEATURES, self.values, strict=True)}


@lru_cache(maxsize=512)
def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _ratio(numerator: float | None, denominator: float | None) -> float:
    if numerator is None or not denominator:
        return _NAN
    return numerator / denominator


def _minutes(workout: Workout) -> float:
    return (workout.ended_at - workout.started_at).total_seconds() / 60


def _speed_kmh(workout: Workout) -> float:
    minutes = _minutes(workout)
    if workout.distance_m is None or minutes <= 0:
        return _NAN
    return workout.distance_m / 1000 / (minutes / 60)


def _cadence(workout: Workout) -> float:
    return _ratio(workout.steps, _minutes(workout)) if workout.steps else _NAN


def _steps_per_km(workout: Workout) -> float:
    if not workout.steps or not workout.distance_m:
        return _NAN
    return workout.steps / (workout.distance_m / 1000)


def _speed_to_limit(activity: ActivityType, speed: float) -> float:
    limit = DEFAULT_LIMITS.max_speed_kmh.get(activity)
    return speed / limit if limit and not math.isnan(speed) else _NAN


def _hour(moment: datetime, zone: ZoneInfo | None = None) -> float:
    local = moment.astimezone(zone) if zone is not None else moment
    return local.hour + local.minute / 60


def _z(value: float, baseline: list[float], relative_floor: float = 0.05) -> float:
    """How many spreads `value` lies from the baseline's mean; the spread is at least `relative_floor` of
    the mean (a member who runs at exactly the same pace every day has no spread to divide by)."""
    points = [b for b in baseline if not math.isnan(b)]
    if math.isnan(value) or len(points) < MIN_BASELINE:
        return _NAN
    mean = sum(points) / len(points)
    spread = math.sqrt(sum((p - mean) ** 2 for p in points) / (len(points) - 1))
    return (value - mean) / max(spread, relative_floor * abs(mean), 1e-9)


def _measurements(workout: Workout) -> np.ndarray:
    """What a replay copies: every number the member's device reported (NaN: not reported)."""
    return np.array([(workout.ended_at - workout.started_at).total_seconds(), workout.distance_m, workout.steps,
                     workout.calories, workout.avg_heart_rate, workout.max_heart_rate, workout.gps_points,
                     workout.gps_distance_m, workout.gps_max_speed_mps], dtype=np.float64)


@dataclass(frozen=True)
class Past:
    """One of the member's accepted workouts (history), with its id and what the features compare it by
    (computed once: a simulated history is compared with many workouts)."""
    id: str
    workout: Workout
    minutes: float = field(init=False)
    speed: float = field(init=False)
    cadence: float = field(init=False)
    steps_per_km: float = field(init=False)
    heart_rate: float = field(init=False)
    measurements: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        workout = self.workout
        for name, value in (("minutes", _minutes(workout)), ("speed", _speed_kmh(workout)),
                            ("cadence", _cadence(workout)), ("steps_per_km", _steps_per_km(workout)),
                            ("heart_rate", _NAN if workout.avg_heart_rate is None else float(workout.avg_heart_rate)),
                            ("measurements", _measurements(workout))):
            object.__setattr__(self, name, value)


def _hour_deviation(start: datetime, history: Sequence[Past]) -> float:
    """Hours (0-12) between the start's time of day and the circular mean of the history's (in UTC: a
    difference of times of day does not depend on the zone)."""
    if len(history) < MIN_BASELINE:
        return _NAN
    angles = [_hour(p.workout.started_at) / 24 * 2 * math.pi for p in history]
    mean = math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles))) / (2 * math.pi) * 24
    difference = abs(_hour(start) - mean) % 24
    return min(difference, 24 - difference)


def _replay(workout: Workout, same_activity: Sequence[Past]) -> tuple[float, float, float, str | None]:
    """Against the history workouts sharing at least 3 measurements with this one: the smallest mean
    relative difference, the exactly equal measurements of that nearest one, the smallest largest relative
    difference (a copy with every number nudged a little stays close on all of them; the same route on
    another day differs a lot in some), and the nearest one's id."""
    if not same_activity:
        return _NAN, _NAN, _NAN, None
    mine = _measurements(workout)
    theirs = np.stack([past.measurements for past in same_activity])
    shared = ~np.isnan(theirs) & ~np.isnan(mine)
    with np.errstate(invalid="ignore"):
        relative = np.where(shared, np.abs(theirs - mine) / np.maximum(np.maximum(np.abs(theirs), np.abs(mine)), 1e-9),
                            0.0)
    counts = shared.sum(axis=1)
    comparable = counts >= 3
    if not comparable.any():
        return _NAN, _NAN, _NAN, None
    mean = np.where(comparable, relative.sum(axis=1) / np.maximum(counts, 1), np.inf)
    nearest = int(np.argmin(mean))
    largest = np.where(comparable, relative.max(axis=1), np.inf).min()
    return (float(mean[nearest]), float((theirs[nearest] == mine).sum()), float(largest),
            same_activity[nearest].id)


def extract(workout: Workout, history: Sequence[Past], timezone: str | None = None) -> Features:
    """The features of `workout` given the member's `history` (accepted workouts that started before it,
    newest first, at most HISTORY_SIZE are used) and their time zone (IANA name; None or unknown: UTC)."""
    history = history[:HISTORY_SIZE]
    minutes = _minutes(workout)
    speed = _speed_kmh(workout)
    cadence = _cadence(workout)
    steps_per_km = _steps_per_km(workout)
    avg_hr, max_hr = workout.avg_heart_rate, workout.max_heart_rate
    local_angle = _hour(workout.started_at, _zone(timezone)) / 24 * 2 * math.pi

    same = [p for p in history if p.workout.activity == workout.activity]
    same_speeds = [p.speed for p in same]
    known_speeds = [s for s in same_speeds if not math.isnan(s)]
    near_limit = [_speed_to_limit(workout.activity, s) >= NEAR_LIMIT for s in known_speeds]
    week_ago = workout.started_at - timedelta(days=7)
    difference, equal, largest, replay_of = _replay(workout, same)

    values = (
        _ACTIVITY_CODE[workout.activity],
        minutes,
        speed,
        _speed_to_limit(workout.activity, speed),
        cadence,
        steps_per_km,
        _NAN if avg_hr is None else float(avg_hr),
        _NAN if max_hr is None else float(max_hr),
        _NAN if avg_hr is None or max_hr is None else float(max_hr - avg_hr),
        _NAN if avg_hr is None or math.isnan(cadence) else avg_hr / cadence,
        _ratio(workout.calories, minutes),
        _ratio(workout.gps_points, minutes) if workout.gps_points is not None else _NAN,
        _ratio(workout.gps_distance_m, workout.distance_m) if workout.gps_distance_m is not None else _NAN,
        (_NAN if workout.gps_max_speed_mps is None or math.isnan(speed) or speed <= 0
         else workout.gps_max_speed_mps * 3.6 / speed),
        math.sin(local_angle),
        math.cos(local_angle),
        float(len(history)),
        len(same) / len(history) if history else _NAN,
        (workout.started_at - history[0].workout.started_at).total_seconds() / _DAY if history else _NAN,
        float(sum(p.workout.started_at >= week_ago for p in history)),
        _z(speed, same_speeds),
        _z(cadence, [p.cadence for p in same]),
        _z(_NAN if avg_hr is None else float(avg_hr), [p.heart_rate for p in same]),
        _z(steps_per_km, [p.steps_per_km for p in same]),
        _z(minutes, [p.minutes for p in same], relative_floor=0.1),
        _hour_deviation(workout.started_at, history),
        sum(near_limit) / len(near_limit) if near_limit else _NAN,
        difference,
        equal,
        largest,
    )
    return Features(values, replay_of)
