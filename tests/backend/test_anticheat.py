"""Anti-cheat rules (backend/app/fitness/anticheat.py): pure functions, no stack needed.

Every rule has a case just inside its limit (accepted) and one just past it (rejected)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from backend.app.fitness.anticheat import (
    DEFAULT_LIMITS,
    Accepted,
    ActivityType,
    Limits,
    Workout,
    check,
)

pytestmark = pytest.mark.wallclock  # `make test-clock` runs it at 00:05, 11:00 and 23:55 UTC

A = ActivityType
UTC = UTC
START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


def make(activity=A.RUN, start=START, minutes=30.0, **fields):
    return Workout(activity, start, start + timedelta(minutes=minutes), **fields)


def acc(id, start, minutes, activity=A.WALK, steps=None):
    return Accepted(id, activity, start, start + timedelta(minutes=minutes), steps)


def codes(workout, accepted=(), *, now=NOW, limits=DEFAULT_LIMITS):
    return [r.code for r in check(workout, accepted, now=now, limits=limits)]


# --- realistic workouts pass ---

PLAUSIBLE = [
    make(A.RUN, minutes=45, distance_m=10_000, steps=7_600, calories=600, avg_heart_rate=155, max_heart_rate=182,
         gps_points=2_700, gps_distance_m=10_080, gps_max_speed_mps=5.2),
    make(A.WALK, minutes=60, distance_m=5_200, steps=7_000, calories=250, avg_heart_rate=100, max_heart_rate=125,
         gps_points=3_600, gps_distance_m=5_150, gps_max_speed_mps=1.9),
    make(A.HIKE, minutes=180, distance_m=12_000, steps=18_000, calories=900, avg_heart_rate=120,
         max_heart_rate=160, gps_points=10_000, gps_distance_m=12_400, gps_max_speed_mps=2.2),
    make(A.CYCLE, minutes=120, distance_m=60_000, calories=1_400, avg_heart_rate=140, max_heart_rate=175,
         gps_points=7_200, gps_distance_m=59_500, gps_max_speed_mps=15.0),
    make(A.SWIM, minutes=40, distance_m=2_000, calories=450, avg_heart_rate=135, max_heart_rate=165),
    make(A.ROW, minutes=30, distance_m=7_000, calories=400, avg_heart_rate=150, max_heart_rate=180),
    make(A.STRENGTH, minutes=50, calories=350, avg_heart_rate=115, max_heart_rate=160),
    make(A.YOGA, minutes=60, calories=200, avg_heart_rate=85, max_heart_rate=110),
]


@pytest.mark.parametrize("workout", PLAUSIBLE, ids=[w.activity.value for w in PLAUSIBLE])
def test_plausible_workout_of_each_type_passes(workout):
    assert check(workout, [], now=NOW) == []


def test_every_activity_type_has_a_plausible_case():
    assert {w.activity for w in PLAUSIBLE} == set(ActivityType)


# --- each rule: just inside passes, just past fails ---

WIDE_DAY = {"max_active_minutes_per_day": 48 * 60}  # so 24 h workouts test only the duration rule

RULE_CASES = [
    # time sanity
    pytest.param(make(minutes=0), {}, ["ends_before_start"], id="ends-when-it-starts"),
    pytest.param(make(minutes=-1), {}, ["ends_before_start"], id="ends-before-start"),
    pytest.param(make(A.STRENGTH, minutes=1), {}, [], id="60s-is-long-enough"),
    pytest.param(make(A.STRENGTH, minutes=59 / 60), {}, ["too_short"], id="59s-too-short"),
    pytest.param(make(A.WALK, start=START - timedelta(hours=32), minutes=24 * 60), WIDE_DAY, [], id="24h-is-allowed"),
    pytest.param(make(A.WALK, start=START - timedelta(hours=32), minutes=24 * 60 + 1 / 60), WIDE_DAY, ["too_long"],
                 id="24h-1s-too-long"),
    pytest.param(make(A.STRENGTH, start=NOW - timedelta(minutes=25), minutes=30), {}, [],
                 id="ends-5min-ahead-is-tolerated"),
    pytest.param(make(A.STRENGTH, start=NOW - timedelta(minutes=25), minutes=30 + 1 / 60), {}, ["in_future"],
                 id="ends-5min-1s-ahead"),
    pytest.param(make(A.STRENGTH, start=NOW + timedelta(hours=1), minutes=-30), {}, ["ends_before_start", "in_future"],
                 id="inverted-and-in-future"),
    # distance on activities without one
    pytest.param(make(A.STRENGTH, distance_m=0.0), {}, [], id="strength-zero-distance"),
    pytest.param(make(A.STRENGTH, distance_m=1.0), {}, ["distance_not_applicable"], id="strength-with-distance"),
    pytest.param(make(A.YOGA, distance_m=0.5), {}, ["distance_not_applicable"], id="yoga-with-distance"),
    # stride (distance / steps)
    pytest.param(make(A.WALK, minutes=20, distance_m=1_000, steps=834), {}, [], id="walk-stride-1.199m"),
    pytest.param(make(A.WALK, minutes=20, distance_m=1_000, steps=833), {}, ["steps_distance_mismatch"],
                 id="walk-stride-1.2005m"),
    pytest.param(make(A.WALK, minutes=20, distance_m=1_000, steps=3_333), {}, [], id="walk-stride-0.30003m"),
    pytest.param(make(A.WALK, minutes=20, distance_m=1_000, steps=3_334), {}, ["steps_distance_mismatch"],
                 id="walk-stride-0.29994m"),
    pytest.param(make(A.RUN, minutes=60, distance_m=5_000, steps=2_000), {}, [], id="run-stride-2.5m"),
    pytest.param(make(A.RUN, minutes=60, distance_m=5_000, steps=1_999), {}, ["steps_distance_mismatch"],
                 id="run-stride-2.501m"),
    pytest.param(make(A.RUN, minutes=60, distance_m=5_000, steps=10_000), {}, [], id="run-stride-0.5m"),
    pytest.param(make(A.RUN, minutes=60, distance_m=5_000, steps=10_001), {}, ["steps_distance_mismatch"],
                 id="run-stride-0.49995m"),
    pytest.param(make(A.HIKE, minutes=40, distance_m=1_000, steps=4_000), {}, [], id="hike-stride-0.25m"),
    pytest.param(make(A.HIKE, minutes=40, distance_m=1_000, steps=4_001), {}, ["steps_distance_mismatch"],
                 id="hike-stride-0.2499m"),
    pytest.param(make(A.WALK, minutes=20, distance_m=1_000, steps=0), {}, ["steps_distance_mismatch"],
                 id="walk-distance-without-steps"),
    pytest.param(make(A.WALK, minutes=20, distance_m=0.0, steps=0), {}, [], id="walk-nothing-counted"),
    pytest.param(make(A.CYCLE, minutes=60, distance_m=20_000, steps=10), {}, [], id="cycle-steps-not-compared"),
    pytest.param(make(A.SWIM, minutes=30, distance_m=1_000, steps=5_000), {}, [], id="swim-steps-not-compared"),
    # cadence
    pytest.param(make(A.RUN, minutes=30, steps=7_800), {}, [], id="cadence-260"),
    pytest.param(make(A.RUN, minutes=30, steps=7_801), {}, ["cadence_too_high"], id="cadence-260.03"),
    pytest.param(make(A.CYCLE, minutes=60, steps=15_600), {}, [], id="cycle-cadence-260"),
    pytest.param(make(A.CYCLE, minutes=60, steps=15_601), {}, ["cadence_too_high"], id="cycle-cadence-260.02"),
    # heart rate
    pytest.param(make(avg_heart_rate=30), {}, [], id="avg-hr-30"),
    pytest.param(make(avg_heart_rate=29), {}, ["heart_rate_out_of_range"], id="avg-hr-29"),
    pytest.param(make(avg_heart_rate=230), {}, [], id="avg-hr-230"),
    pytest.param(make(avg_heart_rate=231), {}, ["heart_rate_out_of_range"], id="avg-hr-231"),
    pytest.param(make(max_heart_rate=250), {}, [], id="max-hr-250"),
    pytest.param(make(max_heart_rate=251), {}, ["max_heart_rate_out_of_range"], id="max-hr-251"),
    pytest.param(make(max_heart_rate=29), {}, ["max_heart_rate_out_of_range"], id="max-hr-29"),
    pytest.param(make(avg_heart_rate=150, max_heart_rate=150), {}, [], id="max-hr-equals-avg"),
    pytest.param(make(avg_heart_rate=150, max_heart_rate=149), {}, ["max_heart_rate_below_average"],
                 id="max-hr-below-avg"),
    # calories
    pytest.param(make(A.STRENGTH, minutes=30, calories=750), {}, [], id="25-kcal-per-min"),
    pytest.param(make(A.STRENGTH, minutes=30, calories=750.5), {}, ["too_many_calories"], id="25.02-kcal-per-min"),
    # GPS summary
    pytest.param(make(minutes=60, distance_m=10_000, gps_distance_m=12_550), {}, [], id="gps-25pct+50m-longer"),
    pytest.param(make(minutes=60, distance_m=10_000, gps_distance_m=12_551), {}, ["gps_distance_mismatch"],
                 id="gps-too-long"),
    pytest.param(make(minutes=60, distance_m=10_000, gps_distance_m=7_450), {}, [], id="gps-25pct+50m-shorter"),
    pytest.param(make(minutes=60, distance_m=10_000, gps_distance_m=7_449), {}, ["gps_distance_mismatch"],
                 id="gps-too-short"),
    pytest.param(make(minutes=60, distance_m=0.0, gps_distance_m=50), {}, [], id="gps-jitter-when-standing"),
    pytest.param(make(gps_max_speed_mps=13.8), {}, [], id="run-gps-peak-49.7kmh"),
    pytest.param(make(gps_max_speed_mps=13.9), {}, ["gps_too_fast"], id="run-gps-peak-50.04kmh"),
    pytest.param(make(A.WALK, gps_max_speed_mps=4.99), {}, [], id="walk-gps-peak-17.96kmh"),
    pytest.param(make(A.WALK, gps_max_speed_mps=5.01), {}, ["gps_too_fast"], id="walk-gps-peak-18.04kmh"),
    pytest.param(make(gps_points=2, gps_distance_m=300), {}, [], id="gps-two-points"),
    pytest.param(make(gps_points=1, gps_distance_m=300), {}, ["gps_track_too_sparse"], id="gps-one-point"),
]


@pytest.mark.parametrize(("workout", "overrides", "expected"), RULE_CASES)
def test_rule_limits(workout, overrides, expected):
    rejections = check(workout, [], now=NOW, limits=replace(DEFAULT_LIMITS, **overrides))
    assert [r.code for r in rejections] == expected
    for rejection in rejections:  # one sentence that carries the numbers
        assert any(ch.isdigit() for ch in rejection.reason), rejection.reason
        assert "\n" not in rejection.reason


SPEED_CAPS = [(A.RUN, 25), (A.WALK, 9), (A.HIKE, 10), (A.CYCLE, 75), (A.SWIM, 7), (A.ROW, 20)]


@pytest.mark.parametrize(("activity", "max_kmh"), SPEED_CAPS, ids=[a.value for a, _ in SPEED_CAPS])
def test_average_speed_cap_per_activity(activity, max_kmh):
    at_cap = make(activity, minutes=60, distance_m=max_kmh * 1_000)
    over = make(activity, minutes=60, distance_m=max_kmh * 1_000 + 1)
    assert codes(at_cap) == []
    assert codes(over) == ["too_fast"]


# --- duplicates and overlaps ---

OVERLAP_CASES = [
    pytest.param([acc("a1", START, 30, A.RUN)], ["duplicate"], id="same-activity-same-times"),
    pytest.param([acc("a1", START, 30, A.WALK)], ["overlap"], id="other-activity-same-times"),
    pytest.param([acc("a1", START, 31, A.RUN)], ["overlap"], id="same-start-other-end"),
    pytest.param([acc("a1", START - timedelta(minutes=20), 30)], ["overlap"], id="overlaps-the-start"),
    pytest.param([acc("a1", START + timedelta(minutes=29), 30)], ["overlap"], id="overlaps-the-end"),
    pytest.param([acc("a1", START - timedelta(hours=1), 120)], ["overlap"], id="contains-it"),
    pytest.param([acc("a1", START + timedelta(minutes=5), 10)], ["overlap"], id="inside-it"),
    pytest.param([acc("a1", START - timedelta(minutes=30), 30)], [], id="ends-when-it-starts"),
    pytest.param([acc("a1", START + timedelta(minutes=30), 30)], [], id="starts-when-it-ends"),
    pytest.param([acc("a1", START, 30, A.RUN), acc("a2", START + timedelta(minutes=10), 60)],
                 ["duplicate", "overlap"], id="duplicate-and-another-overlap"),
]


@pytest.mark.parametrize(("accepted", "expected"), OVERLAP_CASES)
def test_duplicates_and_overlaps(accepted, expected):
    assert codes(make(A.RUN, minutes=30), accepted) == expected


def test_overlap_and_duplicate_reasons_name_the_accepted_workout():
    rejections = check(make(A.RUN, minutes=30),
                       [acc("wk-dup", START, 30, A.RUN), acc("wk-other", START + timedelta(minutes=10), 60)], now=NOW)
    duplicate, overlap = rejections
    assert "wk-dup" in duplicate.reason and "wk-other" not in duplicate.reason
    assert "wk-other" in overlap.reason and "wk-dup" not in overlap.reason


# --- per-day caps (UTC start day) ---

def at(hour, minute=0, day=1, tz=UTC):
    return datetime(2024, 5 if day > 0 else 4, day if day > 0 else 30, hour, minute, tzinfo=tz)


PLUS2 = timezone(timedelta(hours=2))
MINUS2 = timezone(timedelta(hours=-2))
WALK_10K = make(A.WALK, minutes=60, steps=10_000)
WALK_10K_1 = make(A.WALK, minutes=60, steps=10_001)

DAY_CASES = [
    # steps
    pytest.param(WALK_10K, [acc("a1", at(2), 240, steps=90_000)], [], id="steps-exactly-at-cap"),
    pytest.param(WALK_10K_1, [acc("a1", at(2), 240, steps=90_000)], ["daily_steps_cap"], id="steps-over-cap"),
    pytest.param(WALK_10K_1, [acc("a1", at(2), 60, steps=45_000), acc("a2", at(4), 60, steps=45_000)],
                 ["daily_steps_cap"], id="steps-summed-over-accepted"),
    pytest.param(WALK_10K_1, [acc("a1", at(2), 60, steps=90_000), acc("a2", at(4), 60, steps=None)],
                 ["daily_steps_cap"], id="accepted-without-steps-count-zero"),
    pytest.param(WALK_10K, [acc("a1", at(22, day=0), 90, steps=95_000)], [], id="previous-utc-day-not-counted"),
    pytest.param(WALK_10K, [acc("a1", at(1, tz=PLUS2), 60, steps=95_000)], [], id="+02:00-is-previous-utc-day"),
    pytest.param(WALK_10K, [acc("a1", at(23, day=0, tz=MINUS2), 60, steps=95_000)], ["daily_steps_cap"],
                 id="-02:00-is-same-utc-day"),
    pytest.param(make(A.WALK, start=at(23, 30, day=0), minutes=60, steps=6_000), [acc("a1", at(1), 60, steps=99_000)],
                 [], id="workout-counts-on-its-start-day"),
    pytest.param(make(A.STRENGTH, minutes=60), [acc("a1", at(2), 240, steps=100_000)], [], id="no-steps-no-steps-cap"),
    pytest.param(make(A.WALK, minutes=60, steps=1), [acc("a1", at(2), 240, steps=100_000)], ["daily_steps_cap"],
                 id="one-step-over-cap"),
    # active minutes: 420 + 480 accepted, + 60 = 960 = 16 h
    pytest.param(make(A.STRENGTH, minutes=60), [acc("a1", at(0), 420), acc("a2", at(10), 480)], [],
                 id="active-minutes-at-cap"),
    pytest.param(make(A.STRENGTH, minutes=61), [acc("a1", at(0), 420), acc("a2", at(10), 480)],
                 ["daily_active_minutes_cap"], id="active-minutes-over-cap"),
    pytest.param(make(A.STRENGTH, minutes=61), [acc("a1", at(0, day=0), 420), acc("a2", at(10), 480)], [],
                 id="active-minutes-of-other-day-not-counted"),
    # workouts per day
    pytest.param(make(A.YOGA), [acc(f"a{i}", at(10) + timedelta(minutes=5 * i), 1) for i in range(19)], [],
                 id="20th-workout-of-the-day"),
    pytest.param(make(A.YOGA), [acc(f"a{i}", at(10) + timedelta(minutes=5 * i), 1) for i in range(20)],
                 ["daily_workouts_cap"], id="21st-workout-of-the-day"),
    pytest.param(make(A.YOGA), [acc(f"a{i}", at(10, day=0) + timedelta(minutes=5 * i), 1) for i in range(20)], [],
                 id="workouts-of-previous-day-not-counted"),
]


@pytest.mark.parametrize(("workout", "accepted", "expected"), DAY_CASES)
def test_daily_caps(workout, accepted, expected):
    assert codes(workout, accepted) == expected


# --- several violations, reasons, configuration, programmer errors ---

def test_all_violations_are_reported_together_in_rule_order():
    workout = make(A.RUN, start=NOW - timedelta(minutes=20), minutes=30, distance_m=15_000, steps=40_000,
                   avg_heart_rate=240, calories=1_000)
    rejections = check(workout, [acc("a7", NOW - timedelta(minutes=30), 20)], now=NOW)
    assert [r.code for r in rejections] == ["in_future", "too_fast", "steps_distance_mismatch", "cadence_too_high",
                                            "heart_rate_out_of_range", "too_many_calories", "overlap"]


@pytest.mark.parametrize(("workout", "accepted", "reason"), [
    pytest.param(make(A.RUN, minutes=30, distance_m=20_600), [],
                 "average speed 41.2 km/h is implausible for a run (max 25 km/h)", id="too-fast"),
    pytest.param(make(A.STRENGTH, minutes=0.5), [], "duration 30 s is shorter than the minimum of 1 min",
                 id="too-short"),
    pytest.param(make(A.WALK, minutes=20, distance_m=1_000, steps=500), [],
                 "1,000 m over 500 steps is 2 m per step, implausible for a walk (expected 0.3-1.2 m)", id="stride"),
    pytest.param(WALK_10K_1, [acc("a1", at(2), 240, steps=90_000)],
                 "steps on 2024-05-01 (UTC) would total 100,001, over the daily cap of 100,000", id="steps-cap"),
])
def test_reason_states_the_numbers(workout, accepted, reason):
    assert [r.reason for r in check(workout, accepted, now=NOW)] == [reason]


def test_limits_are_configurable():
    run_28kmh = make(A.RUN, minutes=60, distance_m=28_000)
    assert codes(run_28kmh) == ["too_fast"]
    relaxed = replace(DEFAULT_LIMITS, max_speed_kmh={**DEFAULT_LIMITS.max_speed_kmh, A.RUN: 30.0})
    assert codes(run_28kmh, limits=relaxed) == []
    assert codes(make(A.STRENGTH, minutes=1), limits=Limits(min_duration=timedelta(minutes=2))) == ["too_short"]


def test_default_limits_cannot_be_mutated():
    with pytest.raises(TypeError):
        DEFAULT_LIMITS.max_speed_kmh[A.RUN] = 99.0  # type: ignore[index]
    with pytest.raises(TypeError):
        DEFAULT_LIMITS.stride_m[A.WALK] = (0.0, 9.0)  # type: ignore[index]


NAIVE = datetime(2024, 5, 1, 8, 0)


@pytest.mark.parametrize(("workout", "accepted", "now"), [
    pytest.param(Workout(A.RUN, NAIVE, START + timedelta(minutes=30)), [], NOW, id="naive-start"),
    pytest.param(Workout(A.RUN, START, NAIVE + timedelta(minutes=30)), [], NOW, id="naive-end"),
    pytest.param(make(), [Accepted("a1", A.RUN, NAIVE - timedelta(hours=2), START - timedelta(hours=1), None)], NOW,
                 id="naive-accepted"),
    pytest.param(make(), [], NOW.replace(tzinfo=None), id="naive-now"),
])
def test_naive_datetimes_are_a_programmer_error(workout, accepted, now):
    with pytest.raises(ValueError, match="timezone-aware"):
        check(workout, accepted, now=now)
