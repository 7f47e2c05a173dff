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
- against the member's own history (their last `BASELINE_SIZE` accepted workouts that started before this
  one, newest first): how many there are, the share of the same activity, days since the last one,
  workouts in the last 7 days (these four as fitmint/memberhistory.py defines them, for the feature store
  too), z-scores of speed, cadence, heart rate, steps per km and duration against the same activity's
  history, the start hour's distance from their usual hour, the share of their same-activity history
  within 10% of the speed limit ("just under the limit every day");
- replay: the smallest mean relative difference between this workout's measurements and any same-activity
  workout among the member's last `HISTORY_SIZE` (a longer look back: a replay may copy an older one), how
  many measurements of that nearest one are exactly equal, and the smallest largest difference on any one
  measurement (a replayed track copies an earlier workout onto another day, maybe nudging every number a
  little).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from backend.app.fitness.anticheat import DEFAULT_LIMITS, ActivityType, Workout
from fitmint.memberhistory import MemberHistory, Session

HISTORY_SIZE = 60  # the member's accepted workouts a workout is compared with for replays
BASELINE_SIZE = 30  # of which the newest make their baseline (z-scores, usual hour, habits)
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


def _measurements(workout: Workout) -> tuple[float, ...]:
    """What a replay copies: every number the member's device reported (NaN: not reported). Written out:
    it runs for each of a member's last workouts at every scoring."""
    w, nan = workout, _NAN
    return ((w.ended_at - w.started_at).total_seconds(),
            nan if w.distance_m is None else float(w.distance_m), nan if w.steps is None else float(w.steps),
            nan if w.calories is None else float(w.calories),
            nan if w.avg_heart_rate is None else float(w.avg_heart_rate),
            nan if w.max_heart_rate is None else float(w.max_heart_rate),
            nan if w.gps_points is None else float(w.gps_points),
            nan if w.gps_distance_m is None else float(w.gps_distance_m),
            nan if w.gps_max_speed_mps is None else float(w.gps_max_speed_mps))


# Columns of the measurements.
_SECONDS, _DISTANCE, _STEPS, _CALORIES, _AVG_HR, _MAX_HR, _GPS_POINTS, _GPS_DISTANCE, _GPS_PEAK = range(9)


def _utc_hour(moment: datetime) -> float:
    return (moment.timestamp() % _DAY) / 3600


class Past(NamedTuple):
    """One of the member's accepted workouts (history): its id and what the features compare it by."""
    id: str
    activity: ActivityType
    start: float  # unix time
    measurements: tuple[float, ...]

    @classmethod
    def of(cls, id: str, workout: Workout) -> "Past":
        return cls(id, workout.activity, workout.started_at.timestamp(), _measurements(workout))


def _per(numerator: np.ndarray, denominator: np.ndarray, where: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(len(numerator), np.nan), where=where)


def _derived(m: np.ndarray) -> dict[str, np.ndarray]:
    """Per workout (rows of measurements): minutes, speed, cadence, steps per km (NaN where undefined)."""
    minutes = m[:, _SECONDS] / 60
    steps, distance = m[:, _STEPS], m[:, _DISTANCE]
    timed, counted = minutes > 0, steps > 0  # no steps (None or 0): no cadence
    return {"minutes": minutes, "speed": _per(distance * 0.06, minutes, timed),
            "cadence": _per(steps, minutes, counted & timed),
            "steps_per_km": _per(steps * 1000, distance, counted & (distance > 0))}


def _z(value: float, baseline: np.ndarray, relative_floor: float = 0.05) -> float:
    """How many spreads `value` lies from the baseline's mean; the spread is at least `relative_floor` of
    the mean (a member who runs at exactly the same pace every day has no spread to divide by). Plain Python:
    on a few dozen numbers it is faster than numpy's reductions."""
    points = [b for b in baseline.tolist() if b == b]  # NaN != NaN
    if value != value or len(points) < MIN_BASELINE:
        return _NAN
    mean = sum(points) / len(points)
    spread = math.sqrt(sum((p - mean) ** 2 for p in points) / (len(points) - 1))
    return (value - mean) / max(spread, relative_floor * abs(mean), 1e-9)


def _hour_deviation(hour: float, history: Sequence[Past]) -> float:
    """Hours (0-12) between the start's time of day and the circular mean of the history's (in UTC: a
    difference of times of day does not depend on the zone)."""
    if len(history) < MIN_BASELINE:
        return _NAN
    angles = [p.start % _DAY / _DAY * 2 * math.pi for p in history]
    mean = math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles))) / (2 * math.pi) * 24
    difference = abs(hour - mean) % 24
    return min(difference, 24 - difference)


def _replay(mine: np.ndarray, theirs: np.ndarray, ids: list[str]) -> tuple[float, float, float, str | None]:
    """Against the history workouts (rows of `theirs`) sharing at least 3 measurements with this one: the
    smallest mean relative difference, the exactly equal measurements of that nearest one, the smallest
    largest relative difference (a copy with every number nudged a little stays close on all of them; the
    same route on another day differs a lot in some), and the nearest one's id."""
    if not ids:
        return _NAN, _NAN, _NAN, None
    shared = ~np.isnan(theirs) & ~np.isnan(mine)
    scale = np.maximum(np.maximum(np.abs(theirs), np.abs(mine)), 1e-9)  # NaN where not shared
    relative = np.where(shared, np.abs(theirs - mine) / scale, 0.0)
    counts = shared.sum(axis=1)
    comparable = counts >= 3
    if not comparable.any():
        return _NAN, _NAN, _NAN, None
    mean = np.where(comparable, relative.sum(axis=1) / np.maximum(counts, 1), np.inf)
    nearest = int(np.argmin(mean))
    largest = float(np.where(comparable, relative.max(axis=1), np.inf).min())
    return float(mean[nearest]), float((theirs[nearest] == mine).sum()), largest, ids[nearest]


def _speed_to_limit(activity: ActivityType, speed: float) -> float:
    limit = DEFAULT_LIMITS.max_speed_kmh.get(activity)
    return speed / limit if limit else _NAN


def _member(history: Sequence[Past]) -> MemberHistory:
    """The baseline as a MemberHistory: the same definitions of "recent workouts", "share of an activity",
    "days since the last" and "workouts in the last 7 days" as the feature store's member features."""
    return MemberHistory.from_sessions("", (Session(p.start, p.activity.value, _zero(p.measurements[_DISTANCE]),
                                                    p.measurements[_SECONDS]) for p in history),
                                       keep=BASELINE_SIZE)


def _zero(value: float) -> float:
    return 0.0 if value != value else value  # NaN (not reported): 0, as the feature store stores it


def _or_nan(value: float | None) -> float:
    return _NAN if value is None else value


def extract(workout: Workout, history: Sequence[Past], timezone: str | None = None) -> Features:
    """The features of `workout` given the member's `history` (accepted workouts that started before it,
    newest first, at most HISTORY_SIZE are used) and their time zone (IANA name; None or unknown: UTC)."""
    lookback = [p for p in history[:HISTORY_SIZE] if p.activity == workout.activity]
    history = history[:BASELINE_SIZE]
    mine = np.array(_measurements(workout), dtype=np.float64)
    seconds, distance, steps, calories, avg_hr, max_hr, gps_points, gps_distance, gps_peak = mine.tolist()
    minutes = seconds / 60
    speed = distance / 1000 / (minutes / 60) if minutes > 0 else _NAN
    cadence = steps / minutes if steps > 0 and minutes > 0 else _NAN
    steps_per_km = steps / (distance / 1000) if steps > 0 and distance > 0 else _NAN
    local = workout.started_at.astimezone(_zone(timezone))
    local_angle = (local.hour + local.minute / 60) / 24 * 2 * math.pi

    same = [p for p in history if p.activity == workout.activity]
    member = _member(history)  # the member-level features: fitmint/memberhistory.py's definitions
    earlier = np.array([p.measurements for p in lookback], dtype=np.float64).reshape(len(lookback), len(mine))
    theirs = earlier[:len(same)]  # the baseline's are the newest of the look back's
    past = _derived(theirs)
    known = past["speed"][~np.isnan(past["speed"])]
    start = workout.started_at.timestamp()
    difference, equal, largest, replay_of = _replay(mine, earlier, [p.id for p in lookback])

    values = (
        _ACTIVITY_CODE[workout.activity],
        minutes,
        speed,
        _speed_to_limit(workout.activity, speed),
        cadence,
        steps_per_km,
        avg_hr,
        max_hr,
        max_hr - avg_hr,
        avg_hr / cadence,
        calories / minutes if minutes > 0 else _NAN,
        gps_points / minutes if minutes > 0 else _NAN,
        gps_distance / distance if distance > 0 else _NAN,
        gps_peak * 3.6 / speed if speed > 0 else _NAN,
        math.sin(local_angle),
        math.cos(local_angle),
        float(len(member.sessions)),
        member.activity_mix().get(workout.activity.value, 0.0) if member.sessions else _NAN,
        _or_nan(member.days_since_last(start)),
        float(len(member.workouts_within(start, 7))),
        _z(speed, past["speed"]),
        _z(cadence, past["cadence"]),
        _z(avg_hr, theirs[:, _AVG_HR]),
        _z(steps_per_km, past["steps_per_km"]),
        _z(minutes, past["minutes"], relative_floor=0.1),
        _hour_deviation(_utc_hour(workout.started_at), history),
        float((known / DEFAULT_LIMITS.max_speed_kmh[workout.activity] >= NEAR_LIMIT).mean())
        if len(known) and workout.activity in DEFAULT_LIMITS.max_speed_kmh else _NAN,
        difference,
        equal,
        largest,
    )
    return Features(tuple(float(v) for v in values), replay_of)
