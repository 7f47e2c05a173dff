"""The coaches' review of flagged workouts (`workout_reviews`, migration 0015): the tenant's queue, the
decision (cleared: not fraud; confirmed: fraud), what stands out in a workout in words, and the decided
workouts as labels for the retraining.

A decision is made once: the same decision again is answered with the stored one (a retried request), a
different one is a conflict naming who decided what and when. The workout stays accepted either way;
a confirmed fraud leaves the member's history (features.py compares new workouts with honest ones only).
"""

import math
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np

from backend.app.core.db import from_jsonb
from backend.app.core.pages import decode_cursor, page
from backend.app.fitness.fraud.dataset import Labelled
from backend.app.fitness.fraud.features import FEATURES, NEAR_LIMIT
from backend.app.fitness.service import WORKOUT_COLUMNS, workout_dict

REVIEW_COLUMNS = ("r.workout_id, r.score, r.threshold, r.model_version, r.scored_at, r.features, r.replay_of, "
                  "r.status AS decision, r.reviewer, r.note, r.reviewed_at")


class NotFlagged(Exception):
    """The workout is not waiting for, nor had, a review."""


class AlreadyDecided(Exception):
    pass


@dataclass(frozen=True)
class Decided:
    item: dict
    changed: bool  # False: the same decision was already stored


def _item(row: asyncpg.Record) -> dict:
    workout = workout_dict(row)
    features = from_jsonb(row["features"])
    review = {"status": row["decision"], "score": row["score"], "threshold": row["threshold"],
              "model_version": row["model_version"], "scored_at": row["scored_at"],
              "replay_of": str(row["replay_of"]) if row["replay_of"] else None, "signals": signals(features),
              "reviewer": row["reviewer"], "note": row["note"], "reviewed_at": row["reviewed_at"]}
    return {"workout": workout, "review": review}


_SELECT = (f"SELECT w.*, {REVIEW_COLUMNS} FROM workout_reviews r "
           f"JOIN LATERAL (SELECT {WORKOUT_COLUMNS} FROM workouts WHERE workouts.id = r.workout_id) w ON true ")


async def flagged(pool: asyncpg.Pool, *, tenant_id: str, statuses: list[str], user_id: str | None,
                  include_private: bool, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """The tenant's flagged workouts in `statuses`, most recently scored first (members who keep their activity
    private only when `include_private`)."""
    before, before_id = decode_cursor(cursor)
    rows = await pool.fetch(
        _SELECT + "WHERE r.tenant_id = $1::uuid AND r.status = ANY($2::text[]) "
        "AND ($3::uuid IS NULL OR r.user_id = $3::uuid) "
        "AND ($4 OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id "
        "                      AND u.preferences->>'privacy' = 'private')) "
        "AND (r.scored_at, r.workout_id) < ($5, $6::uuid) ORDER BY r.scored_at DESC, r.workout_id DESC LIMIT $7",
        tenant_id, statuses, user_id, include_private, before, before_id, limit + 1)
    return page(rows, limit, "scored_at", "workout_id", _item)


async def decide(pool: asyncpg.Pool, *, workout_id: str, reviewer: str, decision: str, note: str | None,
                 now: datetime) -> Decided:
    """Records the coach's decision on a flagged workout (NotFlagged, AlreadyDecided)."""
    async with pool.acquire() as connection, connection.transaction():
        current = await connection.fetchrow(
            "SELECT status, score, threshold, reviewer, reviewed_at FROM workout_reviews WHERE workout_id = $1::uuid "
            "FOR UPDATE", workout_id)
        if current is None:
            raise NotFlagged("the anti-cheat model did not score this workout: there is nothing to review")
        if current["status"] is None:
            raise NotFlagged(f"the anti-cheat model did not flag this workout (score {current['score']:.3f}, "
                             f"below the threshold {current['threshold']:.3f}): there is nothing to review")
        changed = current["status"] == "pending"
        if changed:
            await connection.execute(
                "UPDATE workout_reviews SET status = $2, reviewer = $3, note = $4, reviewed_at = $5 "
                "WHERE workout_id = $1::uuid", workout_id, decision, reviewer, note, now)
        elif current["status"] != decision:
            raise AlreadyDecided(f"already {current['status']} by {current['reviewer']} at "
                                 f"{current['reviewed_at'].isoformat()}")
        row = await connection.fetchrow(_SELECT + "WHERE r.workout_id = $1::uuid", workout_id)
    return Decided(_item(row), changed)


async def labels(executor) -> Labelled:
    """Every decided review as a training example: its stored features (names the code no longer computes
    are dropped, new ones are missing) and whether the coach confirmed fraud."""
    rows = await executor.fetch(
        "SELECT features, status FROM workout_reviews WHERE status IN ('cleared', 'confirmed') "
        "ORDER BY reviewed_at, workout_id")
    vectors = []
    for row in rows:
        features = from_jsonb(row["features"])
        vectors.append([math.nan if features.get(name) is None else float(features[name]) for name in FEATURES])
    return Labelled(X=np.array(vectors, dtype=np.float64).reshape(len(vectors), len(FEATURES)),
                    fraud=np.array([row["status"] == "confirmed" for row in rows], dtype=bool))


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def signals(features: dict) -> list[str]:
    """What stands out in a scored workout, in words, from its stored features: hints for the reviewer
    (fixed cut-offs), not the model's own reasoning."""
    f = {name: value for name, value in features.items() if value is not None}
    out = []
    if ("replay_equal_fields" in f and "replay_largest_difference" in f
            and (f["replay_equal_fields"] >= 5 or f["replay_largest_difference"] <= 0.02)):
        out.append(f"nearly identical to an earlier workout of the member ({f['replay_equal_fields']:.0f} "
                   f"measurements equal, none more than {_percent(f['replay_largest_difference'])} apart)")
    if f.get("speed_to_limit", 0) >= NEAR_LIMIT and "speed_kmh" in f:
        out.append(f"average speed {f['speed_kmh']:.1f} km/h is {_percent(f['speed_to_limit'])} of the rules' "
                   f"limit for the activity")
    if f.get("history_near_limit_share", 0) >= 0.5:
        out.append(f"{_percent(f['history_near_limit_share'])} of the member's recent workouts of this activity "
                   f"were within 10% of the speed limit")
    if "cadence_spm" in f and "speed_kmh" not in f:
        out.append(f"{f['cadence_spm']:.0f} steps/min with no distance")
    elif f.get("steps_per_km", 0) >= 1_800:
        out.append(f"{f['steps_per_km']:,.0f} steps per km (a stride of {1000 / f['steps_per_km']:.2f} m)")
    if "avg_heart_rate" in f and f.get("cadence_spm", 0) >= 120 and f["avg_heart_rate"] < 100:
        out.append(f"average heart rate {f['avg_heart_rate']:.0f} bpm at {f['cadence_spm']:.0f} steps/min")
    for name, what in (("speed_z", "speed"), ("cadence_z", "cadence"), ("heart_rate_z", "heart rate"),
                       ("steps_per_km_z", "steps per km"), ("duration_z", "duration")):
        if abs(f.get(name, 0)) >= 3:
            out.append(f"{what} {abs(f[name]):.1f} spreads {'above' if f[name] > 0 else 'below'} the member's usual")
    if f.get("hour_deviation", 0) >= 5:
        out.append(f"started {f['hour_deviation']:.0f} h from the member's usual time of day")
    if "local_hour_sin" in f and "local_hour_cos" in f:
        hour = math.atan2(f["local_hour_sin"], f["local_hour_cos"]) / (2 * math.pi) * 24 % 24
        if hour < 5:
            out.append(f"started at {int(hour):02d}:{int(hour % 1 * 60):02d} local time")
    return out
