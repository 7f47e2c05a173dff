"""Retraining: a new version from the simulator and the coaches' decisions, evaluated on held-out members and
activated only when it is not worse than the active version on the same test members.

`retrain` stores every version it trains, with its metrics and the reason it was or was not activated. The
CPU work (simulating, building the dataset, fitting, evaluating: tens of seconds at the default size, on one
thread) runs in a child process: the calling process's event loop carries on meanwhile, its memory does not
grow, and a cancelled retraining (the scheduler losing its leadership, the worker stopping) ends the child at
once instead of finishing unseen.

Not worse: on the candidate's test members' rule-accepted workouts, a ROC AUC at most AUC_TOLERANCE below the
active version's and a recall at 95% precision at most RECALL_TOLERANCE below it. An active version that was
trained on other features than the code computes cannot be compared, nor used: the candidate replaces it.

`weekly_retrain` is the worker's scheduled job (Mondays 06:00 UTC, notifications/scheduler.py): once per ISO
week (job_runs), and at once whenever no usable version is active, so a new stack's worker trains one when it
first leads the scheduler. Its seed is the week's (year x 100 + ISO week): a week's retraining is
reproducible, and each week's simulated members are new ones.
"""

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg
import orjson

from backend.app.core.config import Settings
from backend.app.fitness.fraud import reviews, versions
from backend.app.fitness.fraud.dataset import Dataset, Labelled, build
from backend.app.fitness.fraud.ensemble import FraudModel
from backend.app.fitness.fraud.evaluate import evaluate
from backend.app.fitness.fraud.model import Split, scores, train
from backend.app.fitness.fraud.simulator import simulate
from backend.app.fitness.fraud.versions import StoredModel

log = logging.getLogger("fitness.fraud")

AUC_TOLERANCE = 0.005
RECALL_TOLERANCE = 0.02
FRAUD_SHARE = 0.1  # of the simulated members
JOB = "fraud_model"


@dataclass(frozen=True)
class Outcome:
    version: int
    activated: bool
    decision: str
    metrics: dict
    seconds: float


def candidate(*, seed: int, members: int, days: int, labelled: Labelled, now: datetime,
              params: dict | None = None) -> tuple[FraudModel, Split]:
    """A model trained on a fresh simulation (and the coaches' labels)."""
    data = build(simulate(seed, members, days, fraud_share=FRAUD_SHARE))
    description = {"simulator": {"seed": seed, "members": members, "days": days, "fraud_share": FRAUD_SHARE,
                                 "workouts": len(data), "fraud": int(data.fraud.sum()),
                                 "refused_by_rules": int(data.refused.sum())}}
    return train(data, seed=seed, now=now, description=description, labelled=labelled, params=params)


def compare(model: FraudModel, test: Dataset, active: StoredModel | None) -> tuple[bool, str, dict | None]:
    """(activate?, why, the active version's metrics on the same test members)."""
    if active is None:
        return True, "activated: no usable version was active", None
    theirs = evaluate(test, scores(active.model.ensemble, test.X), active.model.threshold)
    mine = model.metrics["on_rule_accepted"]
    auc, recall = mine["roc_auc"] or 0.0, mine["recall_at_95_precision"]
    their_auc, their_recall = theirs["on_rule_accepted"]["roc_auc"] or 0.0, theirs["on_rule_accepted"][
        "recall_at_95_precision"]
    better = auc >= their_auc - AUC_TOLERANCE and recall >= their_recall - RECALL_TOLERANCE
    numbers = (f"on the same test members ROC AUC {auc:.4f} against {their_auc:.4f}, recall at 95% precision "
               f"{recall:.3f} against {their_recall:.3f} (version {active.version})")
    return better, f"{'activated' if better else f'not activated, version {active.version} stays'}: {numbers}", theirs


def _train_and_compare(arguments: dict, active: StoredModel | None) -> tuple[FraudModel, bool, str]:
    model, parts = candidate(**arguments)
    activate, decision, theirs = compare(model, parts.test, active)
    if theirs is not None:
        model = replace(model, metrics=model.metrics | {"active_on_same_test": {"version": active.version} | theirs})
    return model, activate, decision


def _child(connection, function: Callable, args: tuple) -> None:
    try:
        connection.send((True, function(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        connection.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        connection.close()


class ChildFailed(Exception):
    pass


async def in_child(function: Callable, *args):
    """`function(*args)` in a fresh Python process ("spawn": nothing of this one's state is inherited);
    cancelling the await ends the process."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, args), daemon=True, name="fraud-training")
    process.start()
    sender.close()
    loop = asyncio.get_running_loop()
    answered = asyncio.Event()
    loop.add_reader(receiver.fileno(), answered.set)
    try:
        await answered.wait()
        try:
            ok, result = receiver.recv()
        except EOFError:
            raise ChildFailed(f"the training process died (exit code {process.exitcode})") from None
        if not ok:
            raise ChildFailed(result)
        return result
    finally:
        loop.remove_reader(receiver.fileno())
        receiver.close()
        if process.is_alive():
            process.terminate()
        await asyncio.to_thread(process.join, 10)


async def retrain(pool: asyncpg.Pool, *, seed: int, members: int, days: int, now: datetime,
                  params: dict | None = None, job_period: str | None = None) -> Outcome:
    """Trains, evaluates and stores a new version; activates it unless it is worse than the active one."""
    began = time.perf_counter()
    labelled = await reviews.labels(pool)
    was_active = await versions.active_version(pool)
    active = await versions.usable_active(pool)

    model, activate, decision = await in_child(_train_and_compare, dict(
        seed=seed, members=members, days=days, labelled=labelled, now=now, params=params), active)
    async with pool.acquire() as connection, connection.transaction():
        now_active = await versions.active_version(connection)
        if activate and now_active != was_active:
            activate, decision = False, f"not activated: version {now_active} was activated while this one trained"
        version = await versions.save(connection, model, activate=activate, decision=decision)
        seconds = round(time.perf_counter() - began, 1)
        if job_period is not None:
            result = {"version": version, "activated": activate, "seconds": seconds}
            await connection.execute(
                "INSERT INTO job_runs (job, period, finished_at, result) VALUES ($1, $2, now(), $3::jsonb) "
                "ON CONFLICT (job, period) DO UPDATE SET finished_at = now(), result = excluded.result",
                JOB, job_period, orjson.dumps(result).decode())
    log.info("anti-cheat model version %d trained in %.1f s: %s", version, seconds, decision)
    return Outcome(version, activate, decision, model.metrics, seconds)


def week_of(moment: datetime) -> tuple[str, int]:
    """("2026-W49", 202649): the ISO week's period name and seed."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}", year * 100 + week


async def weekly_retrain(pool: asyncpg.Pool, settings: Settings, now: datetime) -> dict | None:
    """The scheduled retraining of `now`'s ISO week; None when that week's ran and a usable version is active."""
    period, seed = week_of(now)
    ran = await pool.fetchval("SELECT true FROM job_runs WHERE job = $1 AND period = $2", JOB, period)
    if ran and await versions.usable_active(pool) is not None:
        return None
    outcome = await retrain(pool, seed=seed, members=settings.fraud_train_members, days=settings.fraud_train_days,
                            now=settings.now(), job_period=period)
    return {"week": period, "version": outcome.version, "activated": outcome.activated, "decision": outcome.decision}
