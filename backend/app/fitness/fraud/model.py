"""Training the anti-cheat model: a gradient-boosted tree ensemble (scikit-learn's
HistGradientBoostingClassifier, which takes missing values as they are) over `features.FEATURES`, trained
on workouts the rules accept (the only ones the model scores in the API).

`train` splits a dataset by member (60% train, 20% validation, 20% test; fraudsters and honest members
each, so no member's history is on both sides), fits on the training members' rule-accepted workouts (and
the coaches' decisions, each weighing LABEL_WEIGHT simulated workouts), chooses the flag threshold on the
validation members for 95% precision, and evaluates on the test members (evaluate.py), scoring with the
`Ensemble` the API uses.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from backend.app.fitness.fraud.dataset import Dataset, Labelled
from backend.app.fitness.fraud.ensemble import Ensemble, FraudModel
from backend.app.fitness.fraud.evaluate import TARGET_PRECISION, evaluate, threshold_for_precision
from backend.app.fitness.fraud.features import BASELINE_SIZE, HISTORY_SIZE

# Depth 6 rather than deeper: as good on held-out members, and each level is a step of the API's scoring.
PARAMS = {"max_iter": 150, "learning_rate": 0.1, "max_leaf_nodes": 31, "max_depth": 6, "min_samples_leaf": 20,
          "l2_regularization": 1.0}
LABEL_WEIGHT = 3.0  # a coach's decision on a real workout counts as this many simulated ones
SHARES = (0.6, 0.2, 0.2)  # members in training, validation, test


@contextmanager
def single_threaded():
    """scikit-learn's OpenMP and BLAS on one thread: the machine's cores are shared with the services."""
    with threadpool_limits(limits=1):
        yield


@dataclass(frozen=True)
class Split:
    train: Dataset
    validation: Dataset
    test: Dataset


def split(data: Dataset, seed: int) -> Split:
    """By member, fraudsters and honest members shuffled and shared out separately."""
    rng = np.random.default_rng(seed)
    cheats = np.unique(data.member[data.fraud])
    honest = np.setdiff1d(np.unique(data.member), cheats)
    parts: list[list[int]] = [[], [], []]
    for group in (rng.permutation(cheats), rng.permutation(honest)):
        cuts = np.round(np.cumsum(SHARES)[:-1] * len(group)).astype(int)
        for part, members in zip(parts, np.split(group, cuts), strict=True):
            part.extend(members.tolist())
    train, validation, test = (data.where(np.isin(data.member, part)) for part in parts)
    return Split(train, validation, test)


def scores(ensemble: Ensemble, X: np.ndarray) -> np.ndarray:
    """Fraud probabilities of many workouts (evaluation), through the code the API scores with."""
    return ensemble.probabilities(X) if len(X) else np.empty(0)


def fit(train: Dataset, labelled: Labelled, seed: int, params: dict | None = None) -> HistGradientBoostingClassifier:
    accepted = ~train.refused
    X = np.vstack([train.X[accepted], labelled.X])
    y = np.concatenate([train.fraud[accepted], labelled.fraud])
    weights = np.concatenate([np.ones(int(accepted.sum())), np.full(len(labelled.fraud), LABEL_WEIGHT)])
    estimator = HistGradientBoostingClassifier(**(params or PARAMS), early_stopping=False, random_state=seed)
    with single_threaded():
        return estimator.fit(X, y, sample_weight=weights)


def train(data: Dataset, *, seed: int, now: datetime, description: dict, labelled: Labelled | None = None,
          params: dict | None = None) -> tuple[FraudModel, Split]:
    """A model from `data` (a simulated dataset) and the coaches' `labelled` workouts; `description` says
    where the data came from (stored with the version)."""
    labelled = labelled or Labelled.empty()
    parts = split(data, seed)
    began = time.perf_counter()
    ensemble = Ensemble.from_estimator(fit(parts.train, labelled, seed, params))
    seconds = time.perf_counter() - began
    validation = parts.validation.where(~parts.validation.refused)
    threshold, reached = threshold_for_precision(validation.fraud, scores(ensemble, validation.X))
    metrics = evaluate(parts.test, scores(ensemble, parts.test.X), threshold) | {
        "validation": {"workouts": len(validation), "fraud": int(validation.fraud.sum()),
                       "target_precision": TARGET_PRECISION, "target_reached": reached}}
    training = description | {
        "rows": {"train": int((~parts.train.refused).sum()), "validation": len(validation), "test": len(parts.test),
                 "coach_labels": {"confirmed": int(labelled.fraud.sum()),
                                  "cleared": int((~labelled.fraud).sum())}},
        "split": "by member: 60% train, 20% validation (threshold), 20% test (metrics)",
        "params": params or PARAMS, "history_size": HISTORY_SIZE, "baseline_size": BASELINE_SIZE,
        "library": f"scikit-learn {sklearn.__version__}",
        "fit_seconds": round(seconds, 3)}
    return FraudModel(ensemble, threshold, metrics, training, now), parts
