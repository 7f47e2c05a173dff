"""A seeded simulator of members' workouts, honest and fraudulent, labelled: the anti-cheat model's training
and evaluation data (no real member's data exists to learn from yet).

`simulate(seed, members, days)` returns every member's submissions in the order they were sent; the same
arguments always give the same workouts (numpy's Generator, one stream per member spawned from the seed).
Days start on `START` (a fixed date: nothing depends on the wall clock).

Honest members (`1 - fraud_share` of them) each have:
- a main activity (run 40%, walk 30%, cycle 20%, hike 10%) and, for 40% of them, a second one (a quarter of
  their sessions); a personal baseline per activity: speed, cadence, heart rate at their usual effort,
  usual duration (4% of runners and 5% of cyclists and walkers are much faster than most);
- a weekly habit (they work out on 25-85% of days, sometimes twice a day), a usual local hour (morning,
  noon or evening, with their own spread; 8% of sessions at any hour), a time zone (30% of members leave
  the app's time zone at its UTC default);
- devices: a heart-rate strap or watch (80%), GPS sampling every 1 or 5 s (off on 10% of runs: a
  treadmill; 5% of members have no GPS at all and report steps without a distance), a step counter on
  foot activities (90%), calories (90%);
- day-to-day variation: pace +/-5%, race days (3%: faster, higher heart rate), long slow days (10%), and
  30% of members repeat one route most days (the same distance within 1%, other measurements varying);
- honest oddities the rules and the model must live with: a jog logged as a walk (0.5% of walks: 7.5-9.3
  km/h, sometimes over the walking limit), a GPS spike (0.05% of GPS sessions: a peak speed 3-6 times the
  average), sessions missing a sensor.

Fraudsters (`fraud_share`, default 10% of members) start with an honest history (7-40 days) and then cheat on
a share of their workout days (their own rate), with one pattern each:
- `replay` (40% of fraudsters, cheat on 30-80% of workout days): a near-identical copy of one of their own
  earlier honest workouts (of the last 30 days) on another day: exact (45%), lightly changed (each
  measurement +/-1%, 40%) or more changed (+/-3%, 15%); 8% are crude: the copy keeps the original times
  (the rules' duplicate check refuses it);
- `step_farm` (30%, 40-90% of workout days): a shaken phone: a "walk" (or 20% "run") of 40-200 min at
  130-200 steps/min with a resting heart rate (62-95 bpm, or none): no distance at all (45%), a distance
  invented at the shortest stride the rules allow (35%: no GPS), a stationary GPS track (10%: the rules'
  GPS check refuses it) or a crude short stride (10%: refused by the stride check); half at night;
- `near_limit` (30%, 70-100% of workout days: "every day"): their activity at 90-99.5% of the rules'
  speed limit (a spoofed track or a car), smooth GPS (peak 1.05-1.3 x average), steps made to fit the
  stride or missing, heart rate missing (40%), their usual (30%) or a resting one (30%); 10% are crude:
  1-15% over the limit (refused by the speed rule).
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from backend.app.fitness.anticheat import DEFAULT_LIMITS, ActivityType, Workout

A = ActivityType
START = date(2026, 1, 5)  # a Monday
HONEST, REPLAY, STEP_FARM, NEAR_LIMIT = "honest", "replay", "step_farm", "near_limit"
PATTERNS = (REPLAY, STEP_FARM, NEAR_LIMIT)
VARIANTS = {REPLAY: ("exact copy", "nudged 1%", "nudged 3%", "original times"),
            STEP_FARM: ("no distance", "shortest stride", "stationary GPS", "too short a stride"),
            NEAR_LIMIT: ("under the limit", "over the limit")}
ZONES = ("UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
         "Asia/Kolkata", "Australia/Sydney")
FOOT = frozenset({A.RUN, A.WALK, A.HIKE})

# Per activity: (mean speed km/h, spread, low, high), (cadence spm, spread), effort as a share of the
# member's maximal heart rate, usual minutes (low, high), MET (calories = MET x kg x hours).
_BASE = {
    A.RUN: ((10.5, 1.6, 7.0, 17.0), (163.0, 7.0), 0.80, (25, 60), 9.8),
    A.WALK: ((5.0, 0.5, 3.5, 6.8), (112.0, 7.0), 0.58, (20, 75), 3.8),
    A.HIKE: ((3.6, 0.6, 2.0, 5.5), (95.0, 8.0), 0.68, (60, 240), 6.0),
    A.CYCLE: ((24.0, 4.5, 13.0, 40.0), (0.0, 0.0), 0.72, (30, 150), 8.0),
}
_FAST = {A.RUN: (0.04, 17.0, 21.5), A.WALK: (0.05, 6.5, 7.8), A.CYCLE: (0.05, 38.0, 46.0)}


@dataclass(frozen=True)
class Simulated:
    """One submission: the workout, the time zone the member's profile declares, the truth."""
    key: str  # "m<member>-<n>": unique in one simulation
    member: int
    workout: Workout
    timezone: str
    pattern: str  # HONEST or one of PATTERNS
    variant: str  # how the pattern was done (VARIANTS), "honest" for honest workouts

    @property
    def fraud(self) -> bool:
        return self.pattern != HONEST


@dataclass
class _Baseline:
    speed: float
    cadence: float
    effort: float
    minutes: tuple[float, float]
    met: float
    route_m: float | None = None


@dataclass
class _Member:
    index: int
    rng: np.random.Generator
    zone: ZoneInfo
    declared_zone: str
    activities: list[ActivityType]
    second_share: float
    baselines: dict[ActivityType, _Baseline]
    workout_rate: float
    hour: float
    hour_spread: float
    weight: float
    rest_hr: float
    max_hr: float
    has_hr: bool
    gps_interval: int
    counts_steps: bool
    counts_calories: bool
    pedometer_only: bool  # no GPS: foot sessions report steps and no distance
    pattern: str = HONEST
    cheat_from: int = 0
    cheat_rate: float = 0.0
    honest: list[Workout] = field(default_factory=list)


def _baseline(rng: np.random.Generator, activity: ActivityType, route: bool) -> _Baseline:
    (mean, spread, low, high), (cadence, cadence_spread), effort, minutes, met = _BASE[activity]
    speed = float(np.clip(rng.normal(mean, spread), low, high))
    fast = _FAST.get(activity)
    if fast is not None and rng.random() < fast[0]:
        speed = float(rng.uniform(fast[1], fast[2]))
    usual = float(rng.uniform(*minutes))
    route_m = speed * 1000 * usual / 60 * float(rng.uniform(0.9, 1.1)) if route else None
    # Faster people take quicker steps as well as longer ones.
    cadence = float(rng.normal(cadence, cadence_spread)) * (speed / mean) ** 0.35
    return _Baseline(speed, cadence, effort + float(rng.normal(0, 0.03)), (usual * 0.8, usual * 1.25), met, route_m)


def _member(index: int, rng: np.random.Generator, fraudster: bool) -> _Member:
    main = [A.RUN, A.WALK, A.CYCLE, A.HIKE][rng.choice(4, p=[0.4, 0.3, 0.2, 0.1])]
    activities = [main]
    if rng.random() < 0.4:
        activities.append([a for a in (A.RUN, A.WALK, A.CYCLE, A.HIKE) if a != main][rng.integers(3)])
    route = rng.random() < 0.3
    zone = ZONES[rng.integers(len(ZONES))]
    age = rng.uniform(18, 65)
    member = _Member(
        index=index, rng=rng, zone=ZoneInfo(zone), declared_zone=zone if rng.random() < 0.7 else "UTC",
        activities=activities, second_share=0.25,
        baselines={a: _baseline(rng, a, route and a == main) for a in activities},
        workout_rate=float(rng.uniform(0.25, 0.85)), hour=float(rng.choice([6.5, 12.5, 18.0]) + rng.normal(0, 1)),
        hour_spread=float(rng.uniform(0.5, 2.0)), weight=float(np.clip(rng.normal(72, 12), 45, 120)),
        rest_hr=float(rng.normal(62, 7)), max_hr=float(208 - 0.7 * age), has_hr=rng.random() < 0.8,
        gps_interval=int(rng.choice([1, 5])), counts_steps=rng.random() < 0.9, counts_calories=rng.random() < 0.9,
        pedometer_only=rng.random() < 0.05)
    if fraudster:
        member.pattern = PATTERNS[rng.choice(3, p=[0.4, 0.3, 0.3])]
        member.cheat_from = int(rng.integers(7, 41))
        member.cheat_rate = float(rng.uniform(*{REPLAY: (0.3, 0.8), STEP_FARM: (0.4, 0.9),
                                                 NEAR_LIMIT: (0.7, 1.0)}[member.pattern]))
    return member


def _start(member: _Member, day: date, hour: float) -> datetime:
    local = datetime(day.year, day.month, day.day, tzinfo=member.zone) + timedelta(hours=hour % 24)
    return local.astimezone(UTC).replace(microsecond=0)


def _local_hour(member: _Member) -> float:
    rng = member.rng
    if rng.random() < 0.08:
        return float(rng.uniform(5, 22))
    return float(np.clip(member.hour + rng.normal(0, member.hour_spread), 4.5, 23.0))


def _gps(member: _Member, seconds: float, distance: float, peak_factor: float) -> dict:
    rng = member.rng
    return dict(gps_points=max(2, int(seconds / member.gps_interval * rng.uniform(0.95, 1.0))),
                gps_distance_m=round(distance * float(rng.normal(1, 0.015)), 1),
                gps_max_speed_mps=round(distance / seconds * peak_factor, 2))


def _heart(member: _Member, effort: float) -> tuple[int, int]:
    rng = member.rng
    average = member.rest_hr + (member.max_hr - member.rest_hr) * effort + rng.normal(0, 4)
    average = float(np.clip(average, 45, 205))
    return round(average), round(min(average + rng.uniform(8, 30), 220))


def _honest(member: _Member, day: date, hour: float) -> Workout:
    rng = member.rng
    activity = member.activities[0]
    if len(member.activities) > 1 and rng.random() < member.second_share:
        activity = member.activities[1]
    base = member.baselines[activity]
    speed, effort = base.speed * float(rng.normal(1, 0.05)), base.effort
    minutes = float(rng.uniform(*base.minutes)) * float(rng.lognormal(0, 0.15))
    cadence = base.cadence
    if rng.random() < 0.03:  # race day
        speed, effort = speed * float(rng.uniform(1.06, 1.12)), effort + 0.07
    elif rng.random() < 0.1:  # long and slow
        minutes, speed, effort = minutes * float(rng.uniform(1.5, 2.2)), speed * 0.95, effort - 0.04
    if activity is A.WALK and rng.random() < 0.005:  # a jog logged as a walk
        speed, cadence, effort = float(rng.uniform(7.5, 9.3)), 150.0, 0.75
    distance = speed * 1000 * minutes / 60
    if base.route_m is not None and rng.random() < 0.6:  # the usual route
        distance = base.route_m * float(rng.normal(1, 0.008))
        minutes = distance / 1000 / speed * 60
    seconds = round(minutes * 60)
    start = _start(member, day, hour)
    pedometer = member.pedometer_only and activity in FOOT
    fields: dict = {} if pedometer else dict(distance_m=round(distance, 1))
    if activity in FOOT and (member.counts_steps or pedometer):
        cadence = cadence * (speed / base.speed) ** 0.3 * float(rng.normal(1, 0.02))
        fields["steps"] = round(cadence * seconds / 60)
    if member.has_hr:
        fields["avg_heart_rate"], fields["max_heart_rate"] = _heart(member, effort)
    if member.counts_calories:
        fields["calories"] = round(base.met * member.weight * seconds / 3600 * float(rng.normal(1, 0.05)), 1)
    treadmill = activity is A.RUN and rng.random() < 0.1
    if not (treadmill or member.pedometer_only) and rng.random() < 0.97:
        peak = float(rng.uniform(1.3, 2.0) if activity is A.CYCLE else rng.uniform(1.15, 1.7))
        if rng.random() < 0.0005:  # a GPS spike
            peak = float(rng.uniform(3, 6))
        fields |= _gps(member, seconds, distance, peak)
    return Workout(activity, start, start + timedelta(seconds=seconds), **fields)


def _jitter(rng: np.random.Generator, value, spread: float, whole: bool = False):
    if value is None or spread == 0:
        return value
    changed = value * float(rng.normal(1, spread))
    return round(changed) if whole else round(changed, 2)


def _replay(member: _Member, day: date, hour: float) -> tuple[Workout, str]:
    rng = member.rng
    recent = member.honest[-30:]
    source = recent[rng.integers(len(recent))]
    if rng.random() < 0.08:  # crude: the original's own times
        return source, "original times"
    kind = int(rng.choice(3, p=[0.45, 0.4, 0.15]))
    spread = (0.0, 0.01, 0.03)[kind]
    same_time = rng.random() < 0.5
    local = source.started_at.astimezone(member.zone)
    start = _start(member, day, local.hour + local.minute / 60 if same_time else hour)
    seconds = _jitter(rng, (source.ended_at - source.started_at).total_seconds(), spread, whole=True)

    def beat(value: int | None) -> int | None:
        return None if value is None else value + int(rng.integers(-3, 4)) * (spread > 0)

    return replace(source, started_at=start, ended_at=start + timedelta(seconds=seconds),
                   distance_m=_jitter(rng, source.distance_m, spread), steps=_jitter(rng, source.steps, spread, True),
                   calories=_jitter(rng, source.calories, spread), avg_heart_rate=beat(source.avg_heart_rate),
                   max_heart_rate=beat(source.max_heart_rate), gps_points=_jitter(rng, source.gps_points, spread, True),
                   gps_distance_m=_jitter(rng, source.gps_distance_m, spread),
                   gps_max_speed_mps=_jitter(rng, source.gps_max_speed_mps, spread)), VARIANTS[REPLAY][kind]


def _step_farm(member: _Member, day: date, hour: float) -> tuple[Workout, str]:
    rng = member.rng
    activity = A.RUN if rng.random() < 0.2 else A.WALK
    minutes = float(rng.uniform(40, 200))
    seconds = round(minutes * 60)
    steps = round(float(rng.uniform(130, 200)) * minutes)
    if rng.random() < 0.5:
        hour = float(rng.uniform(0, 5))
    start = _start(member, day, hour)
    fields: dict = dict(steps=steps)
    variant = int(rng.choice(4, p=[0.45, 0.35, 0.1, 0.1]))
    low_stride = DEFAULT_LIMITS.stride_m[activity][0]
    if variant == 1:  # a distance made up at the shortest stride the rules allow
        fields["distance_m"] = round(steps * low_stride * float(rng.uniform(1.0, 1.35)), 1)
    elif variant == 2:  # a stationary GPS track beside the made-up distance
        fields["distance_m"] = round(steps * low_stride * float(rng.uniform(1.0, 1.35)), 1)
        fields |= dict(gps_points=int(seconds / member.gps_interval),
                       gps_distance_m=round(float(rng.uniform(0, 300)), 1),
                       gps_max_speed_mps=round(float(rng.uniform(0.3, 2.0)), 2))
    elif variant == 3:  # crude: too short a stride
        fields["distance_m"] = round(steps * low_stride * float(rng.uniform(0.2, 0.8)), 1)
    if rng.random() < 0.5:
        average = int(rng.integers(62, 96))
        fields |= dict(avg_heart_rate=average, max_heart_rate=average + int(rng.integers(5, 21)))
    if member.counts_calories:
        fields["calories"] = round(steps * float(rng.uniform(0.03, 0.05)), 1)
    return Workout(activity, start, start + timedelta(seconds=seconds), **fields), VARIANTS[STEP_FARM][variant]


def _near_limit(member: _Member, day: date, hour: float) -> tuple[Workout, str]:
    rng = member.rng
    activity = member.activities[0] if member.activities[0] in (A.RUN, A.WALK, A.CYCLE) else A.RUN
    limit = DEFAULT_LIMITS.max_speed_kmh[activity]
    over = rng.random() < 0.1
    share = float(rng.uniform(1.01, 1.15) if over else rng.uniform(0.90, 0.995))
    speed = limit * share
    base = member.baselines.get(activity) or _baseline(rng, activity, False)
    minutes = float(rng.uniform(*base.minutes))
    seconds = round(minutes * 60)
    distance = speed * 1000 * minutes / 60
    start = _start(member, day, hour)
    fields: dict = dict(distance_m=round(distance, 1))
    if activity in FOOT and rng.random() < 0.6:  # steps made to fit a plausible stride
        low, high = DEFAULT_LIMITS.stride_m[activity]
        stride = min(high * 0.97, max(low * 1.05, distance / (float(rng.uniform(150, 185)) * minutes)))
        fields["steps"] = round(distance / stride)
    heart = rng.choice(3, p=[0.4, 0.3, 0.3])
    if heart == 1:
        fields["avg_heart_rate"], fields["max_heart_rate"] = _heart(member, base.effort)
    elif heart == 2:
        average = int(rng.integers(75, 101))
        fields |= dict(avg_heart_rate=average, max_heart_rate=average + int(rng.integers(5, 21)))
    if member.counts_calories:
        fields["calories"] = round(base.met * member.weight * seconds / 3600 * float(rng.normal(1, 0.05)), 1)
    fields |= _gps(member, seconds, distance, float(rng.uniform(1.05, 1.3)))
    return Workout(activity, start, start + timedelta(seconds=seconds), **fields), VARIANTS[NEAR_LIMIT][int(over)]


def _sessions(member: _Member, days: int) -> Iterator[tuple[Workout, str, str]]:
    rng = member.rng
    for offset in range(days):
        if rng.random() >= member.workout_rate:
            continue
        day = START + timedelta(days=offset)
        hours = [_local_hour(member)]
        if rng.random() < 0.1:  # a second session, at least 4 hours later
            hours.append(min(hours[0] + float(rng.uniform(4, 8)), 23.0))
        for hour in hours:
            cheating = (member.pattern != HONEST and offset >= member.cheat_from and len(member.honest) >= 3
                        and rng.random() < member.cheat_rate)
            if not cheating:
                workout = _honest(member, day, hour)
                member.honest.append(workout)
                yield workout, HONEST, HONEST
            else:
                make = {REPLAY: _replay, STEP_FARM: _step_farm, NEAR_LIMIT: _near_limit}[member.pattern]
                yield *make(member, day, hour), member.pattern


def simulate(seed: int, members: int = 600, days: int = 120, fraud_share: float = 0.1) -> list[Simulated]:
    """Every member's submissions over `days` days, member by member, each member's in the order sent."""
    if members < 1 or days < 1 or not 0 <= fraud_share <= 1:
        raise ValueError("simulate needs members >= 1, days >= 1 and 0 <= fraud_share <= 1")
    streams = np.random.SeedSequence(seed).spawn(members)
    fraudsters = set(np.random.default_rng(seed).permutation(members)[:math.ceil(members * fraud_share)].tolist())
    out: list[Simulated] = []
    for index, stream in enumerate(streams):
        member = _member(index, np.random.default_rng(stream), index in fraudsters)
        for n, (workout, variant, pattern) in enumerate(_sessions(member, days)):
            out.append(Simulated(f"m{index}-{n}", index, workout, member.declared_zone, pattern, variant))
    return out
