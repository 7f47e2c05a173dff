"""Held-out metrics of the rules, the model and both together, overall and per fraud pattern.

The rules are one yes/no answer per workout (refused or not); the model is a score, flagged at or above
its threshold; "combined" is what the API does: a workout the rules refuse is caught, any other is flagged
when the model's score reaches the threshold (as a ranking: refused first, then by score). "Recall at 95%
precision" is the largest share of fraud a detector catches while at least 95% of what it catches is fraud
(0 when it never gets there); the rules have a single operating point, so theirs is their recall when
their precision reaches 95%, else 0.
"""

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score

from backend.app.fitness.fraud.dataset import Dataset
from backend.app.fitness.fraud.simulator import PATTERNS, VARIANTS

TARGET_PRECISION = 0.95


def _both_classes(fraud: np.ndarray) -> bool:
    return 0 < int(fraud.sum()) < len(fraud)


def roc_auc(fraud: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(fraud, scores)) if _both_classes(fraud) else None


def recall_at_precision(fraud: np.ndarray, scores: np.ndarray, target: float = TARGET_PRECISION) -> float:
    if not _both_classes(fraud):
        return 0.0
    precision, recall, _ = precision_recall_curve(fraud, scores)
    reached = precision >= target
    return float(recall[reached].max()) if reached.any() else 0.0


def threshold_for_precision(fraud: np.ndarray, scores: np.ndarray,
                            target: float = TARGET_PRECISION) -> tuple[float, bool]:
    """The lowest score threshold whose flags are at least `target` precise, with the most recall; when no
    threshold gets there, the one with the best precision (and False)."""
    if not _both_classes(fraud):
        raise ValueError("choosing a threshold needs both honest and fraudulent workouts")
    precision, recall, thresholds = precision_recall_curve(fraud, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    reached = precision >= target
    if reached.any():
        best = np.flatnonzero(reached & (recall == recall[reached].max()))
        return float(thresholds[best].min()), True
    return float(thresholds[int(np.argmax(precision))]), False


def point(fraud: np.ndarray, caught: np.ndarray) -> dict:
    """Precision and recall of a yes/no detector."""
    hits = int((caught & fraud).sum())
    return {"precision": hits / int(caught.sum()) if caught.any() else None,
            "recall": hits / int(fraud.sum()) if fraud.any() else None, "caught": int(caught.sum())}


def _detector(fraud: np.ndarray, scores: np.ndarray, caught: np.ndarray) -> dict:
    return {"roc_auc": roc_auc(fraud, scores), "recall_at_95_precision": recall_at_precision(fraud, scores)} | point(
        fraud, caught)


def _recall(fraud: np.ndarray, caught: np.ndarray) -> float | None:
    return float((caught & fraud).sum() / fraud.sum()) if fraud.any() else None


def evaluate(test: Dataset, scores: np.ndarray, threshold: float) -> dict:
    """Every metric of the report, for `scores` (the model's, one per workout of `test`) at `threshold`."""
    fraud, refused = test.fraud, test.refused
    flagged = scores >= threshold
    combined_scores = np.where(refused, 2.0, scores)  # a refusal ranks above any probability
    combined = refused | flagged
    accepted = ~refused

    def recalls(mine: np.ndarray) -> dict:
        return {"workouts": int(mine.sum()), "refused_by_rules": int((mine & refused).sum()),
                "rules": _recall(mine, refused), "model": _recall(mine, flagged), "combined": _recall(mine, combined),
                "model_on_rule_accepted": _recall(mine & accepted, flagged)}

    patterns = {}
    for pattern in PATTERNS:
        mine = test.pattern == pattern
        if mine.any():
            variants = {variant: recalls(mine & (test.variant == variant)) for variant in VARIANTS[pattern]
                        if (mine & (test.variant == variant)).any()}
            patterns[pattern] = recalls(mine) | {"variants": variants}
    honest_accepted = accepted & ~fraud
    return {
        "workouts": len(test), "fraud": int(fraud.sum()), "refused_by_rules": int(refused.sum()),
        "threshold": threshold,
        "rules": _detector(fraud, refused.astype(float), refused),
        "model": _detector(fraud, scores, flagged),
        "combined": _detector(fraud, combined_scores, combined),
        "on_rule_accepted": {"workouts": int(accepted.sum()), "fraud": int(fraud[accepted].sum())}
        | _detector(fraud[accepted], scores[accepted], flagged[accepted])
        | {"flags_per_1000": 1000 * float(flagged[accepted].mean()) if accepted.any() else None,
           "honest_flagged_per_1000": (1000 * float(flagged[honest_accepted].mean())
                                       if honest_accepted.any() else None)},
        "added_recall": _recall(fraud, flagged & accepted),
        "patterns": patterns,
    }
