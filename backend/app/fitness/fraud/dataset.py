"""Simulated submissions -> a labelled dataset, going through what the API does with each workout: the rules
(`anticheat.check` with the member's accepted workouts of the same day or overlapping it) and the features
(`features.extract` with the member's last accepted workouts). A workout the rules refuse is not part of any
later history, exactly as in `service.submit_workout`. `Labelled` holds the coaches' decided workouts, the
other source of training examples."""

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

import numpy as np

from backend.app.fitness import anticheat
from backend.app.fitness.fraud.features import FEATURES, HISTORY_SIZE, Past, extract
from backend.app.fitness.fraud.simulator import Simulated


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray  # (workouts, len(FEATURES)), NaN where missing
    fraud: np.ndarray  # bool: the truth
    pattern: np.ndarray  # "honest" or the fraud pattern
    variant: np.ndarray  # how the pattern was done ("honest" for honest workouts)
    member: np.ndarray  # int: who submitted it
    refused: np.ndarray  # bool: the rules refused it (the model never sees those in the API)

    def __len__(self) -> int:
        return len(self.fraud)

    def where(self, mask: np.ndarray) -> "Dataset":
        return Dataset(self.X[mask], self.fraud[mask], self.pattern[mask], self.variant[mask], self.member[mask],
                       self.refused[mask])


@dataclass(frozen=True)
class Labelled:
    """Coaches' decisions: the features stored when each flagged workout was scored, fraud or not."""
    X: np.ndarray
    fraud: np.ndarray

    @classmethod
    def empty(cls) -> "Labelled":
        return cls(np.empty((0, len(FEATURES))), np.empty(0, dtype=bool))


def _context(accepted: list[Simulated], starts: list, workout: anticheat.Workout) -> list[anticheat.Accepted]:
    """The accepted workouts the rules look at: overlapping this one or starting on its UTC day."""
    day = workout.started_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    low = min(day, workout.started_at - anticheat.DEFAULT_LIMITS.max_duration)
    high = max(day + timedelta(days=1), workout.ended_at)
    out = []
    for earlier in accepted[bisect_left(starts, low):bisect_left(starts, high)]:
        other = earlier.workout
        same_day = day <= other.started_at < day + timedelta(days=1)
        overlaps = other.started_at < workout.ended_at and workout.started_at < other.ended_at
        if same_day or overlaps:
            out.append(anticheat.Accepted(earlier.key, other.activity, other.started_at, other.ended_at, other.steps))
    return out


@dataclass(frozen=True)
class Submission:
    """One simulated workout as the API meets it: the rules' refusals and the member's history then."""
    item: Simulated
    rejections: tuple[str, ...]  # the rules' codes (empty: accepted)
    history: list[Past]  # newest first, at most HISTORY_SIZE


def submissions(simulated: Sequence[Simulated]) -> Iterator[Submission]:
    """Each member's submissions in order, through the rules; an accepted one joins the member's history."""
    now = max(s.workout.ended_at for s in simulated) + timedelta(days=1)
    accepted: dict[int, list[Simulated]] = defaultdict(list)  # per member, by start
    pasts: dict[int, list[Past]] = defaultdict(list)  # the same, as the features take them
    starts: dict[int, list] = defaultdict(list)
    for item in simulated:
        mine, my_pasts, my_starts = accepted[item.member], pasts[item.member], starts[item.member]
        workout = item.workout
        rejections = anticheat.check(workout, _context(mine, my_starts, workout), now=now)
        at = bisect_left(my_starts, workout.started_at)
        yield Submission(item, tuple(r.code for r in rejections), my_pasts[max(0, at - HISTORY_SIZE):at][::-1])
        if not rejections:
            my_starts.insert(at, workout.started_at)
            mine.insert(at, item)
            my_pasts.insert(at, Past.of(item.key, workout))


def build(simulated: Sequence[Simulated], replayed: Sequence[Submission] | None = None) -> Dataset:
    """The features of every submission against the history it met, and the rules' verdicts (`replayed`:
    `submissions(simulated)` already listed)."""
    rows, refused = [], []
    for submission in submissions(simulated) if replayed is None else replayed:
        rows.append(extract(submission.item.workout, submission.history, submission.item.timezone).values)
        refused.append(bool(submission.rejections))
    return Dataset(X=np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES)),
                   fraud=np.array([s.fraud for s in simulated]), pattern=np.array([s.pattern for s in simulated]),
                   variant=np.array([s.variant for s in simulated]),
                   member=np.array([s.member for s in simulated]), refused=np.array(refused))
