"""A trained model as the API uses it: the tree ensemble as flat numpy arrays, and its versioned facts.

Scoring one workout through scikit-learn takes milliseconds (input checks, then a Python call per tree), so
`Ensemble` evaluates the fitted trees itself: all trees at once, one numpy step per tree level (tens of
microseconds). It gives the probabilities `HistGradientBoostingClassifier.predict_proba` gives (tests
check it). Its artifact is an `.npz` of those arrays: loading it runs no code (no pickle) and needs no
scikit-learn, which the API processes therefore never import.
"""

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from backend.app.fitness.fraud.features import FEATURES

_ARRAYS = ("feature", "threshold", "missing_left", "left", "right", "value", "roots", "levels", "baseline")
_CHUNK = 4096  # rows scored at once by `probabilities` (bounds the memory of rows x trees arrays)


class Ensemble:
    """Binary gradient-boosted trees: probability = sigmoid(baseline + sum of one leaf value per tree)."""

    def __init__(self, *, feature, threshold, missing_left, left, right, value, roots, levels, baseline):
        self.feature = np.asarray(feature, dtype=np.intp)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.missing_left = np.asarray(missing_left, dtype=bool)
        self.left = np.asarray(left, dtype=np.intp)  # a leaf points at itself
        self.right = np.asarray(right, dtype=np.intp)
        self.value = np.asarray(value, dtype=np.float64)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.levels = int(levels)
        self.baseline = float(baseline)

    @classmethod
    def from_estimator(cls, estimator) -> "Ensemble":
        """From a fitted binary HistGradientBoostingClassifier (its trees' node arrays)."""
        trees = [predictors[0] for predictors in estimator._predictors]  # binary: one tree per iteration
        if any(tree.nodes["is_categorical"].any() for tree in trees):
            raise ValueError("Ensemble does not implement categorical splits")
        nodes = np.concatenate([tree.nodes for tree in trees])
        sizes = [len(tree.nodes) for tree in trees]
        roots = np.cumsum([0, *sizes[:-1]])
        shift = np.repeat(roots, sizes)
        here = np.arange(len(nodes))
        leaf = nodes["is_leaf"].astype(bool)
        return cls(feature=nodes["feature_idx"], threshold=nodes["num_threshold"],
                   missing_left=nodes["missing_go_to_left"],
                   left=np.where(leaf, here, nodes["left"].astype(np.intp) + shift),
                   right=np.where(leaf, here, nodes["right"].astype(np.intp) + shift),
                   value=nodes["value"], roots=roots, levels=int(nodes["depth"].max()),
                   baseline=float(np.asarray(estimator._baseline_prediction).ravel()[0]))

    @property
    def trees(self) -> int:
        return len(self.roots)

    def probability(self, values: Sequence[float]) -> float:
        """One workout's fraud probability from its feature values (NaN: missing)."""
        x = np.asarray(values, dtype=np.float64)
        node = self.roots
        for _ in range(self.levels):
            seen = x[self.feature[node]]
            go_left = np.where(np.isnan(seen), self.missing_left[node], seen <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return 1.0 / (1.0 + math.exp(-(self.baseline + float(self.value[node].sum()))))

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Many workouts' probabilities (rows of X)."""
        out = np.empty(len(X))
        for start in range(0, len(X), _CHUNK):
            rows = np.asarray(X[start:start + _CHUNK], dtype=np.float64)
            index = np.arange(len(rows))[:, None]
            node = np.broadcast_to(self.roots, (len(rows), self.trees))
            for _ in range(self.levels):
                seen = rows[index, self.feature[node]]
                go_left = np.where(np.isnan(seen), self.missing_left[node], seen <= self.threshold[node])
                node = np.where(go_left, self.left[node], self.right[node])
            raw = self.baseline + self.value[node].sum(axis=1)
            out[start:start + len(rows)] = 1.0 / (1.0 + np.exp(-raw))
        return out

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{name: getattr(self, name) for name in _ARRAYS})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, artifact: bytes) -> "Ensemble":
        with np.load(io.BytesIO(artifact), allow_pickle=False) as arrays:
            missing = [name for name in _ARRAYS if name not in arrays]
            if missing:
                raise ValueError(f"the artifact lacks {', '.join(missing)}")
            return cls(**{name: arrays[name] for name in _ARRAYS})


@dataclass(frozen=True)
class FraudModel:
    """What is versioned: the ensemble, its flag threshold, its held-out metrics, how it was trained."""
    ensemble: Ensemble
    threshold: float  # a workout scoring at or above it is flagged for review
    metrics: dict
    training: dict
    trained_at: datetime
    features: tuple[str, ...] = FEATURES
