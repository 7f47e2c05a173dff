"""Anti-cheat: is a submitted workout physically plausible, before anything is rewarded?

Pure rules, no I/O: `check(workout, accepted, now=...)` returns every `Rejection` the workout earns
(an empty list means plausible). Each rule is a small function in `RULES`; the caller turns a non-empty
list into a 422 carrying the reasons and keeps the entry for review.

`accepted` is the user's already-accepted workouts that overlap the workout's time span or share one of
its UTC days. Per-day caps apply to the workout's UTC start day and count a workout's whole duration,
steps and itself on the day it starts.

All datetimes must be timezone-aware (a naive one is a programmer error: ValueError).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType


class ActivityType(StrEnum):
    RUN = "run"
    WALK = "walk"
    HIKE = "hike"
    CYCLE = "cycle"
    SWIM = "swim"
    ROW = "row"
    STRENGTH = "strength"
    YOGA = "yoga"


# Activities where a distance means nothing (a reported distance is refused).
NON_DISTANCE_ACTIVITIES = frozenset({ActivityType.STRENGTH, ActivityType.YOGA})

_NOUN = {
    ActivityType.RUN: "a run",
    ActivityType.WALK: "a walk",
    ActivityType.HIKE: "a hike",
    ActivityType.CYCLE: "a bike ride",
    ActivityType.SWIM: "a swim",
    ActivityType.ROW: "a row",
    ActivityType.STRENGTH: "a strength workout",
    ActivityType.YOGA: "a yoga session",
}


@dataclass(frozen=True)
class Workout:
    """What the user submitted, already shape-validated (types, ranges); times tz-aware UTC."""
    activity: ActivityType
    started_at: datetime
    ended_at: datetime
    distance_m: float | None = None
    steps: int | None = None
    calories: float | None = None
    avg_heart_rate: int | None = None
    max_heart_rate: int | None = None
    gps_points: int | None = None  # optional GPS track summary
    gps_distance_m: float | None = None
    gps_max_speed_mps: float | None = None


@dataclass(frozen=True)
class Accepted:
    """An already-accepted workout of the same user (context from the DB)."""
    id: str
    activity: ActivityType
    started_at: datetime
    ended_at: datetime
    steps: int | None


@dataclass(frozen=True)
class Rejection:
    code: str  # stable machine code
    reason: str  # one human sentence with the numbers


def _frozen(mapping: Mapping) -> Callable[[], Mapping]:
    return lambda: MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Limits:
    """The product's plausibility policy; every bound is inclusive (a value equal to a limit passes)."""

    # Average speed over the whole workout, per distance activity (types missing here are not checked).
    max_speed_kmh: Mapping[ActivityType, float] = field(default_factory=_frozen({
        ActivityType.RUN: 25.0,
        ActivityType.WALK: 9.0,
        ActivityType.HIKE: 10.0,
        ActivityType.CYCLE: 75.0,
        ActivityType.SWIM: 7.0,
        ActivityType.ROW: 20.0,
    }))
    # Metres per step (distance / steps) for step-counted activities; steps elsewhere are not compared
    # with the distance.
    stride_m: Mapping[ActivityType, tuple[float, float]] = field(default_factory=_frozen({
        ActivityType.WALK: (0.3, 1.2),
        ActivityType.HIKE: (0.25, 1.2),
        ActivityType.RUN: (0.5, 2.5),
    }))
    max_cadence_spm: float = 260.0  # steps per minute averaged over the workout, any activity
    min_avg_heart_rate: int = 30
    max_avg_heart_rate: int = 230
    max_max_heart_rate: int = 250
    max_calories_per_min: float = 25.0
    min_duration: timedelta = timedelta(seconds=60)
    max_duration: timedelta = timedelta(hours=24)
    future_tolerance: timedelta = timedelta(minutes=5)  # device clocks run ahead of the server's
    # GPS summary: allowed |gps - reported| distance = tolerance x reported + slack (fix error at both ends).
    gps_distance_tolerance: float = 0.25
    gps_distance_slack_m: float = 50.0
    gps_max_speed_factor: float = 2.0  # peak GPS speed <= factor x the type's max average speed
    # Per UTC day (the workout's start day), accepted workouts plus this one.
    max_steps_per_day: int = 100_000
    max_active_minutes_per_day: float = 16 * 60
    max_workouts_per_day: int = 20


DEFAULT_LIMITS = Limits()

Rule = Callable[[Workout, Sequence[Accepted], datetime, Limits], Iterable[Rejection]]


# --- helpers ---

def _num(value: float, decimals: int = 1) -> str:
    """12.0 -> '12', 41.23 -> '41.2', 100000 -> '100,000'."""
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _duration(delta: timedelta) -> str:
    seconds = round(delta.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours} h {minutes} min" if not secs else f"{sign}{hours} h {minutes} min {secs} s"
    if minutes:
        return f"{sign}{minutes} min" if not secs else f"{sign}{minutes} min {secs} s"
    return f"{sign}{secs} s"


def _seconds(workout: Workout | Accepted) -> float:
    return (workout.ended_at - workout.started_at).total_seconds()


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")


def _overlaps(a: Workout | Accepted, b: Workout | Accepted) -> bool:
    return a.started_at < b.ended_at and b.started_at < a.ended_at


def _is_duplicate(workout: Workout, other: Accepted) -> bool:
    return (other.activity == workout.activity and other.started_at == workout.started_at
            and other.ended_at == workout.ended_at)


# --- rules: each returns the rejections it finds ---

def time_sanity(workout: Workout, accepted: Sequence[Accepted], now: datetime, limits: Limits) -> list[Rejection]:
    out = []
    duration = workout.ended_at - workout.started_at
    if duration <= timedelta(0):
        out.append(Rejection("ends_before_start",
                             f"the workout ends ({workout.ended_at.isoformat()}) before or when it starts "
                             f"({workout.started_at.isoformat()})"))
    elif duration < limits.min_duration:
        out.append(Rejection("too_short", f"duration {_duration(duration)} is shorter than the minimum of "
                                          f"{_duration(limits.min_duration)}"))
    elif duration > limits.max_duration:
        out.append(Rejection("too_long", f"duration {_duration(duration)} is longer than the maximum of "
                                         f"{_duration(limits.max_duration)}"))
    latest = max(workout.started_at, workout.ended_at)
    if latest > now + limits.future_tolerance:
        out.append(Rejection("in_future", f"the workout ends {_duration(latest - now)} in the future "
                                          f"(tolerance {_duration(limits.future_tolerance)})"))
    return out


def distance_and_speed(workout: Workout, accepted: Sequence[Accepted], now: datetime,
                       limits: Limits) -> list[Rejection]:
    if workout.distance_m is None:
        return []
    if workout.activity in NON_DISTANCE_ACTIVITIES:
        if workout.distance_m > 0:
            return [Rejection("distance_not_applicable",
                              f"a distance of {_num(workout.distance_m)} m makes no sense for "
                              f"{_NOUN[workout.activity]}")]
        return []
    seconds = _seconds(workout)
    max_kmh = limits.max_speed_kmh.get(workout.activity)
    if seconds <= 0 or max_kmh is None:
        return []
    kmh = (workout.distance_m / 1000) / (seconds / 3600)
    if kmh > max_kmh:
        return [Rejection("too_fast", f"average speed {_num(kmh)} km/h is implausible for "
                                      f"{_NOUN[workout.activity]} (max {_num(max_kmh)} km/h)")]
    return []


def steps_consistency(workout: Workout, accepted: Sequence[Accepted], now: datetime,
                      limits: Limits) -> list[Rejection]:
    if workout.steps is None:
        return []
    out = []
    stride_range = limits.stride_m.get(workout.activity)
    if stride_range is not None and workout.distance_m is not None and (workout.steps or workout.distance_m):
        low, high = stride_range
        noun = _NOUN[workout.activity]
        if workout.steps == 0:
            out.append(Rejection("steps_distance_mismatch",
                                 f"{_num(workout.distance_m)} m with 0 steps is implausible for {noun}"))
        else:
            stride = workout.distance_m / workout.steps
            if not low <= stride <= high:
                out.append(Rejection("steps_distance_mismatch",
                                     f"{_num(workout.distance_m)} m over {workout.steps:,} steps is "
                                     f"{_num(stride, 2)} m per step, implausible for {noun} "
                                     f"(expected {_num(low, 2)}-{_num(high, 2)} m)"))
    seconds = _seconds(workout)
    if seconds > 0:
        cadence = workout.steps / (seconds / 60)
        if cadence > limits.max_cadence_spm:
            out.append(Rejection("cadence_too_high",
                                 f"{workout.steps:,} steps in {_duration(timedelta(seconds=seconds))} is "
                                 f"{_num(cadence)} steps/min (max {_num(limits.max_cadence_spm)})"))
    return out


def heart_rate(workout: Workout, accepted: Sequence[Accepted], now: datetime, limits: Limits) -> list[Rejection]:
    out = []
    avg, peak = workout.avg_heart_rate, workout.max_heart_rate
    if avg is not None and not limits.min_avg_heart_rate <= avg <= limits.max_avg_heart_rate:
        out.append(Rejection("heart_rate_out_of_range",
                             f"average heart rate {avg} bpm is outside "
                             f"{limits.min_avg_heart_rate}-{limits.max_avg_heart_rate} bpm"))
    if peak is not None and not limits.min_avg_heart_rate <= peak <= limits.max_max_heart_rate:
        out.append(Rejection("max_heart_rate_out_of_range",
                             f"maximum heart rate {peak} bpm is outside "
                             f"{limits.min_avg_heart_rate}-{limits.max_max_heart_rate} bpm"))
    if avg is not None and peak is not None and peak < avg:
        out.append(Rejection("max_heart_rate_below_average",
                             f"maximum heart rate {peak} bpm is below the average of {avg} bpm"))
    return out


def calories(workout: Workout, accepted: Sequence[Accepted], now: datetime, limits: Limits) -> list[Rejection]:
    seconds = _seconds(workout)
    if workout.calories is None or seconds <= 0:
        return []
    per_min = workout.calories / (seconds / 60)
    if per_min > limits.max_calories_per_min:
        return [Rejection("too_many_calories",
                          f"{_num(workout.calories)} kcal in {_duration(timedelta(seconds=seconds))} is "
                          f"{_num(per_min)} kcal/min (max {_num(limits.max_calories_per_min)})")]
    return []


def gps_consistency(workout: Workout, accepted: Sequence[Accepted], now: datetime,
                    limits: Limits) -> list[Rejection]:
    out = []
    gps_m, reported_m = workout.gps_distance_m, workout.distance_m
    if gps_m is not None and workout.gps_points is not None and gps_m > 0 and workout.gps_points < 2:
        out.append(Rejection("gps_track_too_sparse",
                             f"a GPS distance of {_num(gps_m)} m needs at least 2 points, "
                             f"the track has {workout.gps_points}"))
    if gps_m is not None and reported_m is not None:
        allowed = limits.gps_distance_tolerance * reported_m + limits.gps_distance_slack_m
        if abs(gps_m - reported_m) > allowed:
            out.append(Rejection("gps_distance_mismatch",
                                 f"reported distance {_num(reported_m)} m differs from the GPS track's "
                                 f"{_num(gps_m)} m by more than {_num(allowed)} m"))
    max_kmh = limits.max_speed_kmh.get(workout.activity)
    if workout.gps_max_speed_mps is not None and max_kmh is not None:
        peak_kmh = workout.gps_max_speed_mps * 3.6
        allowed_kmh = limits.gps_max_speed_factor * max_kmh
        if peak_kmh > allowed_kmh:
            out.append(Rejection("gps_too_fast",
                                 f"GPS top speed {_num(peak_kmh)} km/h is implausible for "
                                 f"{_NOUN[workout.activity]} (max {_num(allowed_kmh)} km/h)"))
    return out


def duplicates_and_overlaps(workout: Workout, accepted: Sequence[Accepted], now: datetime,
                            limits: Limits) -> list[Rejection]:
    out = []
    for other in accepted:
        if _is_duplicate(workout, other):
            out.append(Rejection("duplicate", f"an identical {workout.activity} workout from "
                                              f"{workout.started_at.isoformat()} to {workout.ended_at.isoformat()} "
                                              f"was already accepted as {other.id}"))
        elif _overlaps(workout, other):
            out.append(Rejection("overlap", f"the workout overlaps accepted workout {other.id} "
                                            f"({other.activity}, {other.started_at.isoformat()} to "
                                            f"{other.ended_at.isoformat()})"))
    return out


def daily_caps(workout: Workout, accepted: Sequence[Accepted], now: datetime, limits: Limits) -> list[Rejection]:
    out = []
    day = _utc_day(workout.started_at)
    same_day = [a for a in accepted if _utc_day(a.started_at) == day]
    if workout.steps:
        steps = workout.steps + sum(a.steps or 0 for a in same_day)
        if steps > limits.max_steps_per_day:
            out.append(Rejection("daily_steps_cap", f"steps on {day} (UTC) would total {steps:,}, over the daily "
                                                    f"cap of {limits.max_steps_per_day:,}"))
    minutes = (max(0.0, _seconds(workout)) + sum(max(0.0, _seconds(a)) for a in same_day)) / 60
    if minutes > limits.max_active_minutes_per_day:
        out.append(Rejection("daily_active_minutes_cap",
                             f"active time on {day} (UTC) would total {_num(minutes)} min, over the daily cap of "
                             f"{_num(limits.max_active_minutes_per_day)} min"))
    count = len(same_day) + 1
    if count > limits.max_workouts_per_day:
        out.append(Rejection("daily_workouts_cap", f"this would be workout number {count} on {day} (UTC), over the "
                                                   f"daily cap of {limits.max_workouts_per_day}"))
    return out


RULES: tuple[Rule, ...] = (
    time_sanity,
    distance_and_speed,
    steps_consistency,
    heart_rate,
    calories,
    gps_consistency,
    duplicates_and_overlaps,
    daily_caps,
)


def check(workout: Workout, accepted: Sequence[Accepted], *, now: datetime,
          limits: Limits = DEFAULT_LIMITS) -> list[Rejection]:
    """Every rule the workout breaks (empty list = plausible). `accepted` holds the user's accepted workouts that
    overlap the workout's time span or share one of its UTC days."""
    _require_aware(now, "now")
    _require_aware(workout.started_at, "workout.started_at")
    _require_aware(workout.ended_at, "workout.ended_at")
    for other in accepted:
        _require_aware(other.started_at, f"accepted {other.id} started_at")
        _require_aware(other.ended_at, f"accepted {other.id} ended_at")
    return [rejection for rule in RULES for rejection in rule(workout, accepted, now, limits)]
