"""The anti-cheat model offline (backend/app/fitness/fraud): features against a member's own history and
replays, the simulator's determinism, the model against the rules on held-out members of a small
simulation, the flat ensemble the API scores with against scikit-learn's own predictions. No stack needed."""

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backend.app.fitness.anticheat import ActivityType, Workout
from backend.app.fitness.fraud import reviews
from backend.app.fitness.fraud.dataset import Labelled, build
from backend.app.fitness.fraud.ensemble import Ensemble
from backend.app.fitness.fraud.evaluate import threshold_for_precision
from backend.app.fitness.fraud.features import FEATURES, HISTORY_SIZE, Past, extract
from backend.app.fitness.fraud.model import fit, scores, split, train
from backend.app.fitness.fraud.simulator import HONEST, PATTERNS, simulate
from fitmint.memberhistory import MemberHistory, Session

MONDAY = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def run(start: datetime, *, minutes=40.0, km=7.0, steps=None, heart=150, **fields) -> Workout:
    return Workout(ActivityType.RUN, start, start + timedelta(minutes=minutes), distance_m=km * 1000,
                   steps=steps if steps is not None else int(km * 1000 / 1.1), calories=70.0 * km,
                   avg_heart_rate=heart, max_heart_rate=heart + 20, **fields)


def history_of(workouts: list[Workout]) -> list[Past]:
    """Newest first, as the API passes it."""
    return [Past.of(f"w{n}", workout) for n, workout in reversed(list(enumerate(workouts)))]


def feature(features, name: str) -> float:
    return features.values[FEATURES.index(name)]


# A member who runs 7 km in 40-44 minutes every morning.
ROUTINE = [run(MONDAY + timedelta(days=day), minutes=40 + day % 5, km=7.0 + 0.1 * (day % 3), heart=148 + day % 4)
           for day in range(10)]
NEXT_DAY = MONDAY + timedelta(days=10)


def test_a_workout_far_from_the_members_own_history_deviates():
    usual = extract(run(NEXT_DAY, minutes=42, km=7.1), history_of(ROUTINE))
    faster = extract(run(NEXT_DAY, minutes=26, km=7.1, heart=150), history_of(ROUTINE))
    assert abs(feature(usual, "speed_z")) < 1.5
    assert feature(faster, "speed_z") > 5
    assert feature(faster, "history_count") == 10 and feature(faster, "history_same_activity_share") == 1.0
    assert feature(faster, "days_since_last") == pytest.approx(1.0, abs=0.01)
    assert feature(faster, "workouts_last_7_days") == 7
    # Too little history of the activity: no z-score rather than a made-up one.
    newcomer = extract(run(NEXT_DAY, minutes=26, km=7.1), history_of(ROUTINE[:2]))
    assert math.isnan(feature(newcomer, "speed_z")) and math.isnan(feature(newcomer, "hour_deviation"))


def test_the_member_history_features_are_the_feature_stores_definitions():
    """history_count, the same activity's share, days since the last and workouts in the last 7 days are
    fitmint/memberhistory.py's, which the feature store's member features use: the same numbers for the same
    sessions (a week ago at the same time of day counts within the week, in both)."""
    mixed = [*ROUTINE[:7], replace(ROUTINE[7], activity=ActivityType.CYCLE), *ROUTINE[8:]]
    features = extract(run(NEXT_DAY), history_of(mixed))
    member = MemberHistory.from_sessions("m", [Session(w.started_at.timestamp(), w.activity.value, w.distance_m or 0,
                                                       (w.ended_at - w.started_at).total_seconds()) for w in mixed])
    now = NEXT_DAY.timestamp()
    assert feature(features, "history_count") == len(member.sessions) == 10
    assert feature(features, "history_same_activity_share") == member.activity_mix()["run"] == 0.9
    assert feature(features, "days_since_last") == member.days_since_last(now) == 1.0
    assert feature(features, "workouts_last_7_days") == len(member.workouts_within(now, 7)) == 7  # days 3..9


def test_an_evening_workout_of_a_morning_runner_is_hours_from_their_usual_time():
    evening = extract(run(NEXT_DAY + timedelta(hours=12)), history_of(ROUTINE))
    assert feature(evening, "hour_deviation") == pytest.approx(12.0, abs=0.5)
    # The local hour follows the member's time zone: 07:00 UTC is 16:00 in Tokyo.
    tokyo = extract(run(NEXT_DAY), history_of(ROUTINE), "Asia/Tokyo")
    hour = math.atan2(feature(tokyo, "local_hour_sin"), feature(tokyo, "local_hour_cos")) / (2 * math.pi) * 24 % 24
    assert hour == pytest.approx(16.0, abs=0.01)


def test_a_replayed_track_is_nearest_to_the_workout_it_copies():
    original = ROUTINE[4]
    shifted = NEXT_DAY - MONDAY
    exact = replace(original, started_at=original.started_at + shifted, ended_at=original.ended_at + shifted)
    nudged = replace(exact, distance_m=original.distance_m * 1.01, steps=original.steps + 30)
    fresh = run(NEXT_DAY, minutes=47, km=7.6, heart=155)
    history = history_of(ROUTINE)
    copy, near, new = (extract(w, history) for w in (exact, nudged, fresh))
    assert feature(copy, "replay_difference") == 0 and copy.replay_of == "w4"
    assert feature(copy, "replay_equal_fields") == 6  # duration, distance, steps, calories, both heart rates
    assert 0 < feature(near, "replay_difference") < 0.005 and near.replay_of == "w4"
    assert feature(near, "replay_largest_difference") < 0.01
    assert feature(new, "replay_difference") > 0.02 and feature(new, "replay_equal_fields") <= 1
    # A copy of a workout older than the history the API fetches is out of sight.
    old = history_of(ROUTINE[:1] + [run(MONDAY + timedelta(days=1, hours=n / 3), minutes=30 + n, km=5 + n / 10)
                                    for n in range(HISTORY_SIZE)])
    beyond = replace(ROUTINE[0], started_at=ROUTINE[0].started_at + shifted, ended_at=ROUTINE[0].ended_at + shifted)
    assert extract(beyond, old).replay_of != "w0"


def test_a_shaken_phone_has_steps_without_distance_and_a_resting_heart():
    farm = Workout(ActivityType.WALK, NEXT_DAY, NEXT_DAY + timedelta(minutes=120), steps=21_600, avg_heart_rate=68,
                   max_heart_rate=80)
    features = extract(farm, history_of(ROUTINE))
    assert feature(features, "cadence_spm") == 180 and math.isnan(feature(features, "speed_kmh"))
    assert feature(features, "heart_rate_per_cadence") == pytest.approx(68 / 180)
    assert feature(features, "history_same_activity_share") == 0.0  # a runner who never walked before
    hints = reviews.signals(features.as_dict())
    assert "180 steps/min with no distance" in hints
    assert "average heart rate 68 bpm at 180 steps/min" in hints


def test_the_simulator_is_deterministic_by_seed():
    first, again, other = simulate(5, members=30, days=30), simulate(5, members=30, days=30), simulate(6, 30, 30)
    assert first == again
    assert first != other
    assert {s.pattern for s in simulate(5, members=60, days=60)} == {HONEST, *PATTERNS}
    with pytest.raises(ValueError):
        simulate(5, members=0)


@pytest.fixture(scope="module")
def small():
    """A small simulation and a model trained on it, once for the module (a few seconds)."""
    data = build(simulate(11, members=240, days=90))
    model, parts = train(data, seed=11, now=MONDAY, description={"simulator": {"seed": 11}})
    return data, model, parts


def test_members_are_on_one_side_of_the_split_only(small):
    data, _, parts = small
    sides = [set(part.member.tolist()) for part in (parts.train, parts.validation, parts.test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert sum(len(part) for part in (parts.train, parts.validation, parts.test)) == len(data)
    assert all(part.fraud.any() for part in (parts.train, parts.validation, parts.test))


def test_the_model_catches_fraud_the_rules_let_through(small):
    _, model, _ = small
    metrics = model.metrics
    rules, combined, accepted = metrics["rules"], metrics["combined"], metrics["on_rule_accepted"]
    # Every fraud the rules accept is plausible to them (their recall on it is 0): the model finds it.
    assert accepted["fraud"] > 0 and accepted["roc_auc"] > 0.9
    assert accepted["recall_at_95_precision"] > 0.5
    assert metrics["model"]["recall_at_95_precision"] > rules["recall_at_95_precision"]
    assert combined["recall"] > rules["recall"] + 0.4 and metrics["added_recall"] > 0.4
    for pattern in PATTERNS:
        found = metrics["patterns"][pattern]
        assert found["combined"] > found["rules"], pattern
    # The flags a coach sees are mostly fraud: the threshold was chosen for 95% precision on other members.
    assert metrics["validation"]["target_reached"] and accepted["precision"] > 0.8
    assert accepted["honest_flagged_per_1000"] < 10


def test_the_flat_ensemble_scores_as_scikit_learn_does(small):
    data, model, parts = small
    estimator = fit(parts.train, Labelled.empty(), seed=3, params={"max_iter": 30, "max_depth": 6})
    expected = estimator.predict_proba(parts.test.X)[:, 1]
    ensemble = Ensemble.from_estimator(estimator)
    assert np.allclose(ensemble.probabilities(parts.test.X), expected, rtol=0, atol=1e-12)
    assert np.allclose([ensemble.probability(x) for x in parts.test.X[:300]], expected[:300], rtol=0, atol=1e-12)
    stored = Ensemble.from_bytes(model.ensemble.to_bytes())
    assert np.array_equal(scores(stored, data.X[:500]), scores(model.ensemble, data.X[:500]))


def test_coach_labels_weigh_in_training(small):
    _, _, parts = small
    honest = parts.train.where(~parts.train.fraud & ~parts.train.refused)
    # Coaches confirmed as fraud a kind of workout the simulator calls honest: the model learns it.
    confirmed = Labelled(honest.X[:150], np.ones(150, dtype=bool))
    quick = {"max_iter": 60, "max_depth": 6}
    before = scores(Ensemble.from_estimator(fit(parts.train, Labelled.empty(), seed=3, params=quick)), confirmed.X)
    after = scores(Ensemble.from_estimator(fit(parts.train, confirmed, seed=3, params=quick)), confirmed.X)
    assert after.mean() > before.mean() + 0.3


def test_the_threshold_is_the_lowest_with_the_precision_asked_for():
    fraud = np.array([False] * 90 + [True] * 10)
    scores_ = np.concatenate([np.linspace(0, 0.5, 90), np.linspace(0.45, 0.95, 10)])
    threshold, reached = threshold_for_precision(fraud, scores_, 0.95)
    flagged = scores_ >= threshold
    assert reached and (fraud & flagged).sum() / flagged.sum() >= 0.95
    assert threshold == pytest.approx(scores_[scores_ > 0.5].min())
    unreachable, reached = threshold_for_precision(np.array([False, True, False]), np.array([0.9, 0.5, 0.1]), 0.95)
    assert not reached and unreachable == 0.5


def test_splitting_twice_with_one_seed_gives_the_same_members(small):
    data, _, parts = small
    again = split(data, 11)
    assert np.array_equal(again.test.member, parts.test.member)
